"""Live registers at block boundaries and at every instruction.

What each instruction reads and writes follows the eBPF calling convention:
a helper call reads as many of r1-r5 as the helper takes (a BPF-to-BPF call
or callx: all five) and leaves r0 defined and r1-r5 clobbered (the verifier forbids reading them after the call); exit reads r0;
r10, the frame pointer, is never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ebpf.helpers import ARITY
from ..ebpf.isa import Form, Insn, Kind
from .cfg import Cfg

__all__ = ["uses", "defs", "Dialect", "EBPF", "Liveness", "liveness"]

ARGS = frozenset(range(1, 6))
CALL_DEFS = frozenset(range(0, 6))


def uses(insn: Insn) -> frozenset[int]:
    """Registers the instruction reads."""
    form, kind = insn.spec.form, insn.spec.kind
    if form is Form.CALL and insn.imm in ARITY:
        return frozenset(range(1, 1 + ARITY[insn.imm]))
    if kind is Kind.CALL:
        return ARGS | ({insn.dst} if form is Form.CALLX else frozenset())
    if kind is Kind.EXIT:
        return frozenset({0})
    regs = set()
    if form in (Form.ALU_REG, Form.JUMP_REG, Form.STORE_REG, Form.ATOMIC, Form.LOAD, Form.LD_IND):
        regs.add(insn.src)
    # Every form that names dst reads it, except plain moves, loads and lddw.
    if form in (Form.ALU_REG, Form.ALU_IMM) and insn.spec.op != 0xB0 or form in (
            Form.UNARY, Form.JUMP_REG, Form.JUMP_IMM, Form.STORE_IMM, Form.STORE_REG, Form.ATOMIC):
        regs.add(insn.dst)
    if kind is Kind.ATOMIC and insn.imm == 0xF1:      # cmpxchg compares with r0
        regs.add(0)
    return frozenset(regs)


def defs(insn: Insn) -> frozenset[int]:
    """Registers the instruction writes."""
    form, kind = insn.spec.form, insn.spec.kind
    if kind is Kind.CALL:
        return CALL_DEFS
    if form in (Form.ALU_REG, Form.ALU_IMM, Form.UNARY, Form.LOAD, Form.LDDW):
        return frozenset({insn.dst})
    if form in (Form.LD_ABS, Form.LD_IND):
        return frozenset({0})
    if kind is Kind.ATOMIC:
        if insn.imm == 0xF1:
            return frozenset({0})
        if insn.imm & 0x01:                           # fetch variants and xchg
            return frozenset({insn.src})
    return frozenset()


@dataclass(frozen=True)
class Dialect:
    """What the instructions of one IR read and write, and which of them have
    no effect but their result: eBPF's (`EBPF`) or the machine IR's
    (`hxdp.compiler.mir.MIR`). Liveness and dead-code elimination serve both."""
    uses: Callable[[object], frozenset[int]]
    defs: Callable[[object], frozenset[int]]
    pure: Callable[[object], bool]


EBPF = Dialect(uses, defs, lambda insn: insn.spec.kind in (Kind.ALU, Kind.END, Kind.LDDW))


@dataclass
class Liveness:
    live_in: dict[int, frozenset[int]]
    live_out: dict[int, frozenset[int]]
    dialect: Dialect = EBPF

    def before(self, cfg: Cfg, block: int) -> list[frozenset[int]]:
        """Live registers just before each instruction of ``block``."""
        live = self.live_out[block]
        out = []
        for insn in reversed(cfg.blocks[block].insns):
            live = (live - self.dialect.defs(insn)) | self.dialect.uses(insn)
            out.append(live)
        return out[::-1]

    def after(self, cfg: Cfg, block: int) -> list[frozenset[int]]:
        """Live registers just after each instruction of ``block``."""
        return self.before(cfg, block)[1:] + [self.live_out[block]]


def liveness(cfg: Cfg, dialect: Dialect = EBPF) -> Liveness:
    """Backward dataflow to a fixed point; r10 is live everywhere."""
    uses, defs = dialect.uses, dialect.defs
    gen, kill = {}, {}
    for b in cfg.blocks:
        g: set[int] = set()
        k: set[int] = set()
        for insn in b.insns:
            g |= uses(insn) - k
            k |= defs(insn)
        gen[b.id], kill[b.id] = frozenset(g), frozenset(k)
    live_in = {b.id: frozenset({10}) for b in cfg.blocks}
    live_out = {b.id: frozenset({10}) for b in cfg.blocks}
    order = cfg.reverse_postorder()[::-1] + [b.id for b in cfg.blocks]
    changed = True
    while changed:
        changed = False
        for bid in order:
            out = frozenset({10}).union(*(live_in[s] for s in cfg.blocks[bid].succs))
            inn = gen[bid] | (out - kill[bid])
            if out != live_out[bid] or inn != live_in[bid]:
                live_out[bid], live_in[bid] = out, inn
                changed = True
    return Liveness(live_in, live_out, dialect)
