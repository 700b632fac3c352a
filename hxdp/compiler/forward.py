"""Stack store-to-load forwarding: a load of stack bytes that a store on
the way to it wrote from a register reads that register instead.

clang passes values through the stack where C takes an address or copies
through a temporary (a MAC address swapped through a buffer), and spills
pointers across helper calls: a store and a load back, two memory
operations and a load latency on the way. Stores through r10 are followed
by offset and width within a block and on into a block whose only
predecessor it is (an extended basic block, as copy propagation follows
copies); a later load of the low bytes of one (the same offset, as wide or
narrower), with nothing in between that may write them and the register
unchanged, becomes a move that zero-extends like the load (a register
known to hold a value that narrow moves as it is).
The store stays for `remove_dead_stack_stores` to judge.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..ebpf.helpers import WRITES_THROUGH_ARGUMENTS
from ..target import Op, Operand, Unit
from .cfg import Cfg
from .dataflow import extended_blocks
from .mir import FP, NOT_STACK, MOp, defs, is_load

__all__ = ["forward_stack_values"]

# A move that keeps a register's low ``width`` bytes and clears the others.
_ZERO_EXTEND = {8: (Op.MOV, 0), 4: (Op.MOV32, 0), 2: (Op.ZEXT16, 0), 1: (Op.AND32I, 0xFF)}


def _may_write_stack(m: MOp) -> bool:
    """Whether ``m`` may write stack bytes other than through r10 at its offset."""
    if m.op is None:
        return True
    if m.info.unit is Unit.HELPER:
        return m.op is Op.CALLR or m.imm in WRITES_THROUGH_ARGUMENTS
    return m.info.writes_memory and (m.a != FP or m.info.reads_memory) and m.space not in NOT_STACK


@dataclass
class _Held:
    """What the stack holds from registers, at a point in a block."""
    version: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    held: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (offset, width) -> (register, its version)
    narrow: dict[int, tuple[int, int]] = field(default_factory=dict)            # register -> (version, bytes above which it is 0)

    def copy(self) -> "_Held":
        return _Held(defaultdict(int, self.version), dict(self.held), dict(self.narrow))


def forward_stack_values(cfg: Cfg) -> int:
    """Turn loads of values stored on the way into moves; returns how many."""
    forwarded = 0
    for block, state in extended_blocks(cfg, _Held, _Held.copy):
        version, narrow = state.version, state.narrow
        insns = []
        for m in block.insns:
            if m.op is not None and is_load(m) and m.a == FP and not m.info.sign_extends:
                width = m.info.width
                reg, seen = next((v for (off, n), v in state.held.items() if off == m.off and n >= width),
                                 (None, None))
                if reg is not None and version[reg] == seen:
                    known = narrow.get(reg)
                    if known is not None and known[0] == seen and known[1] <= width:
                        op, imm = Op.MOV, 0
                    else:
                        op, imm = _ZERO_EXTEND.get(width, (None, 0))
                    if op is not None:
                        m = MOp(op, dst=m.dst, a=reg, imm=imm, origin=m.origin)
                        forwarded += 1
            if _may_write_stack(m):
                state.held.clear()
            elif m.op is not None and m.info.writes_memory and m.a == FP:
                lo, hi = m.off, m.off + m.info.width
                state.held = {k: v for k, v in state.held.items() if not (k[0] < hi and lo < k[0] + k[1])}
                if Operand.B in m.info.operands:
                    state.held[(m.off, m.info.width)] = (m.b, version[m.b])
            for d in defs(m):
                version[d] += 1
                narrow.pop(d, None)
            if m.op is not None and is_load(m) and not m.info.sign_extends and m.info.width < 8:
                narrow[m.dst] = (version[m.dst], m.info.width)
            elif m.op is Op.MOV and m.a in narrow and narrow[m.a][0] == version[m.a]:
                narrow[m.dst] = (version[m.dst], narrow[m.a][1])
            insns.append(m)
        block.insns = insns
    return forwarded
