"""A UART (8N1) and the bridge that carries the engine's control bus over
it, in the engine's clock domain (the protocol: `hxdp.boards.link`)."""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import cdc, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hxdp.gateware.registers import ADDR, STATUS_MAP_READ, STATUS_MAP_WRITE, bus_signature

from .link import COUNTER, IDLE_BYTES, READ, REPLY_BYTES, WRITE

__all__ = ["UartRx", "UartTx", "ControlBridge"]

BIT_TIMES = 10          # start, 8 data, stop
REQUEST_QUEUE = 64      # bytes received and not yet taken


class UartRx(wiring.Component):
    """Bytes from the ``rx`` line, ``divisor`` clocks a bit, sampled mid-bit;
    what takes them must always be ready (the line does not wait)."""

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "bytes": Out(stream.Signature(8))})

    def elaborate(self, platform) -> Module:
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = cdc.FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(self.divisor + self.divisor // 2 + 1))
        bit = Signal(range(9))
        shift = Signal(8)
        m.d.sync += self.bytes.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # The first data bit's middle is a bit and a half away.
                    m.d.sync += [timer.eq(self.divisor + self.divisor // 2 - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(bit + 1)]
                    with m.If(bit == 8):
                        # The stop bit: a byte only if it is there.
                        m.d.sync += [self.bytes.payload.eq(shift), self.bytes.valid.eq(line)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += shift.eq(line << 7 | shift >> 1)
        return m


class UartTx(wiring.Component):
    """Bytes onto the ``tx`` line, ``divisor`` clocks a bit."""

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__({"tx": Out(1, init=1), "bytes": In(stream.Signature(8))})

    def elaborate(self, platform) -> Module:
        m = Module()
        timer = Signal(range(self.divisor))
        bits = Signal(BIT_TIMES)          # what is left to send, least significant first
        # Each step puts a bit on the line; the step after the stop bit ends its time.
        left = Signal(range(BIT_TIMES + 2))
        m.d.comb += self.bytes.ready.eq(left == 0)
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += [bits.eq(1 << 9 | self.bytes.payload << 1), left.eq(BIT_TIMES + 1), timer.eq(0)]
        with m.Elif(left != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [self.tx.eq(bits[0]), bits.eq(bits >> 1 | 1 << (BIT_TIMES - 1)),
                             timer.eq(self.divisor - 1), left.eq(left - 1)]
        return m


class ControlBridge(wiring.Component):
    """Requests from the UART line ``rx``, answers on ``tx`` (``divisor``
    clocks a bit), the engine's control bus driven from ``bus``;
    ``counters`` are the board's counters the ``C`` request reads."""

    def __init__(self, counters: int, divisor: int):
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "bus": Out(bus_signature()),
                          "counters": In(32).array(max(counters, 1))})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.uart_rx = uart_rx = UartRx(self.divisor)
        m.submodules.uart_tx = uart_tx = UartTx(self.divisor)
        # Requests keep coming while a map access waits for its port: a FIFO holds them.
        m.submodules.queue = queue = fifo.SyncFIFOBuffered(width=8, depth=REQUEST_QUEUE)
        m.d.comb += [uart_rx.rx.eq(self.rx), self.tx.eq(uart_tx.tx)]
        wiring.connect(m, uart_rx.bytes, queue.w_stream)
        take, answers = queue.r_stream, uart_tx.bytes
        command = Signal(8)
        operands = Signal(40)                # addr, then the value's bytes
        got = Signal(range(6))
        answer = Signal(32)
        sent = Signal(range(REPLY_BYTES + 1))
        quiet = Signal(range(IDLE_BYTES * BIT_TIMES * self.divisor + 1))
        bus = self.bus
        counters = Array(self.counters)
        counter_bits = max(1, (len(counters) - 1).bit_length())
        with m.FSM():
            with m.State("COMMAND"):
                m.d.comb += take.ready.eq(1)
                with m.If(take.valid & ((take.payload == WRITE) | (take.payload == READ) |
                                        (take.payload == COUNTER))):
                    m.d.sync += [command.eq(take.payload), got.eq(0), quiet.eq(0)]
                    m.next = "OPERANDS"
            with m.State("OPERANDS"):
                m.d.comb += take.ready.eq(1)
                m.d.sync += quiet.eq(quiet + 1)
                with m.If(take.valid):
                    m.d.sync += [operands.word_select(got, 8).eq(take.payload), got.eq(got + 1), quiet.eq(0)]
                    with m.If(got + 1 == Mux(command == WRITE, 5, 1)):
                        m.next = "DO"
                with m.Elif(quiet == IDLE_BYTES * BIT_TIMES * self.divisor):
                    m.next = "COMMAND"
            with m.State("DO"):
                m.d.comb += bus.addr.eq(operands[:8])
                with m.If(command == WRITE):
                    m.d.comb += [bus.w_en.eq(1), bus.w_data.eq(operands[8:])]
                    m.next = "SETTLE"
                with m.Elif(command == READ):
                    m.d.comb += bus.r_en.eq(1)
                    m.next = "READ"
                with m.Else():
                    # A number past the board's counters reads 0.
                    known = operands[:8] < len(counters)
                    m.d.sync += [answer.eq(Mux(known, counters[operands[:counter_bits]], 0)), sent.eq(0)]
                    m.next = "ANSWER"
            with m.State("READ"):
                m.d.sync += [answer.eq(bus.r_data), sent.eq(0)]
                m.next = "ANSWER"
            with m.State("ANSWER"):
                m.d.comb += [answers.valid.eq(1), answers.payload.eq(answer.word_select(sent, 8))]
                with m.If(answers.ready):
                    m.d.sync += sent.eq(sent + 1)
                    with m.If(sent == REPLY_BYTES - 1):
                        m.next = "COMMAND"
            with m.State("SETTLE"):
                # A host map access waits for its port: the next request after it is done.
                m.d.comb += [bus.addr.eq(ADDR["STATUS"]), bus.r_en.eq(1)]
                m.next = "POLL"
            with m.State("POLL"):
                with m.If(bus.r_data & (STATUS_MAP_WRITE | STATUS_MAP_READ)):
                    m.d.comb += [bus.addr.eq(ADDR["STATUS"]), bus.r_en.eq(1)]
                with m.Else():
                    m.next = "COMMAND"
        return m
