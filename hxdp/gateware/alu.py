"""A lane's arithmetic: ALU, branch comparator, multiplier, and the core's divider.

Every operation's meaning comes from the eBPF instruction `hxdp.target`
names for it (``OpInfo.ebpf``), so the hardware cases are generated from
the same table the compiler emits with and the model runs.
"""

import enum
from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.isa import AluOp, JmpOp, Kind
from ..target import OPS_BY_CODE, Op, Operand, Unit, ebpf_spec

__all__ = ["Alu", "AluControl", "ALU_CONTROL", "alu_control", "Func", "Comparator", "CompareControl",
           "COMPARE_CONTROL", "compare_control", "Condition", "Multiplier", "Divider", "DIVIDER_STEPS"]


def _sx(value: Value, bits: int, width: int = 64) -> Value:
    """The low ``bits`` of ``value`` sign-extended to ``width`` bits."""
    return value[:bits].as_signed().as_unsigned() if bits == width else \
        Cat(value[:bits], value[bits - 1].replicate(width - bits))


def _bswap(value: Value, bits: int) -> Value:
    return Cat(*(value[i:i + 8] for i in reversed(range(0, bits, 8))))


class Func(enum.IntEnum):
    """The ALU's datapaths; every ALU operation is one of them at a width."""
    ADD = 0
    SUB = 1
    NEG = 2
    OR = 3
    AND = 4
    XOR = 5
    LSH = 6
    RSH = 7
    ARSH = 8
    MOV = 9          # a or b, the low ``bits`` (sign-extended when ``signed``)
    BSWAP = 10       # a's low ``bits``, bytes reversed
    LDHI = 11        # a's low word, b's low word above it


_FUNC_OF = {AluOp.ADD: Func.ADD, AluOp.SUB: Func.SUB, AluOp.NEG: Func.NEG, AluOp.OR: Func.OR,
            AluOp.AND: Func.AND, AluOp.XOR: Func.XOR, AluOp.LSH: Func.LSH, AluOp.RSH: Func.RSH,
            AluOp.ARSH: Func.ARSH, AluOp.MOV: Func.MOV}

# The widths ``bits`` selects between (sign extension, zero extension, swaps).
_BITS = (8, 16, 32, 64)


@dataclass(frozen=True)
class AluControl:
    """What one ALU operation asks of the datapaths."""
    func: Func
    narrow: bool = False     # a 32-bit operation: 32-bit shifts, result zero-extended
    bits: int = 64
    signed: bool = False
    from_a: bool = True      # MOV's source

    def const(self) -> data.Const:
        """As a constant of `ALU_CONTROL`."""
        return ALU_CONTROL.const({"func": self.func, "narrow": self.narrow, "bits": _BITS.index(self.bits),
                                  "signed": self.signed, "from_a": self.from_a})


# The controls in hardware: decoded with the slot (hxdp.gateware.decode).
ALU_CONTROL = data.StructLayout({"func": Func, "narrow": 1, "bits": range(len(_BITS)), "signed": 1,
                                 "from_a": 1})


def alu_control(op: Op) -> AluControl:
    """The datapath settings for ``op``, from the eBPF instruction it computes like."""
    if op is Op.LDHI:
        return AluControl(Func.LDHI)
    if op in (Op.LDMAP, Op.LDMAPV):
        # The map's handle or values' address is operand b (the core finds it in decode).
        return AluControl(Func.MOV, from_a=False)
    spec = ebpf_spec(op)
    if spec.kind is Kind.END:
        swap = spec.mnemonic.startswith("bswap")
        # A conversion to little-endian only cuts a to its low bits: a move.
        return AluControl(Func.BSWAP if swap else Func.MOV, bits=spec.width)
    narrow = spec.width == 32
    if spec.op == AluOp.MOV:
        return AluControl(Func.MOV, narrow, spec.off if spec.signed else 64, spec.signed,
                          Operand.A in OPS_BY_CODE[op].operands)
    return AluControl(_FUNC_OF[AluOp(spec.op)], narrow)


def _by_width(m: Module, bits: Value, out: Value, expr) -> None:
    """``out`` = ``expr(n)`` for the width n that ``bits`` (an index into _BITS) selects."""
    with m.Switch(bits):
        for i, n in enumerate(_BITS):
            with m.Case(i):
                m.d.comb += out.eq(expr(n))


