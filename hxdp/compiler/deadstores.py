"""Dead stack stores: a store through r10 whose bytes no later load can
read before the packet ends goes (the stack does not outlive the packet).

Found backwards, byte by byte: loads through r10 read their bytes; a load
or atomic through another pointer that may reach the stack, a helper that
reads through its arguments, or a BPF-to-BPF call reads them all; a store
through r10 makes its bytes dead above it. Often what is left of a value
passed through the stack once `forward_stack_values` has forwarded it.
"""

from __future__ import annotations

from ..ebpf.helpers import READS_THROUGH_ARGUMENTS
from ..target import Op, Unit
from .cfg import Cfg
from .mir import NOT_STACK, WHOLE_FRAME, MOp, frame_mask

__all__ = ["remove_dead_stack_stores"]


def _plain_store(m: MOp) -> bool:
    return m.op is not None and m.info.writes_memory and not m.info.reads_memory


def _before(m: MOp, later: int, stack_bytes: int) -> int:
    """The stack bytes read after the point before ``m``, given ``later``
    read after it."""
    if m.op is None:
        return WHOLE_FRAME
    info = m.info
    if info.unit is Unit.HELPER:
        return WHOLE_FRAME if m.op is Op.CALLR or m.imm in READS_THROUGH_ARGUMENTS else later
    if not info.reads_memory and not info.writes_memory:
        return later
    mask = frame_mask(m, stack_bytes)
    if mask is None:
        return WHOLE_FRAME if info.reads_memory and m.space not in NOT_STACK else later
    if _plain_store(m):
        return later & ~mask
    return later | mask


def remove_dead_stack_stores(cfg: Cfg, stack_bytes: int) -> int:
    """Drop stores through r10 nobody reads; returns how many went."""
    order = cfg.reverse_postorder()
    live_in: dict[int, int] = {}

    def live_out(bid: int) -> int:
        state = 0
        for s in cfg.blocks[bid].succs:
            state |= live_in.get(s, 0)
        return state

    changed = True
    while changed:
        changed = False
        for bid in reversed(order):
            state = live_out(bid)
            for m in reversed(cfg.blocks[bid].insns):
                state = _before(m, state, stack_bytes)
            if live_in.get(bid) != state:
                live_in[bid] = state
                changed = True
    removed = 0
    for bid in order:
        block = cfg.blocks[bid]
        state, keep = live_out(bid), []
        for m in reversed(block.insns):
            mask = frame_mask(m, stack_bytes)
            if mask is not None and _plain_store(m) and not state & mask:
                removed += 1
                continue
            state = _before(m, state, stack_bytes)
            keep.append(m)
        block.insns = keep[::-1]
    return removed
