"""Stack-zeroing removal: the core clears a packet's stack before the
program starts, so storing zero to stack bytes nothing has written yet on
any path does nothing and goes.

Stores through r10 are followed byte by byte; a store through another
register, an atomic or a call (which may write through a pointer argument)
counts as writing the whole stack.
"""

from __future__ import annotations

from ..target import Unit
from .cfg import Cfg
from .dataflow import solve_forward
from .mir import WHOLE_FRAME, MOp, frame_mask

__all__ = ["remove_stack_zeroing"]


def _bytes(m: MOp, stack_bytes: int) -> int | None:
    """The mask of frame bytes ``m`` writes through r10, or None if it is not such a store."""
    if m.op is None or not m.info.writes_memory or m.info.reads_memory:
        return None
    return frame_mask(m, stack_bytes)


def _written(m: MOp, stack_bytes: int) -> int:
    if m.op is None or m.info.unit is Unit.HELPER:
        return WHOLE_FRAME
    if not m.info.writes_memory:
        return 0
    mask = _bytes(m, stack_bytes)
    return WHOLE_FRAME if mask is None else mask


def remove_stack_zeroing(cfg: Cfg, stack_bytes: int) -> int:
    def start(bid: int, out: dict[int, int]) -> int:
        state = 0                 # bytes some path may have written, as a mask
        for p in cfg.blocks[bid].preds:
            state |= out.get(p, 0)
        return state

    out = solve_forward(cfg, start, lambda m, state: state | _written(m, stack_bytes))
    removed = 0
    for bid in cfg.reverse_postorder():
        block = cfg.blocks[bid]
        state = start(bid, out)
        keep = []
        for m in block.insns:
            mask = _bytes(m, stack_bytes) if m.op is not None else None
            if mask is not None and m.info.name.endswith("i") and m.imm == 0 and not state & mask:
                removed += 1
                continue
            state |= _written(m, stack_bytes)
            keep.append(m)
        block.insns = keep
    return removed
