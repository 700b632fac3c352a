"""Dead-code elimination: drop computations whose results nobody reads.

Only side-effect-free instructions go (ALU, byte swaps, 64-bit immediate
loads). Memory loads stay even when dead: on hxdp an out-of-bounds load
ends the packet, and removing one would change what a faulty program does.
"""

from __future__ import annotations

from ..ebpf.isa import Kind
from .cfg import Cfg
from .liveness import defs, liveness, uses

__all__ = ["eliminate_dead_code"]

PURE = (Kind.ALU, Kind.END, Kind.LDDW)


def eliminate_dead_code(cfg: Cfg) -> int:
    """Remove dead pure instructions until none is left; returns how many went."""
    removed = 0
    while True:
        live = liveness(cfg)
        changed = False
        for block in cfg.blocks:
            after = live.live_out[block.id]
            keep = []
            for insn in reversed(block.insns):
                written = defs(insn)
                if insn.spec.kind in PURE and written and not written & after:
                    removed += 1
                    changed = True
                    continue
                keep.append(insn)
                after = (after - written) | uses(insn)
            block.insns = keep[::-1]
        if not changed:
            return removed
