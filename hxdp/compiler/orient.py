"""Branch senses: the likelier successor of a conditional branch falls through.

A taken branch costs the core `Latency.branch_penalty` rows; one that falls
through costs nothing, and superblocks (`form_traces`) follow fall-through
edges. Without a profile, the likelier successor is guessed statically:

- a bounds check passes: a packet shorter than its headers is an error;
- otherwise the successor with more work ahead of it: in an XDP program the
  early ways out (a packet of another protocol, a missing entry) are short
  runs to an exit, while the packet the program is written for goes the
  long way.

Branches on loops keep clang's layout, which already lets the body fall
through, as do ties.
"""

from __future__ import annotations

from ..target import Op, Unit, inverse_branch
from .cfg import Block, Cfg

__all__ = ["orient_branches"]


def _on_cycle(cfg: Cfg, start: int) -> bool:
    """Whether control can come back to block ``start``."""
    seen, stack = set(), list(cfg.blocks[start].succs)
    while stack:
        bid = stack.pop()
        if bid == start:
            return True
        if bid not in seen:
            seen.add(bid)
            stack += cfg.blocks[bid].succs
    return False


def _way_ahead(cfg: Cfg, order: list[int]) -> dict[int, int]:
    """For each block, the most operations on a path from its start to an
    exit, edges back along ``order`` left out."""
    rank = {bid: i for i, bid in enumerate(order)}
    ahead: dict[int, int] = {}
    for bid in reversed(order):
        block = cfg.blocks[bid]
        forward = [ahead[s] for s in block.succs if rank[s] > rank[bid]]
        ahead[bid] = len(block.insns) + max(forward, default=0)
    return ahead


def _likelier(block: Block, ahead: dict[int, int]) -> int | None:
    taken, falls = block.succs
    test = block.insns[-1].op
    if test in (Op.BOUT, Op.BIN):
        return falls if test is Op.BOUT else taken
    if ahead[taken] == ahead[falls]:
        return None
    return max((taken, falls), key=ahead.__getitem__)


def orient_branches(cfg: Cfg) -> int:
    """Invert the branches whose taken successor is the likelier; returns how many."""
    order = cfg.reverse_postorder()
    ahead = _way_ahead(cfg, order)
    inverted = 0
    for bid in order:
        block = cfg.blocks[bid]
        last = block.insns[-1] if block.insns else None
        if len(block.succs) != 2 or last is None or last.unit is not Unit.BRANCH or _on_cycle(cfg, bid):
            continue
        taken, falls = block.succs
        inverse = inverse_branch(last.op)
        if inverse is None or _likelier(block, ahead) != taken:
            continue
        block.insns[-1] = last.replace(op=inverse, target=falls)
        block.succs = [falls, taken]
        inverted += 1
    return inverted
