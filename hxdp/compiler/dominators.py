"""Dominator and post-dominator trees (Cooper, Harvey and Kennedy's
iterative algorithm over reverse postorder).

Scheduling needs both: code may move between blocks that are control
equivalent, i.e. A dominates B and B post-dominates A.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cfg import Cfg

__all__ = ["DomTree", "dominators", "post_dominators", "control_equivalent"]


@dataclass
class DomTree:
    """``idom[b]`` is b's immediate dominator (the root is its own; blocks
    the walk cannot reach are absent). For post-dominators the root is a
    virtual exit, numbered ``len(cfg.blocks)``."""
    idom: dict[int, int]
    root: int

    def dominates(self, a: int, b: int) -> bool:
        """Whether every path from the root to b passes through a."""
        if b not in self.idom:
            return False
        while True:
            if a == b:
                return True
            if b == self.root:
                return False
            b = self.idom[b]


def _solve(order: list[int], preds: dict[int, list[int]], root: int) -> DomTree:
    index = {b: i for i, b in enumerate(order)}
    idom = {root: root}

    def intersect(a: int, b: int) -> int:
        while a != b:
            while index[a] > index[b]:
                a = idom[a]
            while index[b] > index[a]:
                b = idom[b]
        return a

    changed = True
    while changed:
        changed = False
        for b in order[1:]:
            done = [p for p in preds[b] if p in idom]
            if not done:
                continue
            new = done[0]
            for p in done[1:]:
                new = intersect(p, new)
            if idom.get(b) != new:
                idom[b] = new
                changed = True
    return DomTree(idom, root)


def dominators(cfg: Cfg) -> DomTree:
    order = cfg.reverse_postorder()
    return _solve(order, {b.id: b.preds for b in cfg.blocks}, 0)


def post_dominators(cfg: Cfg) -> DomTree:
    """Dominators of the reversed graph, from a virtual exit after every exit block."""
    exit_id = len(cfg.blocks)
    succs = {b.id: list(b.succs) or [exit_id] for b in cfg.blocks}
    preds: dict[int, list[int]] = {b: [] for b in range(exit_id + 1)}
    for b, ss in succs.items():
        for s in ss:
            preds[s].append(b)
    # Reverse postorder of the reversed graph, from the virtual exit.
    seen, order, stack = {exit_id}, [], [(exit_id, 0)]
    while stack:
        node, i = stack.pop()
        if i < len(preds[node]):
            stack.append((node, i + 1))
            nxt = preds[node][i]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, 0))
        else:
            order.append(node)
    order.reverse()
    return _solve(order, succs | {exit_id: []}, exit_id)


def control_equivalent(dom: DomTree, pdom: DomTree, a: int, b: int) -> bool:
    """Whether a and b always execute together: a dominates b and b post-dominates a."""
    return dom.dominates(a, b) and pdom.dominates(b, a)
