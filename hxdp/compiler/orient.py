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
    ahead = cfg.way_ahead()
    inverted = 0
    for bid in order:
        block = cfg.blocks[bid]
        last = block.insns[-1] if block.insns else None
        if len(block.succs) != 2 or last is None or last.unit is not Unit.BRANCH or cfg.on_cycle(bid):
            continue
        taken, falls = block.succs
        inverse = inverse_branch(last.op)
        if inverse is None or _likelier(block, ahead) != taken:
            continue
        block.insns[-1] = last.replace(op=inverse, target=falls)
        block.succs = [falls, taken]
        inverted += 1
    return inverted
