"""The data-dependence graph of a straight run of operations (a superblock):
which operation must come how many rows after which.

Edges carry the least row distance: a read waits for the latency of the
write it reads (RAW), a write may share the row of an earlier read of the
same register (WAR: a row reads all its registers before it writes any) and
waits out an earlier write (WAW). Memory operations are ordered only when
they may touch the same bytes: different memories never do, and two
accesses off the same base value with disjoint byte ranges do not either.
Branches keep the order of the operations around them; an operation below
a branch may rise above it only if it is free of side effects, cannot
fault, and writes nothing the branch's target reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ebpf.helpers import HelperId
from ..target import Op, Operand, Target, Unit
from .mir import MOp, defs, is_load, is_pure, uses

__all__ = ["Node", "Ddg", "build_ddg", "latency", "is_control"]

# Helpers that touch no memory the program can see.
NO_MEMORY_HELPERS = frozenset({HelperId.KTIME_GET_NS, HelperId.KTIME_GET_BOOT_NS,
                               HelperId.GET_PRANDOM_U32, HelperId.GET_SMP_PROCESSOR_ID,
                               HelperId.GET_NUMA_NODE_ID})


def is_control(m: MOp) -> bool:
    return m.info.unit in (Unit.BRANCH, Unit.EXIT)


def latency(m: MOp, target: Target) -> int:
    return target.latency.of(m.info, m.space)


@dataclass
class Node:
    index: int
    op: MOp
    preds: dict[int, int] = field(default_factory=dict)    # node -> least row distance
    succs: dict[int, int] = field(default_factory=dict)


@dataclass
class Ddg:
    nodes: list[Node]

    def edge(self, a: int, b: int, distance: int) -> None:
        if distance > self.nodes[b].preds.get(a, -1):
            self.nodes[b].preds[a] = distance
            self.nodes[a].succs[b] = distance

    def critical_rows(self) -> int:
        """Rows the run needs with unlimited lanes: the longest dependence
        path (its lower bound on rows)."""
        earliest = [0] * len(self.nodes)
        for node in self.nodes:
            earliest[node.index] = max([0] + [earliest[p] + d for p, d in node.preds.items()])
        return max(earliest) + 1 if self.nodes else 0

    def heights(self, target: Target) -> list[int]:
        """Rows from each node to the end of the run along its longest path."""
        h = [0] * len(self.nodes)
        for node in reversed(self.nodes):
            h[node.index] = max([latency(node.op, target) if not is_control(node.op) else 1]
                                + [d + h[s] for s, d in node.succs.items()])
        return h


def _touches_memory(m: MOp) -> bool:
    """Loads, stores, helpers that may touch memory, and the bounds checks
    (a helper may move the packet's end)."""
    return m.info.unit is Unit.LSU or m.info.reads_packet_end \
        or m.info.unit is Unit.HELPER and m.imm not in NO_MEMORY_HELPERS


def _outlives_issue(m: MOp) -> bool:
    """A helper call or an atomic: busy after its row (holding the core, on
    several cores the map lock), so the packet's exit comes a row later."""
    return m.info.unit is Unit.HELPER or m.info.reads_memory and m.info.writes_memory


def _speculable(m: MOp) -> bool:
    """Safe to execute on a path that did not ask for it: no effect, and no
    fault (a load moved above a branch becomes the target's non-faulting load)."""
    return is_pure(m) or is_load(m)


def build_ddg(ops: list[MOp], target: Target, live_at_exit: list[frozenset[int]]) -> Ddg:
    """``live_at_exit[i]``: registers live where control goes if op i is a
    branch that is taken (empty for exits and non-branches)."""
    g = Ddg([Node(i, m) for i, m in enumerate(ops)])
    writer: dict[int, int] = {}
    readers: dict[int, list[int]] = {}
    value: dict[int, tuple[object, int]] = {}        # register -> (base value, constant added)
    addresses: list[tuple[object, int] | None] = []
    for j, m in enumerate(ops):
        # Registers.
        for r in uses(m):
            if r in writer:
                w = writer[r]
                g.edge(w, j, latency(ops[w], target))
            readers.setdefault(r, []).append(j)
        written = defs(m)
        for r in written:
            for i in readers.get(r, []):
                if i != j:
                    g.edge(i, j, 0)
            if r in writer:
                g.edge(writer[r], j, latency(ops[writer[r]], target))
        # Memory.
        base = value.get(m.a, (("in", m.a), 0))
        addresses.append((base[0], base[1] + m.off) if m.info.unit is Unit.LSU else None)
        if _touches_memory(m):
            for i in range(j):
                p = ops[i]
                if _touches_memory(p) and _may_alias(p, m, addresses[i], addresses[j]):
                    g.edge(i, j, _memory_distance(p, m, target))
        # Control.
        for i in range(j):
            p = ops[i]
            if is_control(m):
                g.edge(i, j, 1 if m.info.unit is Unit.EXIT and _outlives_issue(p) else 0)
            elif is_control(p) and not (_speculable(m) and not written & live_at_exit[i]):
                g.edge(i, j, 1)
        # Values for the next accesses.
        new = None
        if m.op is Op.MOV:
            new = value.get(m.a, (("in", m.a), 0))
        elif m.op is Op.ADDI:
            b = value.get(m.a, (("in", m.a), 0))
            new = (b[0], b[1] + m.imm)
        elif Operand.DST in m.info.operands:
            new = (("def", j), 0)
        for r in written:
            writer[r] = j
            readers[r] = []
            value.pop(r, None)
        if m.info.unit is Unit.HELPER:
            # r1-r5 are clobbered, not written: nothing may read them after the
            # call, and a later write must not pass the call (which reads them).
            for r in range(1, 6):
                writer.pop(r, None)
                readers[r] = [j]
        if new is not None:
            value[m.dst] = new
    return g


def _memory_distance(p: MOp, m: MOp, target: Target) -> int:
    """Rows between two conflicting memory operations, p first."""
    if p.info.unit is Unit.HELPER:
        return 1 if m.info.unit is Unit.HELPER else latency(p, target)
    return 1 if p.info.writes_memory else 0      # a store before, or a load before


def _may_alias(p: MOp, m: MOp, pa, ma) -> bool:
    if p.info.unit is Unit.HELPER or m.info.unit is Unit.HELPER:
        return True
    if p.info.reads_packet_end or m.info.reads_packet_end:
        return False
    if not (p.info.writes_memory or m.info.writes_memory):
        return False
    if p.space and m.space and p.space is not m.space:
        return False
    if pa[0] == ma[0]:
        return pa[1] < ma[1] + m.info.width and ma[1] < pa[1] + p.info.width
    return True