class Alu(wiring.Component):
    """Combinational: ``result`` of the operation ``ctl`` sets (``alu_control``)
    on ``a`` and ``b``, zero-extended to 64 bits.

    One adder, one shifter each way and one extender serve every operation:
    the operation only sets their controls."""
    ctl: In(ALU_CONTROL)
    a: In(64)
    b: In(64)
    result: Out(64)

    def elaborate(self, platform) -> Module:
        m = Module()
        ctl = self.ctl
        func, narrow, signed_, from_a, bits = ctl.func, ctl.narrow, ctl.signed, ctl.from_a, ctl.bits
        a, b = self.a, self.b
        # Adder: a + b, a - b, 0 - a.
        negate = (func == Func.SUB) | (func == Func.NEG)
        p = Mux(func == Func.NEG, 0, a)
        q = Mux(func == Func.NEG, a, b)
        total = Signal(64)
        m.d.comb += total.eq(p + (q ^ negate.replicate(64)) + negate)
        # Shifts: a 32-bit shift takes its amount mod 32 and shifts the low word.
        amount = Mux(narrow, b[:5], b[:6])
        arith = func == Func.ARSH
        word = Mux(narrow, Mux(arith, _sx(a, 32), a[:32]), a)
        left, right = Signal(64), Signal(64)
        m.d.comb += [left.eq(a << amount), right.eq(Cat(word, arith & word[63]).as_signed() >> amount)]
        # Moves and byte order.
        src = Mux(from_a, a, b)
        extended, swapped = Signal(64), Signal(64)
        _by_width(m, bits, extended, lambda n: Mux(signed_, _sx(src, n), src[:n]))
        _by_width(m, bits, swapped, lambda n: _bswap(a, n))
        value = Signal(64)
        with m.Switch(func):
            for f, expr in ((Func.ADD, total), (Func.SUB, total), (Func.NEG, total), (Func.OR, a | b),
                            (Func.AND, a & b), (Func.XOR, a ^ b), (Func.LSH, left), (Func.RSH, right),
                            (Func.ARSH, right), (Func.MOV, extended),
                            (Func.BSWAP, swapped), (Func.LDHI, Cat(a[:32], b[:32]))):
                with m.Case(f):
                    m.d.comb += value.eq(expr)
        m.d.comb += self.result.eq(Mux(narrow, value[:32], value))
        return m


class Condition(enum.IntEnum):
    EQ = 0
    NE = 1
    GT = 2
    GE = 3
    LT = 4
    LE = 5
    SET = 6


_CONDITION_OF = {JmpOp.JEQ: Condition.EQ, JmpOp.JNE: Condition.NE, JmpOp.JGT: Condition.GT,
                 JmpOp.JGE: Condition.GE, JmpOp.JLT: Condition.LT, JmpOp.JLE: Condition.LE,
                 JmpOp.JSGT: Condition.GT, JmpOp.JSGE: Condition.GE, JmpOp.JSLT: Condition.LT,
                 JmpOp.JSLE: Condition.LE, JmpOp.JSET: Condition.SET}


@dataclass(frozen=True)
class CompareControl:
    """What one conditional branch asks of the comparator."""
    cond: Condition
    narrow: bool             # compares the low words
    signed: bool

    def const(self) -> data.Const:
        """As a constant of `COMPARE_CONTROL`."""
        return COMPARE_CONTROL.const({"cond": self.cond, "narrow": self.narrow, "signed": self.signed})


COMPARE_CONTROL = data.StructLayout({"cond": Condition, "narrow": 1, "signed": 1})


def compare_control(op: Op) -> CompareControl:
    """The comparator's settings for conditional branch ``op``."""
    spec = ebpf_spec(op)
    return CompareControl(_CONDITION_OF[JmpOp(spec.op)], spec.width == 32, spec.signed)


class Comparator(wiring.Component):
    """Combinational: whether the conditional branch ``ctl`` sets
    (``compare_control``) is taken for ``a`` and ``b``. One subtractor gives
    "less than" for every width and signedness."""
    ctl: In(COMPARE_CONTROL)
    a: In(64)
    b: In(64)
    taken: Out(1)

    def elaborate(self, platform) -> Module:
        m = Module()
        cond, narrow, signed_ = self.ctl.cond, self.ctl.narrow, self.ctl.signed

        def extend(v: Value) -> Value:
            """To 65 bits, so that one subtraction orders signed and unsigned values."""
            word = Mux(narrow, Mux(signed_, _sx(v, 32), v[:32]), v)
            return Cat(word, signed_ & word[63])
        x, y = Signal(65), Signal(65)
        m.d.comb += [x.eq(extend(self.a)), y.eq(extend(self.b))]
        eq = x == y
        lt = (x - y)[64]
        with m.Switch(cond):
            for c, expr in ((Condition.EQ, eq), (Condition.NE, ~eq), (Condition.GT, ~lt & ~eq),
                            (Condition.GE, ~lt), (Condition.LT, lt), (Condition.LE, lt | eq),
                            (Condition.SET, (x[:64] & y[:64]) != 0)):
                with m.Case(c):
                    m.d.comb += self.taken.eq(expr)
        return m


