"""The opcode table: encoding round trips and reserved-field rejection."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from hxdp.ebpf.isa import OPS, DecodeError, Form, Insn, decode, encode, lookup


def test_table_entries_are_distinguishable():
    seen = set()
    for spec in OPS:
        key = (spec.opcode, spec.src if spec.form in (Form.CALL, Form.CALL_LOCAL, Form.CALL_KFUNC) else None,
               spec.off if spec.kind.name == "ALU" else None,
               spec.imm if spec.kind.name in ("END", "ATOMIC") else None)
        assert key not in seen, spec
        seen.add(key)
        assert lookup(spec.opcode, spec.src or 0, spec.off or 0, spec.imm or 0) is spec


@st.composite
def instructions(draw) -> Insn:
    spec = draw(st.sampled_from(OPS))
    fields = {}
    for name, bits, signed in (("dst", 4, False), ("src", 4, False), ("off", 16, True), ("imm", 32, True)):
        fixed = getattr(spec, name, None)
        if name in spec.operands:
            if name in ("dst", "src") and not (spec.form is Form.LDDW and name == "src"):
                value = draw(st.integers(0, 10))
            elif spec.form is Form.LDDW and name == "imm":
                value = draw(st.integers(0, (1 << 64) - 1))
            elif spec.form is Form.LDDW and name == "src":
                value = 0
            else:
                value = draw(st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1))
        else:
            value = fixed or 0
        fields[name] = value
    return Insn(spec, **fields)


@given(st.lists(instructions(), min_size=1, max_size=20))
def test_decode_inverts_encode(insns):
    pc = 0
    placed = []
    for insn in insns:
        placed.append(Insn(insn.spec, insn.dst, insn.src, insn.off, insn.imm, pc))
        pc += insn.slots
    assert decode(encode(placed)) == placed


@pytest.mark.parametrize("raw, reason", [
    ("0701010000000000", "field off"),     # add with an offset
    ("9501000000000000", "field dst"),     # exit with a register
    ("ff00000000000000", "unknown opcode"),
    ("dc00000011000000", "no variant"),    # be17
    ("bf0b000000000000", "no register r11"),
])
def test_bad_slots_are_rejected(raw, reason):
    with pytest.raises(DecodeError, match=reason):
        decode(bytes.fromhex(raw))


def test_lddw_needs_its_second_slot():
    with pytest.raises(DecodeError, match="second slot"):
        decode(bytes.fromhex("1800000001000000"))
