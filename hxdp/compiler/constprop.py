"""Constant and copy propagation, with folding of constant computations and
branches.

A forward dataflow pass: at each instruction, which registers hold a known
constant and which hold a copy of another register. Uses of constants
become immediates (``add r1, r2`` with r2 = 5 becomes ``add r1, 5``),
computations on constants become moves of their result (evaluated with the
interpreter's own `alu`), branches on constants become jumps or disappear,
stores of constants store immediates, and uses of copies read the
original register, so that dead-code elimination can drop the moves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..ebpf.interp import alu, condition
from ..ebpf.isa import AluOp, Form, Insn, Kind, Pseudo, by_mnemonic, sign_extend
from .cfg import Cfg
from .dataflow import meet_agreeing, solve_forward
from .liveness import defs

__all__ = ["propagate_constants"]

M32 = (1 << 32) - 1
M64 = (1 << 64) - 1


@dataclass(frozen=True)
class Const:
    value: int


@dataclass(frozen=True)
class Copy:
    reg: int


Fact = Const | Copy
State = dict[int, Fact]


def _spec(mnemonic: str, form: Form, off: int = 0):
    return next(s for s in by_mnemonic(mnemonic) if s.form is form and (s.off or 0) == off)


def _fits_imm(value: int, width: int) -> int | None:
    """The 32-bit immediate that stands for ``value`` in an op of ``width`` bits, or None."""
    signed = sign_extend(value, width)
    return signed if -(1 << 31) <= signed < (1 << 31) else None


def _move(insn: Insn, value: int) -> Insn:
    """The shortest instruction putting ``value`` in insn.dst: mov, mov32 or lddw."""
    imm = _fits_imm(value, 64)
    if imm is not None:
        return Insn(_spec("mov", Form.ALU_IMM), insn.dst, 0, 0, imm, insn.pc)
    if value <= M32:
        return Insn(_spec("mov32", Form.ALU_IMM), insn.dst, 0, 0, _fits_imm(value, 32), insn.pc)
    return Insn(_spec("lddw", Form.LDDW), insn.dst, Pseudo.IMM64, 0, value & M64, insn.pc)


def _kill(state: State, regs: frozenset[int]) -> None:
    for r in list(state):
        fact = state[r]
        if r in regs or isinstance(fact, Copy) and fact.reg in regs:
            del state[r]


def _transfer(insn: Insn, state: State) -> None:
    spec = insn.spec
    value: Fact | None = None
    if spec.form is Form.LDDW and insn.src == Pseudo.IMM64:
        value = Const(insn.imm)
    elif spec.kind in (Kind.ALU, Kind.END):
        a = state.get(insn.dst)
        b = state.get(insn.src) if spec.form is Form.ALU_REG else Const(insn.imm & M64)
        if spec.kind is Kind.ALU and spec.op == AluOp.MOV:
            if isinstance(b, Const):
                value = Const(alu(insn, 0, b.value))
            elif spec.form is Form.ALU_REG and spec.width == 64 and not spec.signed \
                    and insn.src != insn.dst:
                value = Copy(insn.src)
        elif spec.form is Form.UNARY:
            if isinstance(a, Const):
                value = Const(alu(insn, a.value, 0))
        elif isinstance(a, Const) and isinstance(b, Const):
            value = Const(alu(insn, a.value, b.value))
    _kill(state, defs(insn))
    if value is not None and insn.dst != 10:
        state[insn.dst] = value


def _rewrite(insn: Insn, state: State) -> Insn:
    spec, form = insn.spec, insn.spec.form
    # Copies: read the original register where the instruction only reads.
    src = state.get(insn.src)
    if isinstance(src, Copy) and form in (Form.ALU_REG, Form.JUMP_REG, Form.LOAD, Form.STORE_REG):
        insn = dataclasses.replace(insn, src=src.reg)
    dst = state.get(insn.dst)
    if isinstance(dst, Copy) and form in (Form.JUMP_REG, Form.JUMP_IMM, Form.STORE_IMM, Form.STORE_REG):
        insn = dataclasses.replace(insn, dst=dst.reg)
    # Constants: fold whole computations into a move of their result.
    already_a_move = form is Form.LDDW or spec.op == AluOp.MOV and form is Form.ALU_IMM
    if spec.kind in (Kind.ALU, Kind.END) and not already_a_move:
        after = dict(state)
        _transfer(insn, after)
        result = after.get(insn.dst)
        if isinstance(result, Const):
            move = _move(insn, result.value)
            if move.slots <= insn.slots:
                return move
    src = state.get(insn.src)
    if isinstance(src, Const) and form is Form.STORE_REG:
        imm = _fits_imm(src.value, 8 * spec.width)    # an imm sign-extends to the access's bytes
        if imm is not None:
            return Insn(_spec("st" + spec.mnemonic[3:], Form.STORE_IMM), insn.dst, 0, insn.off, imm, insn.pc)
    if isinstance(src, Const) and form in (Form.ALU_REG, Form.JUMP_REG):
        width = spec.width
        value = src.value
        if form is Form.ALU_REG and spec.op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
            value &= width - 1          # the same shift, in the range the verifier accepts
        imm = _fits_imm(value, width)
        if imm == 0 and form is Form.ALU_REG and spec.op in (AluOp.DIV, AluOp.MOD):
            imm = None                  # the verifier refuses a division by the constant 0
        if imm is not None and (form is Form.JUMP_REG or not spec.signed or spec.op != AluOp.MOV):
            target = Form.ALU_IMM if form is Form.ALU_REG else Form.JUMP_IMM
            new = next((s for s in by_mnemonic(spec.mnemonic) if s.form is target), None)
            if new is not None:
                return Insn(new, insn.dst, 0, insn.off if form is Form.JUMP_REG else new.off or 0, imm, insn.pc)
    return insn


def _fold_branch(cfg: Cfg, block, state: State) -> bool:
    """Resolve a conditional jump ending ``block`` whose operands are known
    (``state`` holds the facts just before it)."""
    last = block.insns[-1]
    if last.spec.form not in (Form.JUMP_REG, Form.JUMP_IMM):
        return False
    a = state.get(last.dst)
    b = state.get(last.src) if last.spec.form is Form.JUMP_REG else Const(last.imm & M64)
    if not (isinstance(a, Const) and isinstance(b, Const)):
        return False
    taken, fall = block.succs[0], block.succs[-1]
    if condition(last, a.value, b.value):
        block.insns[-1] = Insn(_spec("ja", Form.JA), 0, 0, last.off, 0, last.pc)
        keep, drop = taken, fall
    else:
        block.insns.pop()
        keep, drop = fall, taken
    block.succs = [keep]
    if drop != keep:
        cfg.blocks[drop].preds.remove(block.id)
    return True


def _entry_state(block, out: dict[int, State]) -> State:
    return meet_agreeing([out[p] for p in block.preds if p in out]) if block.id else {}


def propagate_constants(cfg: Cfg) -> int:
    """Rewrite ``cfg`` in place; returns how many instructions changed."""
    def step(insn: Insn, state: State) -> State:
        _transfer(insn, state)
        return state

    out = solve_forward(cfg, lambda bid, out: _entry_state(cfg.blocks[bid], out), step)
    rewritten = 0
    for bid in cfg.reverse_postorder():
        block = cfg.blocks[bid]
        state = _entry_state(block, out)
        new = []
        before_last: State = {}
        for insn in block.insns:
            before_last = dict(state)
            better = _rewrite(insn, state)
            rewritten += better != insn
            new.append(better)
            _transfer(better, state)
        block.insns = new
        if new and _fold_branch(cfg, block, before_last):
            rewritten += 1
    return rewritten
