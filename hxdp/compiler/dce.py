"""Dead-code elimination: drop computations whose results nobody reads.

Only side-effect-free instructions go (ALU, byte swaps, 64-bit immediate
loads; in machine IR the ALU, multiply and divide operations). Memory loads
stay even when dead: on hxdp an out-of-bounds load ends the packet, and
removing one would change what a faulty program does. A pass that has made
a load redundant (another load now reads the same bytes) names it to
`sweep_block`, which drops it with the dead arithmetic.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .cfg import Cfg
from .liveness import EBPF, Dialect, liveness

__all__ = ["eliminate_dead_code", "sweep_block"]


def sweep_block(insns: Sequence, live_out: frozenset[int], dialect: Dialect,
                removable: Callable[[int], bool] = lambda i: False) -> list:
    """``insns`` without the dead pure ones and the dead ones ``removable``
    accepts (by position), in one backward sweep from ``live_out``."""
    after = live_out
    keep = []
    for i in range(len(insns) - 1, -1, -1):
        insn = insns[i]
        written = dialect.defs(insn)
        if (dialect.pure(insn) or removable(i)) and written and not written & after:
            continue
        keep.append(insn)
        after = (after - written) | dialect.uses(insn)
    return keep[::-1]


def eliminate_dead_code(cfg: Cfg, dialect: Dialect = EBPF) -> int:
    """Remove dead pure instructions until none is left; returns how many went."""
    removed = 0
    while True:
        live = liveness(cfg, dialect)
        changed = 0
        for block in cfg.blocks:
            kept = sweep_block(block.insns, live.live_out[block.id], dialect)
            changed += len(block.insns) - len(kept)
            block.insns = kept
        removed += changed
        if not changed:
            return removed
