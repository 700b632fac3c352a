"""Control-flow graph of one eBPF function.

Blocks are maximal straight-line runs of instructions: a block ends at a
jump or exit, or just before an instruction some jump lands on. A
BPF-to-BPF call does not end a block (control returns after it); the callee
is a separate function with its own graph.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..ebpf.isa import Form, Insn, Kind
from ..ebpf.program import Program
from ..errors import HxdpError

__all__ = ["Block", "Cfg", "build_cfg", "flatten", "functions"]


def _falls_through(insn: Insn) -> bool:
    return insn.spec.kind is not Kind.EXIT and insn.spec.form not in (Form.JA, Form.JA32)


@dataclass
class Block:
    """``insns`` run in order; control then goes to one of ``succs``. For a
    conditional jump, succs is (taken, fall-through)."""
    id: int
    insns: list[Insn]
    succs: list[int] = field(default_factory=list)
    preds: list[int] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.insns[0].pc

    @property
    def last(self) -> Insn:
        return self.insns[-1]

    @property
    def end(self) -> int:
        """The pc after the block's last slot."""
        return self.last.pc + self.last.slots


@dataclass
class Cfg:
    """The blocks of one function; block 0 is the entry."""
    name: str
    blocks: list[Block]

    @property
    def entry(self) -> Block:
        return self.blocks[0]

    def exits(self) -> list[Block]:
        return [b for b in self.blocks if not b.succs]

    def reverse_postorder(self) -> list[int]:
        """Block ids reachable from the entry, each before its successors
        (except along back edges)."""
        seen: set[int] = set()
        order: list[int] = []
        stack: list[tuple[int, int]] = [(0, 0)]
        seen.add(0)
        while stack:
            block, i = stack.pop()
            succs = self.blocks[block].succs
            if i < len(succs):
                stack.append((block, i + 1))
                nxt = succs[i]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, 0))
            else:
                order.append(block)
        return order[::-1]

    def way_ahead(self) -> dict[int, int]:
        """For each reachable block, the most instructions on a path from its
        start to an exit, edges back against the reverse postorder left out."""
        order = self.reverse_postorder()
        rank = {bid: i for i, bid in enumerate(order)}
        ahead: dict[int, int] = {}
        for bid in reversed(order):
            block = self.blocks[bid]
            forward = [ahead[s] for s in block.succs if rank[s] > rank[bid]]
            ahead[bid] = len(block.insns) + max(forward, default=0)
        return ahead

    def on_cycle(self, start: int) -> bool:
        """Whether control can come back to block ``start``."""
        seen, stack = set(), list(self.blocks[start].succs)
        while stack:
            bid = stack.pop()
            if bid == start:
                return True
            if bid not in seen:
                seen.add(bid)
                stack += self.blocks[bid].succs
        return False


def flatten(cfg: Cfg) -> tuple[list[Insn], list[int]]:
    """The instructions of the blocks reachable from the entry, in block order,
    with pcs and jump offsets recomputed: the inverse of `build_cfg` after
    passes have edited blocks. A block that falls through must be followed by
    its fall-through successor (passes keep that order). Also returns, for
    each instruction, the pc it had when the graph was built (passes keep
    ``pc`` as the origin), for source maps."""
    reachable = set(cfg.reverse_postorder())
    kept = [b for b in cfg.blocks if b.id in reachable]
    start: dict[int, int] = {}
    pc = 0
    for b in kept:
        start[b.id] = pc
        pc += sum(i.slots for i in b.insns)
    out: list[Insn] = []
    origin: list[int] = []
    for index, b in enumerate(kept):
        pc = start[b.id]
        for insn in b.insns:
            if insn is b.insns[-1] and insn.jump_target is not None:
                target = start[b.succs[0]]
                field = "imm" if insn.spec.form is Form.JA32 else "off"
                insn = dataclasses.replace(insn, **{field: target - (pc + 1)})
            origin.append(insn.pc)
            out.append(dataclasses.replace(insn, pc=pc))
            pc += insn.slots
        falls = not b.insns or _falls_through(b.insns[-1])
        if falls and b.succs:
            follow = b.succs[-1]
            nxt = kept[index + 1].id if index + 1 < len(kept) else None
            if follow != nxt:
                raise HxdpError(f"{cfg.name}: block {b.id} falls through to block {follow}, "
                                f"but block {nxt} follows it")
    return out, origin


def functions(program: Program) -> list[tuple[str, list[Insn]]]:
    """The program split into its functions (entry first): at the starts
    Program.functions names and at every BPF-to-BPF call's target."""
    calls = {insn.call_target for insn in program.insns if insn.call_target is not None}
    starts = sorted(set(program.functions) | calls | {0})
    out = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else program.slots
        name = program.functions.get(start, program.name if start == 0 else f"function at pc {start}")
        out.append((name, [insn for insn in program.insns if start <= insn.pc < end]))
    return out


def build_cfg(name: str, insns: list[Insn]) -> Cfg:
    """Blocks and edges of the function made of ``insns`` (in pc order)."""
    if not insns:
        raise HxdpError(f"{name}: function has no instructions")
    pcs = {insn.pc for insn in insns}
    first, limit = insns[0].pc, insns[-1].pc + insns[-1].slots
    leaders = {first}
    for insn in insns:
        target = insn.jump_target
        if target is not None:
            if target not in pcs:
                raise HxdpError(f"{name} pc {insn.pc}: {insn.mnemonic} jumps to pc {target}, "
                                f"{'outside the function' if not first <= target < limit else 'inside a 64-bit load'}")
            leaders.add(target)
        if target is not None or insn.spec.kind is Kind.EXIT:
            leaders.add(insn.pc + insn.slots)
    blocks: list[Block] = []
    for insn in insns:
        if insn.pc in leaders:
            blocks.append(Block(len(blocks), []))
        blocks[-1].insns.append(insn)
    by_start = {b.start: b.id for b in blocks}
    for block in blocks:
        last = block.last
        target = last.jump_target
        if target is not None:
            block.succs.append(by_start[target])
        if _falls_through(last):
            if block.end >= limit:
                raise HxdpError(f"{name} pc {last.pc}: control falls off the end of the function")
            if by_start[block.end] not in block.succs:
                block.succs.append(by_start[block.end])
    for block in blocks:
        for succ in block.succs:
            blocks[succ].preds.append(block.id)
    return Cfg(name, blocks)
