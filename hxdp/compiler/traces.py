"""Superblocks: runs of blocks the scheduler treats as one straight piece of
code with side exits, and the order they are laid out in.

A trace starts at a block and follows its fall-through (or its
unconditional jump, which then disappears) into a block that has no other
predecessor, so control only ever enters a trace at its head. Traces are
laid out so that a trace's fall-through successor comes right after it
where possible; elsewhere the trace ends with an explicit jump.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..target import Op, Unit
from .cfg import Cfg
from .mir import MOp

__all__ = ["Trace", "form_traces"]


@dataclass
class Trace:
    blocks: list[int]
    ops: list[MOp]
    follow: int | None        # the block control falls into after the trace, if any


def _falls_to(cfg: Cfg, bid: int) -> int | None:
    block = cfg.blocks[bid]
    last = block.insns[-1] if block.insns else None
    if last is not None and last.op is not None and last.info.unit in (Unit.EXIT,):
        return None
    if last is not None and last.op is Op.JUMP:
        return last.target
    return block.succs[-1] if block.succs else None


def form_traces(cfg: Cfg) -> list[Trace]:
    """The traces in layout order, the entry's first."""
    # A conditional branch whose target is also its fall-through does nothing.
    for block in cfg.blocks:
        if block.insns and block.insns[-1].target is not None and len(block.succs) == 1 \
                and block.insns[-1].op is not Op.JUMP:
            block.insns.pop()
    order = cfg.reverse_postorder()
    seen: set[int] = set()
    traces: dict[int, Trace] = {}
    for head in order:
        if head in seen:
            continue
        blocks, ops = [], []
        bid: int | None = head
        follow = None
        while bid is not None:
            seen.add(bid)
            blocks.append(bid)
            ops += cfg.blocks[bid].insns
            nxt = _falls_to(cfg, bid)
            if nxt is not None and nxt not in seen and cfg.blocks[nxt].preds == [bid] and nxt != 0:
                if ops and ops[-1].op is Op.JUMP:
                    ops.pop()
                bid = nxt
            else:
                follow = nxt
                bid = None
        traces[head] = Trace(blocks, ops, follow)
    # Layout: each trace followed by its fall-through trace when that is still free.
    laid: list[Trace] = []
    placed: set[int] = set()
    for head in order:
        while head in traces and head not in placed:
            trace = traces[head]
            placed.add(head)
            laid.append(trace)
            head = trace.follow if trace.follow is not None else -1
    for i, trace in enumerate(laid):
        nxt = laid[i + 1].blocks[0] if i + 1 < len(laid) else None
        if trace.follow is not None:
            if trace.ops and trace.ops[-1].op is Op.JUMP:
                trace.ops.pop()
            if trace.follow != nxt:
                trace.ops.append(MOp(Op.JUMP, target=trace.follow))
    return laid
