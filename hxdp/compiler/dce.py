"""Dead-code elimination: drop computations whose results nobody reads.

Only side-effect-free instructions go (ALU, byte swaps, 64-bit immediate
loads; in machine IR the ALU, multiply and divide operations). Memory loads stay even when dead: on hxdp an out-of-bounds load
ends the packet, and removing one would change what a faulty program does.
"""

from __future__ import annotations

from .cfg import Cfg
from .liveness import EBPF, Dialect, liveness

__all__ = ["eliminate_dead_code"]


def eliminate_dead_code(cfg: Cfg, dialect: Dialect = EBPF) -> int:
    """Remove dead pure instructions until none is left; returns how many went."""
    removed = 0
    while True:
        live = liveness(cfg, dialect)
        changed = False
        for block in cfg.blocks:
            after = live.live_out[block.id]
            keep = []
            for insn in reversed(block.insns):
                written = dialect.defs(insn)
                if dialect.pure(insn) and written and not written & after:
                    removed += 1
                    changed = True
                    continue
                keep.append(insn)
                after = (after - written) | dialect.uses(insn)
            block.insns = keep[::-1]
        if not changed:
            return removed
