"""The core's single definition: slot encoding round trips, parameter
checks, and docs/isa.md generated from it."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from hxdp.ebpf.interp import condition
from hxdp.ebpf.isa import Insn
from hxdp.errors import HxdpError
from hxdp.target import (OPS_BY_CODE, SLOT_BITS, SLOT_FIELDS, Op, Operand, Slot, Target, Unit, decode_row,
                         decode_slot, ebpf_spec, encode_row, encode_slot, inverse_branch, markdown)

from .conftest import REPO

_FIELD = {f.name: f for f in SLOT_FIELDS}


def _value(draw, name):
    f = _FIELD[name]
    lo, hi = (-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed else (0, (1 << f.width) - 1)
    return draw(st.integers(lo, hi))


@st.composite
def slots(draw) -> Slot:
    op = draw(st.sampled_from(list(Op)))
    used = {o.value for o in OPS_BY_CODE[op].operands}
    return Slot(op, **{name: _value(draw, name) for name in ("dst", "a", "b", "off", "imm") if name in used})


@given(st.lists(slots(), min_size=1, max_size=8))
def test_rows_round_trip(row):
    word = encode_row(row, 8)
    assert word < 1 << (8 * SLOT_BITS)
    assert decode_row(word, 8)[:len(row)] == row
    assert all(s == Slot() for s in decode_row(word, 8)[len(row):])


def test_nop_is_all_zero_and_codes_fit():
    assert encode_slot(Slot()) == 0 and Op.NOP == 0
    assert max(Op) < 1 << _FIELD["op"].width


def test_out_of_range_fields_are_refused():
    with pytest.raises(HxdpError, match="off = 40000 does not fit in 16 bits"):
        encode_slot(Slot(Op.JUMP, off=40000))
    with pytest.raises(HxdpError, match="unknown operation code"):
        decode_slot(255)


def test_every_register_operand_can_name_every_register():
    assert Target(registers=32).registers <= 1 << _FIELD["dst"].width
    assert all(o in Operand for info in OPS_BY_CODE.values() for o in info.operands)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lanes=9), "lanes must be 1 to 8"), (dict(registers=8), "registers must be 11"),
    (dict(branch_slots=5), "branch_slots must be 1 to lanes"), (dict(stack_bytes=100), "multiple of 8"),
])
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(HxdpError, match=message):
        Target(**kwargs)


def test_isa_document_is_generated_from_the_target():
    assert (REPO / "docs" / "isa.md").read_text() == markdown(Target.with_lanes(4)), \
        "docs/isa.md is stale: regenerate it with 'hxdp target --doc > docs/isa.md'"


@given(st.sampled_from([op for op in Op if OPS_BY_CODE[op].unit is Unit.BRANCH and op is not Op.JUMP]),
       st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1))
def test_an_inverted_branch_is_taken_exactly_when_the_branch_is_not(op, a, b):
    inverse = inverse_branch(op)
    if inverse is None:
        assert op.name.startswith("BSET")
        return
    assert inverse_branch(inverse) is op
    if op in (Op.BOUT, Op.BIN):
        assert {op, inverse} == {Op.BOUT, Op.BIN}
        return
    spec, inverse_spec = ebpf_spec(op), ebpf_spec(inverse)
    taken = condition(Insn(spec, 0, 0, 0, 0, 0), a, b)
    assert condition(Insn(inverse_spec, 0, 0, 0, 0, 0), a, b) is not taken
