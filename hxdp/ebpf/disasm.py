"""Disassembler: instructions back to the assembler's syntax.

`format_insn` is the inverse of `hxdp.ebpf.asm.assemble` for one
instruction; `disassemble` lists a whole program with pcs, bytes, labels for
jump targets, function names and map names.
"""

from __future__ import annotations

from typing import Sequence

from .isa import Form, Insn, Pseudo, encode
from .program import Program

__all__ = ["format_insn", "disassemble", "jump_target"]


def _mem(reg: int, off: int) -> str:
    return f"[%r{reg}{off:+d}]"


def jump_target(insn: Insn) -> int | None:
    """The pc a jump or local call goes to, or None."""
    return insn.jump_target if insn.call_target is None else insn.call_target


def format_insn(insn: Insn, labels: dict[int, str] | None = None,
                maps: Sequence[str] = ()) -> str:
    """One instruction as assembly; ``labels`` names jump targets by pc."""
    spec = insn.spec
    f = spec.form
    m = spec.mnemonic
    target = jump_target(insn)
    if target is not None:
        where = labels.get(target) if labels else None
        if where is None:
            delta = target - insn.pc - 1
            where = f"{delta:+d}"
    if f is Form.ALU_REG:
        return f"{m} %r{insn.dst}, %r{insn.src}"
    if f is Form.ALU_IMM:
        return f"{m} %r{insn.dst}, {insn.imm}"
    if f is Form.UNARY:
        return f"{m} %r{insn.dst}"
    if f is Form.LOAD:
        return f"{m} %r{insn.dst}, {_mem(insn.src, insn.off)}"
    if f is Form.STORE_IMM:
        return f"{m} {_mem(insn.dst, insn.off)}, {insn.imm}"
    if f in (Form.STORE_REG, Form.ATOMIC):
        return f"{m} {_mem(insn.dst, insn.off)}, %r{insn.src}"
    if f is Form.LDDW:
        if insn.src == Pseudo.IMM64:
            return f"{m} %r{insn.dst}, {insn.imm:#x}"
        index = insn.imm & 0xFFFFFFFF
        name = maps[index] if index < len(maps) else f"map{index}"
        if insn.src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
            return f"{m} %r{insn.dst}, {name}+{insn.imm >> 32}  # map value"
        return f"{m} %r{insn.dst}, {name}  # {Pseudo(insn.src).name.lower()}"
    if f is Form.LD_ABS:
        return f"{m} {insn.imm}"
    if f is Form.LD_IND:
        return f"{m} %r{insn.src}, {insn.imm}"
    if f in (Form.JA, Form.JA32):
        return f"{m} {where}"
    if f is Form.JUMP_REG:
        return f"{m} %r{insn.dst}, %r{insn.src}, {where}"
    if f is Form.JUMP_IMM:
        return f"{m} %r{insn.dst}, {insn.imm}, {where}"
    if f is Form.CALL:
        return f"call {insn.imm}"
    if f is Form.CALL_LOCAL:
        return f"call local {where}"
    if f is Form.CALL_KFUNC:
        return f"call kfunc {insn.imm}"
    if f is Form.CALLX:
        return f"call %r{insn.dst}"
    return m


def disassemble(insns: Sequence[Insn], program: Program | None = None) -> str:
    """A listing: pc, bytes, and text, with labels where jumps land."""
    functions = program.functions if program else {}
    maps = [mp.name for mp in program.maps] if program else []
    labels: dict[int, str] = dict(functions)
    for insn in insns:
        target = jump_target(insn)
        if target is not None and target not in labels:
            labels[target] = f"L{target}"
    lines = []
    for insn in insns:
        if insn.pc in labels:
            lines.append(f"{labels[insn.pc]}:")
        raw = encode([insn])[:8].hex(" ")
        text = format_insn(insn, labels, maps)
        if program and insn.pc in program.lines:
            line = program.lines[insn.pc]
            text = f"{text:<40} # {line.file}:{line.line} {line.text.strip()}"
        lines.append(f"{insn.pc:5d}  {raw}  {text}")
    return "\n".join(lines)
