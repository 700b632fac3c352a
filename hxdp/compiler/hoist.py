"""Control-equivalent hoisting: arithmetic at the top of a join block moves
up into the block that decides the branch before it.

Superblocks let operations rise above side exits, but never out of a block
with several predecessors: after a diamond (``if (x) a; else b;``) the
join's first operations wait for the diamond to finish. When the join J
always follows the block A that opens the diamond (A dominates J and J
post-dominates A), J's leading side-effect-free operations can run in A
instead, in parallel with A's own work, provided nothing on the way from A
to J writes what they read or reads or writes what they write. Only
operations whose inputs come from before A move, so they never hold up
A's branch.
"""

from __future__ import annotations

from .cfg import Cfg
from .dominators import control_equivalent, dominators, post_dominators
from .ddg import is_control
from .mir import MOp, defs, is_pure, uses

__all__ = ["hoist_control_equivalent"]


def _between(cfg: Cfg, a: int, j: int) -> set[int] | None:
    """The blocks on paths from a to j, neither included (None if a path
    comes back to a)."""
    seen: set[int] = set()
    work = [s for s in cfg.blocks[a].succs if s != j]
    while work:
        b = work.pop()
        if b == a:
            return None
        if b in seen:
            continue
        seen.add(b)
        work += [s for s in cfg.blocks[b].succs if s != j]
    return seen


def hoist_control_equivalent(cfg: Cfg) -> int:
    """Move operations in place; returns how many moved."""
    dom, pdom = dominators(cfg), post_dominators(cfg)
    moved = 0
    for join in cfg.blocks:
        if len(join.preds) < 2 or join.id not in dom.idom or not join.insns:
            continue
        a = dom.idom[join.id]
        if a == join.id or not control_equivalent(dom, pdom, a, join.id):
            continue
        between = _between(cfg, a, join.id)
        if between is None or not set(join.preds) <= between | {a}:
            continue                    # a loop: the join runs again without a
        head = cfg.blocks[a]
        body = head.insns[:-1] if head.insns and is_control(head.insns[-1]) else list(head.insns)
        tail = head.insns[len(body):]
        on_way = [m for b in between for m in cfg.blocks[b].insns] + tail
        written = set().union(*(defs(m) for m in on_way + body))
        read = set().union(*(uses(m) for m in on_way))
        lifted: list[MOp] = []
        for m in join.insns:
            if not is_pure(m) or uses(m) & written or defs(m) & (read | written):
                break
            lifted.append(m)
            written |= defs(m)
        if lifted:
            head.insns = body + lifted + tail
            join.insns = join.insns[len(lifted):]
            moved += len(lifted)
    return moved
