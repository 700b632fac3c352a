"""Register renaming within a superblock, after register allocation.

eBPF reuses a handful of registers, so unrelated values meet in the
dependence graph: a load into r1 must wait for the last read of r1's
previous value (WAR) or its write (WAW), and cannot rise above a side exit
where r1 is live. A value whose whole life lies inside the superblock
(defined here, read only here, dead at every side exit it passes and at
the end) moves to a register that nothing touched for longer, when one is
free over its whole life. Helper arguments and results stay where the
calling convention puts them.
"""

from __future__ import annotations

from ..target import Operand, Unit
from .ddg import is_control
from .mir import FP, MOp, defs, rename, uses

__all__ = ["rename_registers"]


def _touches(m: MOp, exit_live: frozenset[int]) -> frozenset[int]:
    return uses(m) | defs(m) | exit_live


class _Superblock:
    def __init__(self, ops: list[MOp], exit_live: list[frozenset[int]], live_at_end: frozenset[int]):
        self.ops = list(ops)
        self.exit_live = exit_live
        self.live_after: list[set[int]] = [set() for _ in ops]
        live = set(live_at_end)
        for k in range(len(ops) - 1, -1, -1):
            live |= exit_live[k]
            self.live_after[k] = set(live)
            live = (live - defs(ops[k])) | uses(ops[k])

    def life(self, i: int) -> int | None:
        """The last read of the value op ``i`` writes, if the value lives
        only inside the superblock and only plain operations read it."""
        r, last = self.ops[i].dst, i
        for k in range(i + 1, len(self.ops)):
            m = self.ops[k]
            if r in uses(m):
                if m.info.unit is Unit.HELPER or m.info.reads_dst and m.dst == r:
                    return None
                last = k
            if r in defs(m):
                return last
            if r in self.exit_live[k]:
                return None
        return None if r in self.live_after[-1] else last

    def last_touch(self, reg: int, i: int) -> int:
        return max((k for k in range(i) if reg in _touches(self.ops[k], self.exit_live[k])), default=-1)

    def free(self, reg: int, i: int, last: int) -> bool:
        """Nothing else needs ``reg`` from op ``i`` (which writes it) to op ``last``."""
        return not any(reg in self.live_after[k] for k in range(i, max(last, i + 1))) and \
            not any(reg in _touches(self.ops[k], self.exit_live[k]) for k in range(i + 1, last + 1))


def rename_registers(ops: list[MOp], exit_live: list[frozenset[int]], live_at_end: frozenset[int],
                     registers: int) -> list[MOp]:
    """``ops`` with values moved to fresher registers. ``exit_live[k]``: the
    registers live where op k's branch goes (empty for other ops);
    ``live_at_end``: those live after the last op."""
    sb = _Superblock(ops, exit_live, live_at_end)
    for i, m in enumerate(sb.ops):
        if m.op is None or m.info.unit is Unit.HELPER or Operand.DST not in m.info.operands \
                or m.info.reads_dst or m.dst == FP or is_control(m):
            continue
        r = m.dst
        last = sb.life(i)
        if last is None:
            continue
        stale = sb.last_touch(r, i)
        if stale < 0:
            continue
        best = min((f for f in range(registers) if f not in (r, FP) and sb.free(f, i, last)),
                   key=lambda f: sb.last_touch(f, i), default=None)
        if best is None or sb.last_touch(best, i) >= stale:
            continue
        sb.ops[i] = m.replace(dst=best)
        for k in range(i + 1, last + 1):
            sb.ops[k] = rename(sb.ops[k], {r: best}, writes=False)
        for k in range(i, last):
            sb.live_after[k].discard(r)
            sb.live_after[k].add(best)
    return sb.ops
