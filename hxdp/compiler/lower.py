"""Lowering: eBPF functions to machine IR, one operation for each eBPF
instruction (two for a 64-bit constant that needs both halves).

ALU operations become three-operand (``dst = dst op src``, which the
copy-propagation pass later turns into ``dst = a op b``), jumps name their
target block, and map references become the target's map operations. What
the target cannot do is refused here, naming the instruction.
"""

from __future__ import annotations

from typing import Mapping

from ..ebpf.helpers import ARITY, HelperId
from ..ebpf.isa import Form, Insn, Kind, Pseudo, sign_extend
from ..ebpf.program import Program
from ..errors import HxdpError
from ..target import OPS_BY_CODE, Op
from .cfg import Cfg, build_cfg, functions
from .mir import MOp

__all__ = ["CompileError", "lower", "lower_insn"]

M32 = (1 << 32) - 1
_BY_EBPF: dict[tuple[str, Form], Op] = {info.ebpf: op for op, info in OPS_BY_CODE.items() if info.ebpf}


class CompileError(HxdpError):
    """The program cannot be compiled for the target; the message says why and where."""


def _constant(dst: int, value: int, origin: tuple[int, ...]) -> list[MOp]:
    value &= (1 << 64) - 1
    signed = sign_extend(value, 64)
    if -(1 << 31) <= signed < (1 << 31):
        return [MOp(Op.MOVI, dst, imm=signed, origin=origin)]
    low = MOp(Op.MOV32I, dst, imm=sign_extend(value, 32), origin=origin)
    if value <= M32:
        return [low]
    return [low, MOp(Op.LDHI, dst, a=dst, imm=sign_extend(value >> 32, 32), origin=origin)]


def lower_insn(insn: Insn, where: str, arity: Mapping[int, int] = ARITY,
               target: int | None = None) -> list[MOp]:
    """The operations for one instruction; ``target`` is the block a jump goes to."""
    spec, form, o = insn.spec, insn.spec.form, (insn.pc,)
    mnemonic = spec.mnemonic
    if spec.kind is Kind.ALU:
        op = _BY_EBPF[(mnemonic, form)]
        if mnemonic.startswith("mov"):
            return [MOp(op, insn.dst, a=insn.src, imm=insn.imm, origin=o)]
        if form is Form.UNARY:
            return [MOp(op, insn.dst, a=insn.dst, origin=o)]
        return [MOp(op, insn.dst, a=insn.dst, b=insn.src, imm=insn.imm, origin=o)]
    if spec.kind is Kind.END:
        name = {"le": "ZEXT", "be": "BSWAP", "bs": "BSWAP"}[mnemonic[:2]]
        return [MOp(Op[f"{name}{spec.width}"], insn.dst, a=insn.dst, origin=o)]
    if spec.kind is Kind.LOAD:
        op = Op[f"LD{'S' if spec.signed else ''}{spec.width}"]
        return [MOp(op, insn.dst, a=insn.src, off=insn.off, origin=o)]
    if spec.kind is Kind.STORE:
        if form is Form.STORE_IMM:
            return [MOp(Op[f"ST{spec.width}I"], a=insn.dst, imm=insn.imm, off=insn.off, origin=o)]
        return [MOp(Op[f"ST{spec.width}"], a=insn.dst, b=insn.src, off=insn.off, origin=o)]
    if spec.kind is Kind.ATOMIC:
        op = _BY_EBPF[(mnemonic, form)]
        dst = 0 if "cmpxchg" in mnemonic else insn.src
        return [MOp(op, dst, a=insn.dst, b=insn.src, off=insn.off, origin=o)]
    if spec.kind is Kind.LDDW:
        if insn.src == Pseudo.IMM64:
            return _constant(insn.dst, insn.imm, o)
        if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
            return [MOp(Op.LDMAP, insn.dst, imm=insn.imm & M32, origin=o)]
        if insn.src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
            offset = (insn.imm >> 32) & M32
            if offset < 1 << 15:
                return [MOp(Op.LDMAPV, insn.dst, imm=insn.imm & M32, off=offset, origin=o)]
            return [MOp(Op.LDMAPV, insn.dst, imm=insn.imm & M32, origin=o),
                    MOp(Op.ADDI, insn.dst, a=insn.dst, imm=sign_extend(offset, 32), origin=o)]
        raise CompileError(f"{where}: lddw with source {Pseudo(insn.src).name} (BTF ids, function "
                           "pointers) has no hxdp equivalent")
    if spec.kind is Kind.JUMP:
        if form in (Form.JA, Form.JA32):
            return [MOp(Op.JUMP, target=target, origin=o)]
        op = _BY_EBPF[(mnemonic, form)]
        return [MOp(op, a=insn.dst, b=insn.src, imm=insn.imm, target=target, origin=o)]
    if spec.kind is Kind.CALL:
        if form is Form.CALL_LOCAL:
            return [MOp(None, a=10, callee=insn.call_target, origin=o)]
        if form is Form.CALL:
            if insn.imm == HelperId.TAIL_CALL:
                raise CompileError(f"{where}: bpf_tail_call is not supported on hxdp cores; "
                                   "merge the programs into one")
            return [MOp(Op.CALL, imm=insn.imm, nargs=arity.get(insn.imm, 5), origin=o)]
        if form is Form.CALLX:
            return [MOp(Op.CALLR, a=insn.dst, origin=o)]
        raise CompileError(f"{where}: kfunc calls (BTF id {insn.imm}) cannot be compiled for hxdp: "
                           "only helpers and BPF-to-BPF calls")
    if spec.kind is Kind.EXIT:
        return [MOp(Op.EXIT, a=0, origin=o)]
    raise CompileError(f"{where}: {mnemonic}: legacy packet loads are for socket filters, "
                       "not XDP programs")


def lower(program: Program, arity: Mapping[int, int] = ARITY) -> dict[int, Cfg]:
    """Every function of ``program`` in machine IR, by its first pc; the
    blocks keep the ids and edges of the eBPF graphs."""
    out: dict[int, Cfg] = {}
    for name, insns in functions(program):
        cfg = build_cfg(name, insns)
        for block in cfg.blocks:
            ops: list[MOp] = []
            for insn in block.insns:
                target = block.succs[0] if insn.jump_target is not None else None
                ops += lower_insn(insn, program.where(insn.pc), arity, target)
            block.insns = ops
        out[insns[0].pc] = cfg
    return out
