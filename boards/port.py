"""One Ethernet port as the engine sees it: RGMII pairs on one side, frames
as the engine's beats on the other, in the engine's clock domain.

Receive: `Rgmii` → `MacRx` → `BeatPacker` → `FrameCrossing` (a
`FrameFifo` from the line clock to the engine's, bad frames and overflow
dropped, and a `BeatWidener` to the engine's beat). Transmit:
`FrameCrossing` (a `BeatNarrower` and a `FrameFifo` to the transmit clock,
the engine waiting for room) → `BeatUnpacker` → `MacTx` → `Rgmii`. The MAC's and FIFOs' counters come
to the engine's domain in Gray code (each steps by one).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from hxdp.gateware.slice import beat_layout

from .counters import cross_counter
from .framefifo import BeatPacker, BeatUnpacker, FrameCrossing
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
        m.submodules.crossing = crossing = FrameCrossing(LINE_BYTES, self.frame_bytes, self.depth, self.ifindex,
                                                         rx_domain=self.rx_domain, tx_domain=self.tx_domain,
                                                         domain=self.domain, paced_tx=True)
        m.submodules.unpacker = unpacker = BeatUnpacker(LINE_BYTES, self.tx_domain)
        m.submodules.mac_tx = mac_tx = MacTx(self.tx_domain)
        connect(m, mac_rx.frames, packer.bytes)
        connect(m, packer.beats, crossing.line_rx)
        connect(m, crossing.rx, wiring.flipped(self.rx))
        connect(m, wiring.flipped(self.tx), crossing.tx)
        connect(m, crossing.line_tx, unpacker.beats)
        connect(m, unpacker.bytes, mac_tx.frames)
        m.d.comb += [rgmii.gmii.txd.eq(mac_tx.txd), rgmii.gmii.tx_en.eq(mac_tx.tx_en),
                     rgmii.gmii.tx_er.eq(mac_tx.tx_er)]

        sources = {"rx_good": (mac_rx.good, self.rx_domain), "rx_bad_fcs": (mac_rx.bad_fcs, self.rx_domain),
                   "rx_runts": (mac_rx.runts, self.rx_domain), "rx_too_long": (mac_rx.too_long, self.rx_domain),
                   "rx_errors": (mac_rx.errors, self.rx_domain), "rx_dropped": (crossing.dropped, self.rx_domain),
                   "tx_sent": (mac_tx.sent, self.tx_domain)}
        for name, (count, domain) in sources.items():
            cross_counter(m, name, count, domain, getattr(self, name), self.domain)
        return m
