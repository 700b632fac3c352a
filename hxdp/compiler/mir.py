"""The compiler's machine IR: operations of the target's instruction set on
an unbounded register file, in the blocks of a control-flow graph.

A function in MIR is a `Cfg` whose blocks hold `MOp`s instead of eBPF
instructions, so the graph algorithms (reverse postorder, dominators,
liveness) serve both levels. Registers 0-10 are eBPF's; registers from
`VIRTUAL_BASE` on are virtual until register allocation gives them one of
the target's registers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..ebpf.xdp import XDP_MD
from ..target import OpInfo, Operand, Op, OPS_BY_CODE, Slot, Space, Unit
from .liveness import Dialect

__all__ = ["VIRTUAL_BASE", "FP", "MOp", "uses", "defs", "is_pure", "is_load", "rename", "frame_mask",
           "WHOLE_FRAME", "CALL_CLOBBERS", "NOT_STACK", "MIR"]

VIRTUAL_BASE = 32
FP = 10
ARGS = tuple(range(1, 6))
CALL_CLOBBERS = frozenset(range(0, 6))
NOT_STACK = (Space.PACKET, Space.MAP, Space.CONTEXT)     # memories known not to be the stack
WHOLE_FRAME = -1          # every byte of the frame, as a `frame_mask` (all ones)


@dataclass(eq=False)
class MOp:
    """One operation. ``target`` is the block a branch or jump goes to;
    ``origin`` the eBPF pcs it stands for (for the image's source map);
    ``callee`` marks a BPF-to-BPF call (``op`` None; ``a`` is the caller's
    frame pointer, ``imm`` the call depth) until it is inlined; ``nargs`` is
    how many of r1-r5 a helper call reads; ``space`` is the memory a load or
    store reaches, when known."""
    op: Op | None
    dst: int = 0
    a: int = 0
    b: int = 0
    off: int = 0
    imm: int = 0
    target: int | None = None
    origin: tuple[int, ...] = ()
    callee: int | None = None
    nargs: int = 5
    space: Space | None = None

    @property
    def info(self) -> OpInfo:
        return OPS_BY_CODE[self.op]

    @property
    def unit(self) -> Unit | None:
        return None if self.op is None else self.info.unit

    def replace(self, **changes) -> "MOp":
        return dataclasses.replace(self, **changes)

    def slot(self) -> Slot:
        """The encoded form; ``off`` of a branch must already hold its row."""
        return Slot(self.op, self.dst, self.a, self.b, self.off, self.imm)

    def __str__(self) -> str:
        if self.op is None:
            return f"call local pc {self.callee}"
        names = {Operand.DST: f"r{self.dst}", Operand.A: f"r{self.a}", Operand.B: f"r{self.b}",
                 Operand.OFF: f"b{self.target}" if self.target is not None else str(self.off),
                 Operand.IMM: str(self.imm)}
        return f"{self.info.name} {', '.join(names[o] for o in self.info.operands)}".strip()


def uses(m: MOp) -> frozenset[int]:
    """Registers ``m`` reads."""
    if m.op is None:
        return frozenset(ARGS) | {m.a}
    info = m.info
    if info.unit is Unit.HELPER:
        return frozenset(ARGS[:m.nargs]) | ({m.a} if m.op is Op.CALLR else frozenset())
    regs = set()
    if Operand.A in info.operands:
        regs.add(m.a)
    if Operand.B in info.operands:
        regs.add(m.b)
    if info.reads_dst:
        regs.add(m.dst)
    return frozenset(regs)


def defs(m: MOp) -> frozenset[int]:
    """Registers ``m`` writes (a call: r0, and r1-r5 become undefined)."""
    if m.op is None or m.info.unit is Unit.HELPER:
        return CALL_CLOBBERS
    return frozenset({m.dst}) if Operand.DST in m.info.operands else frozenset()


def is_load(m: MOp) -> bool:
    """A plain load (not an atomic)."""
    return m.op is not None and m.info.reads_memory and not m.info.writes_memory


def rename(m: MOp, regs: dict[int, int], *, writes: bool = True) -> MOp:
    """``m`` with its register operands mapped through ``regs``: the ones it
    reads, and with ``writes`` also the one it writes."""
    if m.op is None:
        return m.replace(a=regs.get(m.a, m.a))
    info = m.info
    changes = {}
    if writes and (Operand.DST in info.operands or info.reads_dst) and m.dst in regs:
        changes["dst"] = regs[m.dst]
    if Operand.A in info.operands and m.a in regs:
        changes["a"] = regs[m.a]
    if Operand.B in info.operands and m.b in regs:
        changes["b"] = regs[m.b]
    return m.replace(**changes) if changes else m


def is_pure(m: MOp) -> bool:
    """No effect but its result: it may be removed when dead or moved above a
    branch. A load of a field of the context is, as it cannot fault."""
    if m.op is None:
        return False
    if m.info.unit is Unit.LSU:
        return is_load(m) and m.space is Space.CONTEXT and 0 <= m.off <= XDP_MD.size - m.info.width
    return m.info.unit in (Unit.ALU, Unit.MUL, Unit.DIV) and m.op is not Op.NOP


def frame_mask(m: MOp, stack_bytes: int) -> int | None:
    """The bytes of the stack frame ``m`` reaches through r10 (a bit mask,
    bit 0 the frame's lowest byte), or None if it is no access through r10
    inside the frame."""
    if m.op is None or m.info.unit is not Unit.LSU or m.a != FP:
        return None
    start = stack_bytes + m.off
    if start < 0 or start + m.info.width > stack_bytes:
        return None
    return ((1 << m.info.width) - 1) << start


MIR = Dialect(uses, defs, is_pure)
