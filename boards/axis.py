"""The engine behind a vendor MAC: the boards whose Ethernet is a hard or
licensed MAC (Xilinx's 10G/25G Ethernet subsystems, CMAC) hand frames over
as AXI4-Stream, and take the host's control over AXI4-Lite.

`AxisPort` is one Ethernet port as the MAC gives it: ``rx`` AXI-Stream in
the MAC's receive clock (``tuser`` on the last beat marks a bad frame,
dropped here), ``tx`` AXI-Stream out in its transmit clock; a
`FrameCrossing` as wide as the MAC's stream takes frames into the engine's
clock and beat and back. `AxiLiteBridge` drives the engine's control bus from
an AXI4-Lite slave port: register n at byte address 4n; the board's
counters from `COUNTER_BASE`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hxdp.gateware.registers import bus_signature
from hxdp.gateware.slice import beat_layout

from .counters import cross_counter
from .framefifo import FrameCrossing

__all__ = ["AXIS_COUNTERS", "COUNTER_BASE", "axis_signature", "axilite_signature", "AxisPort", "AxiLiteBridge"]

AXIS_COUNTERS = ("rx_good", "rx_dropped", "tx_sent")
COUNTER_BASE = 0x400


def axis_signature(data_bytes: int) -> wiring.Signature:
    """An AXI4-Stream master's ports (a slave's is its flip)."""
    return wiring.Signature({"tdata": Out(8 * data_bytes), "tkeep": Out(data_bytes), "tlast": Out(1),
                             "tuser": Out(1), "tvalid": Out(1), "tready": In(1)})


def axilite_signature(addr_bits: int = 12) -> wiring.Signature:
    """An AXI4-Lite master's ports, 32-bit data."""
    return wiring.Signature({
        "awaddr": Out(addr_bits), "awvalid": Out(1), "awready": In(1),
        "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
        "bresp": In(2), "bvalid": In(1), "bready": Out(1),
        "araddr": Out(addr_bits), "arvalid": Out(1), "arready": In(1),
        "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1)})


class AxisPort(wiring.Component):
    """A MAC's AXI-Streams of ``mac_bytes`` (domains ``rx_domain``,
    ``tx_domain``) to the engine's beats of ``frame_bytes`` in ``domain``;
    received packets carry ``ifindex``."""

    def __init__(self, frame_bytes: int, mac_bytes: int, ifindex: int, *, fifo_bytes: int = 16384,
                 rx_domain: str = "rx", tx_domain: str = "tx", domain: str = "sync"):
        self.frame_bytes, self.mac_bytes, self.ifindex = frame_bytes, mac_bytes, ifindex
        self.depth = fifo_bytes // mac_bytes
        self.rx_domain, self.tx_domain, self.domain = rx_domain, tx_domain, domain
        beats = stream.Signature(beat_layout(frame_bytes))
        super().__init__({"mac_rx": In(axis_signature(mac_bytes)), "mac_tx": Out(axis_signature(mac_bytes)),
                          "rx": Out(beats), "tx": In(beats), **{name: Out(32) for name in AXIS_COUNTERS}})

    def elaborate(self, platform) -> Module:
        m = Module()
        mac_rx, mac_tx = self.mac_rx, self.mac_tx
        m.submodules.crossing = crossing = FrameCrossing(self.mac_bytes, self.frame_bytes, self.depth, self.ifindex,
                                                         rx_domain=self.rx_domain, tx_domain=self.tx_domain,
                                                         domain=self.domain)
        line_rx, line_tx = crossing.line_rx, crossing.line_tx
        m.d.comb += [line_rx.valid.eq(mac_rx.tvalid), mac_rx.tready.eq(line_rx.ready),
                     line_rx.payload.data.eq(mac_rx.tdata), line_rx.payload.keep.eq(mac_rx.tkeep),
                     line_rx.payload.last.eq(mac_rx.tlast), line_rx.payload.good.eq(~mac_rx.tuser),
                     mac_tx.tvalid.eq(line_tx.valid), line_tx.ready.eq(mac_tx.tready),
                     mac_tx.tdata.eq(line_tx.payload.data), mac_tx.tkeep.eq(line_tx.payload.keep),
                     mac_tx.tlast.eq(line_tx.payload.last)]
        wiring.connect(m, crossing.rx, wiring.flipped(self.rx))
        wiring.connect(m, wiring.flipped(self.tx), crossing.tx)
        sent = Signal(32)
        with m.If(mac_tx.tvalid & mac_tx.tready & mac_tx.tlast):
            m.d[self.tx_domain] += sent.eq(sent + 1)
        cross_counter(m, "rx_good", crossing.stored, self.rx_domain, self.rx_good, self.domain)
        cross_counter(m, "rx_dropped", crossing.dropped, self.rx_domain, self.rx_dropped, self.domain)
        cross_counter(m, "tx_sent", sent, self.tx_domain, self.tx_sent, self.domain)
        return m


class AxiLiteBridge(wiring.Component):
    """An AXI4-Lite slave (``axi``) driving the engine's control bus, one
    access at a time; reads from `COUNTER_BASE` give ``counters``."""

    def __init__(self, counters: int, addr_bits: int = 12):
        super().__init__({"axi": In(axilite_signature(addr_bits)), "bus": Out(bus_signature()),
                          "counters": In(32).array(max(counters, 1))})

    def elaborate(self, platform) -> Module:
        m = Module()
        axi, bus = self.axi, self.bus
        addr = Signal.like(axi.araddr)
        data = Signal(32)
        counters = Array(self.counters)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(axi.awvalid & axi.wvalid):
                    m.d.comb += [axi.awready.eq(1), axi.wready.eq(1)]
                    with m.If(axi.awaddr < COUNTER_BASE):
                        m.d.comb += [bus.addr.eq(axi.awaddr >> 2), bus.w_data.eq(axi.wdata), bus.w_en.eq(1)]
                    m.next = "RESPOND"
                with m.Elif(axi.arvalid):
                    m.d.comb += axi.arready.eq(1)
                    m.d.sync += addr.eq(axi.araddr)
                    m.d.comb += [bus.addr.eq(axi.araddr >> 2), bus.r_en.eq(axi.araddr < COUNTER_BASE)]
                    m.next = "READ"
            with m.State("READ"):
                m.d.sync += data.eq(Mux(addr < COUNTER_BASE, bus.r_data, counters[(addr - COUNTER_BASE) >> 2]))
                m.next = "ANSWER"
            with m.State("ANSWER"):
                m.d.comb += [axi.rvalid.eq(1), axi.rdata.eq(data)]
                with m.If(axi.rready):
                    m.next = "IDLE"
            with m.State("RESPOND"):
                m.d.comb += axi.bvalid.eq(1)
                with m.If(axi.bready):
                    m.next = "IDLE"
        return m
