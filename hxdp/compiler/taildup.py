"""Tail duplication: a short tail that several blocks run into (a counter's
increment and the exit after it, which clang merges between the ways a
program returns) is copied into each of them.

A superblock ends where control joins, and a trace that cannot be laid
out in front of the join's code ends with a jump to it: a taken branch,
which costs the core `Latency.late_branch_penalty` rows when it shares a row
with another branch. With its own copy of the tail, each way runs straight
on to its exit. Only tails that reach an exit within `MAX_TAIL_OPS`
operations on every path are copied (so the copies stay small and no loop
is unrolled), block by block: a block entered by fall-through or a jump
from several others gets a copy for each of them.
"""

from __future__ import annotations

from ..target import Op
from .cfg import Block, Cfg

__all__ = ["duplicate_tails", "MAX_TAIL_OPS"]

MAX_TAIL_OPS = 6


def _copy(cfg: Cfg, block: Block) -> Block:
    twin = Block(len(cfg.blocks), [m.replace() for m in block.insns], list(block.succs), [])
    cfg.blocks.append(twin)
    for s in twin.succs:
        cfg.blocks[s].preds.append(twin.id)
    return twin


def duplicate_tails(cfg: Cfg) -> int:
    """Give every block that runs into a short shared tail its own copy;
    returns how many copies were made."""
    copies = 0
    changed = True
    while changed:
        changed = False
        ahead = cfg.way_ahead()
        for bid in cfg.reverse_postorder():
            block = cfg.blocks[bid]
            if not block.succs:
                continue
            join = cfg.blocks[block.succs[-1]]
            entries = [p for p in join.preds if p in ahead]
            if join.id == 0 or len(entries) < 2 or ahead[join.id] > MAX_TAIL_OPS or cfg.on_cycle(join.id):
                continue
            twin = _copy(cfg, join)
            block.succs[-1] = twin.id
            twin.preds.append(bid)
            join.preds.remove(bid)
            last = block.insns[-1] if block.insns else None
            if last is not None and last.op is Op.JUMP:
                block.insns[-1] = last.replace(target=twin.id)
            copies += 1
            changed = True
            break
    return copies
