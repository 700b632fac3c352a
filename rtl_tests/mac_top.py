"""The design the MAC's cocotb bench drives: one `EthernetPort` on
simulated DDR pins, the engine's side looped back (every frame received is
sent out again), its counters as ports.

Clocks, all from the bench: ``rx_clk`` (the PHY's receive clock), ``tx_clk``
(the transmit clock), ``clk`` (the engine's); ``phy_tx_clk`` is not used by
the design, only by the bench's PHY model (the transmit clock as the PHY
sees it, delayed).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import ClockDomain, ClockSignal, Module, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from hxdp.boards.mac import JUMBO_FRAME
from hxdp.boards.port import PORT_COUNTERS, EthernetPort
from hxdp.boards.rgmii import RgmiiSimBuffers
from hxdp.gateware.rtlcache import rtl_cache

TOP = "mac_loop"
FRAME_BYTES = 32
FIFO_BYTES = 16384          # holds a jumbo frame


class MacLoop(wiring.Component):
    def __init__(self):
        super().__init__({"clk": In(1), "rst": In(1), "tx_clk": In(1), "tx_rst": In(1), "rx_clk": In(1),
                          "rxd": In(4), "rx_ctl": In(1), "txd": Out(4), "tx_ctl": Out(1), "txc": Out(1),
                          "phy_tx_clk": In(1),
                          **{name: Out(32) for name in PORT_COUNTERS}})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.domains.rx = ClockDomain(reset_less=True)
        m.domains.tx = ClockDomain()
        m.domains.sync = ClockDomain()
        m.d.comb += [ClockSignal("rx").eq(self.rx_clk), ClockSignal("tx").eq(self.tx_clk),
                     ResetSignal("tx").eq(self.tx_rst), ClockSignal("sync").eq(self.clk),
                     ResetSignal("sync").eq(self.rst)]
        m.submodules.pins = pins = RgmiiSimBuffers()
        m.submodules.port = port = EthernetPort(FRAME_BYTES, 1, max_frame=JUMBO_FRAME, fifo_bytes=FIFO_BYTES)
        connect(m, port.ddr, pins.ddr)
        connect(m, port.rx, port.tx)
        m.d.comb += [pins.rxd.eq(self.rxd), pins.rx_ctl.eq(self.rx_ctl), self.txd.eq(pins.txd),
                     self.tx_ctl.eq(pins.tx_ctl), self.txc.eq(pins.tx_clk),
                     *(getattr(self, name).eq(getattr(port, name)) for name in PORT_COUNTERS)]
        return m


def mac_verilog() -> Path:
    """The loop's Verilog in the RTL cache, named by its contents."""
    text = verilog.convert(MacLoop(), name=TOP)
    directory = rtl_cache() / "verilog"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{TOP}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.v"
    if not path.exists():
        path.write_text(text)
    return path
