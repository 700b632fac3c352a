"""Assembler and disassembler: round trips and errors that name the line."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from hxdp.ebpf.asm import AsmError, assemble, assemble_hex
from hxdp.ebpf.disasm import disassemble, format_insn
from hxdp.ebpf.isa import Form, Insn

from .test_isa import instructions


@given(st.lists(instructions(), min_size=1, max_size=12))
def test_assemble_inverts_format(insns):
    placed, pc = [], 0
    for insn in insns:
        if insn.spec.form is Form.LDDW:
            insn = Insn(insn.spec, insn.dst, 0, 0, insn.imm)
        placed.append(Insn(insn.spec, insn.dst, insn.src, insn.off, insn.imm, pc))
        pc += insn.slots
    text = "\n".join(format_insn(i) for i in placed)
    assert assemble(text) == placed


def test_labels_and_exit_target():
    insns = assemble("""
        mov %r0, 0
    top:
        add %r0, 1
        jlt %r0, 3, top
        ja exit          # the next exit
        mov %r0, 9
        exit
    """)
    assert [i.off for i in insns if i.mnemonic in ("jlt", "ja")] == [-2, 1]


def test_hex_output():
    assert assemble_hex("mov32 %r0, 2\nexit") == "b400000002000000" + "9500000000000000"


@pytest.mark.parametrize("text, message", [
    ("mov %r0, 1\nfrob %r1", "prog.s:2: unknown mnemonic 'frob'"),
    ("mov %r11, 1", "registers are %r0-%r10"),
    ("add %r1", "takes 2 operands"),
    ("ja nowhere", "unknown label 'nowhere'"),
    ("mov32 %r0, 2147483648", "does not fit in 32 bits"),
    ("ldxw %r0, [%r1+40000]", "does not fit in 16 bits"),
    ("lock or [%r10-8]", "takes 2 operands"),
    ("lock", "invalid number of operands for lock"),
])
def test_errors_name_the_line(text, message):
    with pytest.raises(AsmError, match=message.replace("(", r"\(").replace("[", r"\[").replace("+", r"\+")):
        assemble(text, "prog.s")


def test_listing_shows_labels():
    listing = disassemble(assemble("jeq %r1, 0, +1\nmov %r0, 1\nexit"))
    assert "L2:" in listing and "jeq %r1, 0, L2" in listing
