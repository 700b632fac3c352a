"""List scheduling of a trace into rows of the target's lanes.

Rows are filled top to bottom; each row takes, in order of the longest
remaining path (ties: program order), every ready operation the row's
resources allow: lanes, branch slots, load and store ports (each reaching
the memory the access needs), helper units, the divider. An operation is
ready in a row when every predecessor in the dependence graph sits far
enough above (or, at distance 0, already in this row).
"""

from __future__ import annotations

from ..target import DIVIDERS, MULTIPLIERS, Space, Target, Unit, non_faulting
from .ddg import Ddg, is_control
from .mir import MOp, is_load

__all__ = ["schedule", "Row"]

Row = list[MOp]


def _ports_fit(spaces: list[Space | None], ports: tuple[frozenset[Space], ...]) -> bool:
    """Whether each access can have its own port reaching its memory (unknown: all)."""
    need = sorted((frozenset(Space) if s is None else frozenset({s}) for s in spaces), key=len,
                  reverse=True)
    free = list(ports)
    for want in need:
        port = next((p for p in sorted(free, key=len) if want <= p), None)
        if port is None:
            return False
        free.remove(port)
    return True


def fits(row: Row, m: MOp, target: Target) -> bool:
    """Whether ``m`` can join ``row`` on ``target``."""
    if len(row) >= target.lanes:
        return False
    candidate = row + [m]
    if sum(is_control(x) for x in candidate) > target.branch_slots:
        return False
    if sum(x.info.unit is Unit.HELPER for x in candidate) > target.helper_units:
        return False
    if sum(x.info.unit is Unit.DIV for x in candidate) > DIVIDERS:
        return False
    if sum(x.info.unit is Unit.MUL for x in candidate) > MULTIPLIERS:
        return False
    if m.info.reads_memory and not _ports_fit([x.space for x in candidate if x.info.reads_memory],
                                              target.load_ports):
        return False
    if m.info.writes_memory and not _ports_fit([x.space for x in candidate if x.info.writes_memory],
                                               target.store_ports):
        return False
    return True


def schedule(g: Ddg, target: Target) -> list[Row]:
    """Rows of the trace; in each row the control operations come first, in
    program order (the first taken branch wins), then the others."""
    n = len(g.nodes)
    height = g.heights(target)
    row_of: dict[int, int] = {}
    rows: list[list[int]] = []
    while len(row_of) < n:
        r = len(rows)
        current: list[int] = []
        placed = True
        while placed:
            placed = False
            ready = [node.index for node in g.nodes if node.index not in row_of
                     and all(p in row_of and row_of[p] + d <= r for p, d in node.preds.items())]
            for i in sorted(ready, key=lambda i: (-height[i], i)):
                if fits([g.nodes[k].op for k in current], g.nodes[i].op, target):
                    row_of[i] = r
                    current.append(i)
                    placed = True
                    break
        rows.append(current)
    # A load now at or above the row of a branch that preceded it runs on
    # paths that never asked for it: it must not fault there.
    ops = [node.op for node in g.nodes]
    latest_branch = -1
    for i, m in enumerate(ops):
        if is_load(m) and row_of[i] <= latest_branch:
            ops[i] = m.replace(op=non_faulting(m.op))
        if is_control(m):
            latest_branch = max(latest_branch, row_of[i])
    out = []
    for row in rows:
        order = sorted(row, key=lambda i: (not is_control(ops[i]), i))
        out.append([ops[i] for i in order])
    return out
