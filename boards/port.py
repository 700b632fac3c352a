"""One Ethernet port as the engine sees it: RGMII pairs on one side, frames
as the engine's beats on the other, in the engine's clock domain.

Receive: `Rgmii` → `MacRx` → `BeatPacker` → `FrameFifo` (line clock to
engine clock, bad frames and overflow dropped) → `BeatWidener` (to the
engine's beat). Transmit: `BeatNarrower` → `FrameFifo` (engine clock to the
transmit clock, the engine waiting for room) → `BeatUnpacker` → `MacTx` →
`Rgmii`. The MAC's and FIFOs' counters come
to the engine's domain in Gray code (each steps by one).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from hxdp.gateware.slice import beat_layout

from .framefifo import BeatNarrower, BeatPacker, BeatUnpacker, BeatWidener, FrameFifo, cross_counter
from .mac import MAX_FRAME, MacRx, MacTx
from .rgmii import Rgmii, ddr_signature

__all__ = ["PORT_COUNTERS", "LINE_BYTES", "EthernetPort"]

LINE_BYTES = 8             # a beat in the port's FIFOs

# The port's counters, in the order its status registers give them.
PORT_COUNTERS = ("rx_good", "rx_bad_fcs", "rx_runts", "rx_too_long", "rx_errors", "rx_dropped", "tx_sent")


class EthernetPort(wiring.Component):
    """``ifindex`` is put on every received packet's first beat. The FIFOs
    hold ``fifo_bytes`` each, in beats of `LINE_BYTES` (narrow beats cost
    fewer block RAMs); with ``max_frame`` above 1518 the port takes jumbo
    frames (the FIFOs must hold one)."""

    def __init__(self, frame_bytes: int, ifindex: int, *, max_frame: int = MAX_FRAME, fifo_bytes: int = 16384,
                 rx_domain: str = "rx", tx_domain: str = "tx", domain: str = "sync"):
        depth = fifo_bytes // LINE_BYTES
        if depth & (depth - 1) or fifo_bytes < max_frame:
            raise ValueError(f"a port's FIFO of {fifo_bytes} bytes must be a power of two holding a "
                             f"{max_frame}-byte frame")
        self.frame_bytes, self.ifindex, self.max_frame, self.depth = frame_bytes, ifindex, max_frame, depth
        self.rx_domain, self.tx_domain, self.domain = rx_domain, tx_domain, domain
        beats = stream.Signature(beat_layout(frame_bytes))
        super().__init__({"ddr": Out(ddr_signature()), "rx": Out(beats), "tx": In(beats),
                          **{name: Out(32) for name in PORT_COUNTERS}})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.rgmii = rgmii = Rgmii(self.rx_domain, self.tx_domain)
        connect(m, wiring.flipped(self.ddr), rgmii.ddr)

        m.submodules.mac_rx = mac_rx = MacRx(self.max_frame, self.rx_domain)
        m.d.comb += [mac_rx.rxd.eq(rgmii.gmii.rxd), mac_rx.rx_dv.eq(rgmii.gmii.rx_dv),
                     mac_rx.rx_er.eq(rgmii.gmii.rx_er)]
        m.submodules.packer = packer = BeatPacker(LINE_BYTES, self.rx_domain)
        m.submodules.rx_fifo = rx_fifo = FrameFifo(LINE_BYTES, self.depth, self.rx_domain, self.domain)
        m.submodules.widener = widener = BeatWidener(LINE_BYTES, self.frame_bytes, self.domain)
        connect(m, mac_rx.frames, packer.bytes)
        connect(m, packer.beats, rx_fifo.w)
        connect(m, rx_fifo.r, widener.i)
        m.d.comb += [self.rx.valid.eq(widener.o.valid), widener.o.ready.eq(self.rx.ready),
                     self.rx.payload.data.eq(widener.o.payload.data), self.rx.payload.keep.eq(widener.o.payload.keep),
                     self.rx.payload.last.eq(widener.o.payload.last), self.rx.payload.port.eq(self.ifindex)]

        m.submodules.narrower = narrower = BeatNarrower(self.frame_bytes, LINE_BYTES, self.domain)
        m.submodules.tx_fifo = tx_fifo = FrameFifo(LINE_BYTES, self.depth, self.domain, self.tx_domain,
                                                   backpressure=True)
        m.submodules.unpacker = unpacker = BeatUnpacker(LINE_BYTES, self.tx_domain)
        m.submodules.mac_tx = mac_tx = MacTx(self.tx_domain)
        m.d.comb += [narrower.i.valid.eq(self.tx.valid), self.tx.ready.eq(narrower.i.ready),
                     narrower.i.payload.data.eq(self.tx.payload.data), narrower.i.payload.keep.eq(self.tx.payload.keep),
                     narrower.i.payload.last.eq(self.tx.payload.last),
                     tx_fifo.w.valid.eq(narrower.o.valid), narrower.o.ready.eq(tx_fifo.w.ready),
                     tx_fifo.w.payload.data.eq(narrower.o.payload.data), tx_fifo.w.payload.keep.eq(narrower.o.payload.keep),
                     tx_fifo.w.payload.last.eq(narrower.o.payload.last), tx_fifo.w.payload.good.eq(1)]
        connect(m, tx_fifo.r, unpacker.beats)
        connect(m, unpacker.bytes, mac_tx.frames)
        m.d.comb += [rgmii.gmii.txd.eq(mac_tx.txd), rgmii.gmii.tx_en.eq(mac_tx.tx_en),
                     rgmii.gmii.tx_er.eq(mac_tx.tx_er)]

        sources = {"rx_good": (mac_rx.good, self.rx_domain), "rx_bad_fcs": (mac_rx.bad_fcs, self.rx_domain),
                   "rx_runts": (mac_rx.runts, self.rx_domain), "rx_too_long": (mac_rx.too_long, self.rx_domain),
                   "rx_errors": (mac_rx.errors, self.rx_domain), "rx_dropped": (rx_fifo.dropped, self.rx_domain),
                   "tx_sent": (mac_tx.sent, self.tx_domain)}
        for name, (count, domain) in sources.items():
            cross_counter(m, name, count, domain, getattr(self, name), self.domain)
        return m
