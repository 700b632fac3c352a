"""Slot layout and per-slot decode, generated from `hxdp.target`."""

import enum

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data

from ..ebpf.isa import AtomicOp
from ..target import OPS_BY_CODE, SLOT_FIELDS, Op, Operand, Unit, ebpf_spec

__all__ = ["slot_layout", "row_layout", "SlotDecode", "decode_slot"]


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


class SlotDecode:
    """What the core needs to know about one slot's operation."""

    def __init__(self, name: str):
        def flag(what: str, shape=1) -> Signal:
            return Signal(shape, name=f"{name}_{what}")
        self.known = flag("known")           # an operation of the encoding (others fault)
        self.active = flag("active")         # not a nop
        self.alu = flag("alu")
        self.mul = flag("mul")
        self.div = flag("div")
        self.load = flag("load")             # reads memory (loads and atomics)
        self.store = flag("store")           # writes memory (stores and atomics)
        self.branch = flag("branch")         # conditional branch with a comparator case
        self.jump = flag("jump")
        self.bounds = flag("bounds")         # bout / bin
        self.bounds_out = flag("bounds_out")
        self.exit = flag("exit")
        self.helper = flag("helper")         # call (helper number in imm, or in register a: callr)
        self.ldmap = flag("ldmap")           # dst = handle of map imm
        self.ldmapv = flag("ldmapv")         # dst = address of map imm's values + off
        self.uses_a = flag("uses_a")
        self.uses_b = flag("uses_b")         # register b
        self.uses_imm = flag("uses_imm")     # b is the immediate
        self.reads_dst = flag("reads_dst")
        self.writes_dst = flag("writes_dst")
        self.size = flag("size", range(9))   # bytes accessed
        self.sign_extends = flag("sign_extends")
        self.never_faults = flag("never_faults")
        self.atomic = flag("atomic", Atomic)
        self.wide = flag("wide")             # 64-bit multiply


def decode_slot(m: Module, op: Signal, d: SlotDecode) -> None:
    """Drive ``d`` from the slot's operation code."""
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
                if unit is Unit.LSU:
                    m.d.comb += d.size.eq(info.width)
                    if info.reads_memory and info.writes_memory:
                        m.d.comb += d.atomic.eq(_ATOMIC_OF[AtomicOp(spec.imm & ~0x01)]
                                                if spec.imm not in (AtomicOp.XCHG, AtomicOp.CMPXCHG)
                                                else _ATOMIC_OF[AtomicOp(spec.imm)])
        with m.Default():
            m.d.comb += d.active.eq(1)
