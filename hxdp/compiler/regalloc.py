"""Register allocation: virtual registers (inlined callees' r6-r10) get
registers of the target that are free wherever they are live.

eBPF's own registers stay where they are (helpers take their arguments in
r1-r5 and return in r0); a virtual register may share any register,
eBPF's included, whose live range it does not cross.
"""

from __future__ import annotations

from collections import defaultdict

from .cfg import Cfg
from .liveness import liveness
from .lower import CompileError
from .mir import MIR, VIRTUAL_BASE, rename

__all__ = ["allocate_registers"]


def _interference(cfg: Cfg) -> dict[int, set[int]]:
    live = liveness(cfg, MIR)
    edges: dict[int, set[int]] = defaultdict(set)
    for block in cfg.blocks:
        for m, after in zip(block.insns, live.after(cfg, block.id)):
            for d in MIR.defs(m):
                for other in after:
                    if other != d:
                        edges[d].add(other)
                        edges[other].add(d)
        for r in live.live_in[block.id]:     # registers live together at a block's start
            edges[r] |= live.live_in[block.id] - {r}
    return edges


def allocate_registers(cfg: Cfg, registers: int) -> int:
    """Colour every virtual register in place; returns the highest register used + 1."""
    edges = _interference(cfg)
    virtual = sorted({r for b in cfg.blocks for m in b.insns
                      for r in MIR.uses(m) | MIR.defs(m) if r >= VIRTUAL_BASE})
    colour: dict[int, int] = {}
    for v in virtual:
        taken = {colour.get(n, n) for n in edges[v] if n < VIRTUAL_BASE or n in colour}
        free = [r for r in list(range(11, registers)) + list(range(0, 10)) if r not in taken]
        if not free:
            raise CompileError(f"{cfg.name}: the inlined calls need more registers than the "
                               f"target's {registers} (Target.registers)")
        colour[v] = free[0]
    for block in cfg.blocks:
        block.insns = [rename(m, colour) for m in block.insns]
    used = {r for b in cfg.blocks for m in b.insns for r in MIR.uses(m) | MIR.defs(m)}
    return max(used, default=0) + 1
