"""Slot layout and per-slot decode, generated from `hxdp.target`."""

import enum

from amaranth.hdl import Module, Value, signed, unsigned
from amaranth.lib import data

from ..ebpf.isa import AtomicOp
from ..target import OPS_BY_CODE, SLOT_FIELDS, Op, Operand, Unit, ebpf_spec
from .alu import ALU_CONTROL, COMPARE_CONTROL, alu_control, compare_control

__all__ = ["slot_layout", "row_layout", "decode_layout", "decode_slot", "Atomic"]


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
    as the row enters the decode stage, and carried to issue in registers,
    so that no decode table sits on issue's paths."""
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


def decode_slot(m: Module, op: Value, d: data.View) -> None:
    """Drive ``d`` (a view of `decode_layout`) from the slot's operation code."""
    with m.Switch(op):
        with m.Case(int(Op.NOP)):
            pass
        for code, info in OPS_BY_CODE.items():
            if code is Op.NOP:
                continue
            with m.Case(int(code)):
                m.d.comb += d.active.eq(1)
                unit = info.unit
                ops = info.operands
                spec = ebpf_spec(code)
                m.d.comb += [
                    d.known.eq(1),
                    d.alu.eq(unit is Unit.ALU), d.mul.eq(unit is Unit.MUL), d.div.eq(unit is Unit.DIV),
                    d.load.eq(info.reads_memory), d.store.eq(info.writes_memory),
                    d.branch.eq(unit is Unit.BRANCH and info.ebpf is not None),
                    d.jump.eq(code is Op.JUMP), d.bounds.eq(info.reads_packet_end),
                    d.bounds_out.eq(code is Op.BOUT), d.exit.eq(unit is Unit.EXIT),
                    d.helper.eq(unit is Unit.HELPER), d.ldmap.eq(code is Op.LDMAP),
                    d.ldmapv.eq(code is Op.LDMAPV),
                    d.uses_a.eq(Operand.A in ops), d.uses_b.eq(Operand.B in ops),
                    d.uses_imm.eq(Operand.IMM in ops), d.reads_dst.eq(info.reads_dst),
                    d.writes_dst.eq(Operand.DST in ops),
                    d.sign_extends.eq(info.sign_extends), d.never_faults.eq(info.never_faults),
                    d.wide.eq(info.width == 64),
                ]
                if unit is Unit.ALU:
                    m.d.comb += d.alu_ctl.eq(alu_control(code).const())
                if unit is Unit.BRANCH and info.ebpf:
                    m.d.comb += d.cmp_ctl.eq(compare_control(code).const())
                if unit is Unit.LSU:
                    m.d.comb += d.size.eq(info.width)
                    if info.reads_memory and info.writes_memory:
                        m.d.comb += d.atomic.eq(_ATOMIC_OF[AtomicOp(spec.imm & ~0x01)]
                                                if spec.imm not in (AtomicOp.XCHG, AtomicOp.CMPXCHG)
                                                else _ATOMIC_OF[AtomicOp(spec.imm)])
        with m.Default():
            m.d.comb += d.active.eq(1)
