"""Slot layout and per-slot decode, generated from `hxdp.target`."""

import enum

from amaranth.hdl import Module, Signal, Value, signed, unsigned
from amaranth.lib import data

from ..ebpf.isa import AtomicOp
from ..target import OPS_BY_CODE, SLOT_FIELDS, Op, Operand, Unit, ebpf_spec
from .alu import ALU_CONTROL, COMPARE_CONTROL, alu_control, compare_control

__all__ = ["slot_layout", "row_layout", "decode_layout", "decoded", "stored_slot_layout", "stored_row_layout",
           "stored_row", "store_row", "Atomic"]


def slot_layout() -> data.StructLayout:
    """The slot as `SLOT_FIELDS` defines it, least significant field first."""
    return data.StructLayout({f.name: signed(f.width) if f.signed else unsigned(f.width)
                              for f in SLOT_FIELDS})


def row_layout(lanes: int) -> data.ArrayLayout:
    return data.ArrayLayout(slot_layout(), lanes)


class Atomic(enum.IntEnum):
    """What an atomic writes back; from eBPF's atomic imm."""
    ADD = 0
    OR = 1
    AND = 2
    XOR = 3
    XCHG = 4
    CMPXCHG = 5


_ATOMIC_OF = {AtomicOp.ADD: Atomic.ADD, AtomicOp.OR: Atomic.OR, AtomicOp.AND: Atomic.AND,
              AtomicOp.XOR: Atomic.XOR, AtomicOp.XCHG: Atomic.XCHG, AtomicOp.CMPXCHG: Atomic.CMPXCHG}


def decode_layout() -> data.StructLayout:
    """What the core needs to know about one slot's operation: decoded once,
    as the row is written into instruction memory, and carried to issue in
    registers, so that no decode table sits on the core's paths."""
    return data.StructLayout({
        "known": 1,           # an operation of the encoding (others fault)
        "active": 1,          # not a nop
        "alu": 1,
        "mul": 1,
        "div": 1,
        "load": 1,            # reads memory (loads and atomics)
        "store": 1,           # writes memory (stores and atomics)
        "branch": 1,          # conditional branch with a comparator case
        "jump": 1,
        "bounds": 1,          # bout / bin
        "bounds_out": 1,
        "exit": 1,
        "helper": 1,          # call (helper number in imm, or in register a: callr)
        "ldmap": 1,           # dst = handle of map imm
        "ldmapv": 1,          # dst = address of map imm's values + off
        "uses_a": 1,
        "uses_b": 1,          # register b
        "uses_imm": 1,        # b is the immediate
        "reads_dst": 1,
        "writes_dst": 1,
        "size": range(9),     # bytes accessed
        "sign_extends": 1,
        "never_faults": 1,
        "atomic": Atomic,
        "wide": 1,            # 64-bit multiply
        "alu_ctl": ALU_CONTROL,
        "cmp_ctl": COMPARE_CONTROL,
    })


def decoded(code: int) -> data.Const:
    """The decode of operation code ``code`` (one this core does not know:
    active and not known, so it faults)."""
    if code == Op.NOP:
        return decode_layout().const({})
    info = OPS_BY_CODE.get(code)
    if info is None:
        return decode_layout().const({"active": 1})
    op = Op(code)
    unit, ops = info.unit, info.operands
    fields = {
        "known": 1, "active": 1,
        "alu": unit is Unit.ALU, "mul": unit is Unit.MUL, "div": unit is Unit.DIV,
        "load": info.reads_memory, "store": info.writes_memory,
        "branch": unit is Unit.BRANCH and info.ebpf is not None,
        "jump": op is Op.JUMP, "bounds": info.reads_packet_end, "bounds_out": op is Op.BOUT,
        "exit": unit is Unit.EXIT, "helper": unit is Unit.HELPER,
        "ldmap": op is Op.LDMAP, "ldmapv": op is Op.LDMAPV,
        "uses_a": Operand.A in ops, "uses_b": Operand.B in ops, "uses_imm": Operand.IMM in ops,
        "reads_dst": info.reads_dst, "writes_dst": Operand.DST in ops,
        "sign_extends": info.sign_extends, "never_faults": info.never_faults, "wide": info.width == 64,
    }
    if unit is Unit.ALU:
        fields["alu_ctl"] = alu_control(op).const()
    if unit is Unit.BRANCH and info.ebpf:
        fields["cmp_ctl"] = compare_control(op).const()
    if unit is Unit.LSU:
        fields["size"] = info.width
        if info.reads_memory and info.writes_memory:
            imm = ebpf_spec(op).imm
            fields["atomic"] = _ATOMIC_OF[AtomicOp(imm if imm in (AtomicOp.XCHG, AtomicOp.CMPXCHG) else imm & ~0x01)]
    return decode_layout().const({k: int(v) if isinstance(v, bool) else v for k, v in fields.items()})


def stored_slot_layout() -> data.StructLayout:
    """A slot as instruction memory holds it: decoded as it is written, so
    that the decode stage reads its controls from block RAM and no decode
    table sits between the memory and the scoreboard. ``to_next``: a branch
    to the row after the slot's own."""
    return data.StructLayout({"slot": slot_layout(), "dec": decode_layout(), "to_next": 1})


def stored_row_layout(lanes: int) -> data.ArrayLayout:
    return data.ArrayLayout(stored_slot_layout(), lanes)


def stored_row(word: int, index: int, lanes: int) -> int:
    """Encoded row ``word``, to be row ``index`` of instruction memory, as
    the memory holds it (its contents from reset)."""
    row = data.Const(row_layout(lanes), word)
    return stored_row_layout(lanes).const([
        {"slot": row[lane], "dec": decoded(row[lane].op), "to_next": row[lane].off & 0xFFFF == index + 1}
        for lane in range(lanes)]).as_value().value


def store_row(m: Module, word: Value, index: Value, lanes: int) -> Value:
    """The gateware of `stored_row`, for the instruction memory's write port."""
    row = data.View(row_layout(lanes), word)
    stored = Signal(stored_row_layout(lanes))
    for lane in range(lanes):
        slot, out = row[lane], stored[lane]
        with m.Switch(slot.op):
            for code in OPS_BY_CODE:
                with m.Case(int(code)):
                    m.d.comb += out.dec.eq(decoded(code))
            with m.Default():
                m.d.comb += out.dec.eq(decoded(-1))
        m.d.comb += [out.slot.eq(slot), out.to_next.eq(slot.off.as_unsigned() == index + 1)]
    return stored