class Multiplier(wiring.Component):
    """Operands registered at ``start``; in the next cycle ``result`` is
    ``a * b`` (64 or 32 bits), for the register file to take at its end."""
    start: In(1)
    wide: In(1)              # 64-bit product, else 32-bit
    a: In(64)
    b: In(64)
    result: Out(64)

    def elaborate(self, platform) -> Module:
        m = Module()
        a, b, wide = Signal(64), Signal(64), Signal()
        with m.If(self.start):
            m.d.sync += [a.eq(self.a), b.eq(self.b), wide.eq(self.wide)]
        product = Signal(64)
        m.d.comb += [product.eq(a * b), self.result.eq(Mux(wide, product, product[:32]))]
        return m


# Cycles of the divider's iteration: two quotient bits each, for 64 bits.
DIVIDER_STEPS = 32


class Divider(wiring.Component):
    """eBPF's div, sdiv, mod and smod, 64 or 32 bits: operands latched at
    ``start``, two restoring steps a cycle for ``DIVIDER_STEPS`` cycles, then
    a cycle for the signs and the division-by-zero rules, in which ``done``
    is high and ``result`` valid (``DIVIDER_STEPS`` + 1 cycles after start)."""
    start: In(1)
    op: In(8)
    a: In(64)
    b: In(64)
    result: Out(64)
    done: Out(1)

    def elaborate(self, platform) -> Module:
        m = Module()
        decode = {op: ebpf_spec(op) for op, info in OPS_BY_CODE.items() if info.unit is Unit.DIV}
        wide, signed_, modulo = Signal(), Signal(), Signal()
        with m.Switch(self.op):
            for op, spec in decode.items():
                with m.Case(int(op)):
                    m.d.comb += [wide.eq(spec.width == 64), signed_.eq(spec.signed),
                                 modulo.eq(spec.op == AluOp.MOD)]
        # The operands as 64-bit values (32-bit ones extended by their signedness).
        x = Mux(wide, self.a, Mux(signed_, _sx(self.a, 32), self.a[:32]))
        y = Mux(wide, self.b, Mux(signed_, _sx(self.b, 32), self.b[:32]))
        neg_x = signed_ & x[63]
        neg_y = signed_ & y[63]

        r_wide, r_mod, r_zero, r_negq, r_negr = Signal(), Signal(), Signal(), Signal(), Signal()
        r_a = Signal(64)                     # the dividend as given, for x % 0
        divisor = Signal(64)
        rem = Signal(65)
        quo = Signal(64)
        count = Signal(range(DIVIDER_STEPS + 2))
        busy = Signal()
        with m.If(self.start):
            m.d.sync += [
                r_wide.eq(wide), r_mod.eq(modulo), r_zero.eq(y == 0), r_a.eq(x),
                r_negq.eq(neg_x ^ neg_y), r_negr.eq(neg_x),
                divisor.eq(Mux(neg_y, -y, y)), quo.eq(Mux(neg_x, -x, x)), rem.eq(0),
                count.eq(DIVIDER_STEPS), busy.eq(1),
            ]
        with m.Elif(busy & (count != 0)):
            r, q = rem, quo
            for _ in range(2):
                shifted = Cat(q[63], r[:64])
                fits = shifted >= divisor
                r = Mux(fits, shifted - divisor, shifted)[:65]
                q = Cat(fits, q[:63])
            m.d.sync += [rem.eq(r), quo.eq(q), count.eq(count - 1)]
        with m.Elif(busy):
            m.d.sync += busy.eq(0)
        quotient = Mux(r_negq, -quo, quo)[:64]
        remainder = Mux(r_negr, -rem[:64], rem[:64])[:64]
        value = Mux(r_mod, Mux(r_zero, r_a, remainder), Mux(r_zero, 0, quotient))
        m.d.comb += [self.result.eq(Mux(r_wide, value, value[:32])), self.done.eq(busy & (count == 0))]
        return m
