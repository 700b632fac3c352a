"""A lane's arithmetic: ALU, branch comparator, multiplier, and the core's divider.

Every operation's meaning comes from the eBPF instruction `hxdp.target`
names for it (``OpInfo.ebpf``), so the hardware cases are generated from
the same table the compiler emits with and the model runs.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.isa import AluOp, JmpOp, Kind
from ..target import OPS_BY_CODE, Op, Operand, Unit, ebpf_spec

__all__ = ["Alu", "Comparator", "Multiplier", "Divider", "DIVIDER_STEPS"]


def _sx(value: Value, bits: int, width: int = 64) -> Value:
    """The low ``bits`` of ``value`` sign-extended to ``width`` bits."""
    return value[:bits].as_signed().as_unsigned() if bits == width else \
        Cat(value[:bits], value[bits - 1].replicate(width - bits))


def _bswap(value: Value, bits: int) -> Value:
    return Cat(*(value[i:i + 8] for i in reversed(range(0, bits, 8))))


def _alu_expr(op: Op, a: Value, b: Value) -> Value:
    """Result of ALU operation ``op`` on a and b (b: register or sign-extended imm)."""
    info = OPS_BY_CODE[op]
    if op is Op.LDHI:
        return Cat(a[:32], b[:32])
    spec = ebpf_spec(op)
    if spec.kind is Kind.END:
        return _bswap(a, spec.width) if spec.mnemonic.startswith("bswap") else a[:spec.width]
    width = spec.width
    if spec.op == AluOp.MOV:
        src = a if Operand.A in info.operands else b
        return _sx(src, spec.off, width) if spec.signed else src[:width]
    x, y = a[:width], b[:width]
    shift = y[:width.bit_length() - 1]
    by_op = {
        AluOp.ADD: lambda: x + y, AluOp.SUB: lambda: x - y, AluOp.OR: lambda: x | y,
        AluOp.AND: lambda: x & y, AluOp.XOR: lambda: x ^ y, AluOp.LSH: lambda: x << shift,
        AluOp.RSH: lambda: x >> shift, AluOp.ARSH: lambda: x.as_signed() >> shift,
        AluOp.NEG: lambda: -x,
    }
    return by_op[AluOp(spec.op)]()[:width]


def _by_op(m: Module, selector: Value, out: Value, ops, expr) -> None:
    """``out`` = ``expr(op)`` for the operation code in ``selector``; 0 for others."""
    with m.Switch(selector):
        for op in ops:
            with m.Case(int(op)):
                m.d.comb += out.eq(expr(op))


def _alu_ops() -> list[Op]:
    return [op for op, info in OPS_BY_CODE.items()
            if info.unit is Unit.ALU and op not in (Op.NOP, Op.LDMAP, Op.LDMAPV)]


class Alu(wiring.Component):
    """Combinational: ``result`` of ``op`` on ``a`` and ``b``, zero-extended to 64 bits."""
    op: In(8)
    a: In(64)
    b: In(64)
    result: Out(64)

    def elaborate(self, platform) -> Module:
        m = Module()
        _by_op(m, self.op, self.result, _alu_ops(), lambda op: _alu_expr(op, self.a, self.b))
        return m


def _condition(op: Op, a: Value, b: Value) -> Value:
    spec = ebpf_spec(op)
    width = spec.width
    x, y = a[:width], b[:width]
    if spec.signed:
        x, y = x.as_signed(), y.as_signed()
    return {
        JmpOp.JEQ: lambda: x == y, JmpOp.JNE: lambda: x != y,
        JmpOp.JGT: lambda: x > y, JmpOp.JGE: lambda: x >= y,
        JmpOp.JLT: lambda: x < y, JmpOp.JLE: lambda: x <= y,
        JmpOp.JSGT: lambda: x > y, JmpOp.JSGE: lambda: x >= y,
        JmpOp.JSLT: lambda: x < y, JmpOp.JSLE: lambda: x <= y,
        JmpOp.JSET: lambda: (x & y) != 0,
    }[JmpOp(spec.op)]()


class Comparator(wiring.Component):
    """Combinational: whether conditional branch ``op`` is taken for ``a`` and ``b``."""
    op: In(8)
    a: In(64)
    b: In(64)
    taken: Out(1)

    def elaborate(self, platform) -> Module:
        m = Module()
        branches = [op for op, info in OPS_BY_CODE.items() if info.unit is Unit.BRANCH and info.ebpf]
        _by_op(m, self.op, self.taken, branches, lambda op: _condition(op, self.a, self.b))
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
