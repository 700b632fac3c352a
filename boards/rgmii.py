"""RGMII, the reduced gigabit interface the boards' PHYs speak: four data
lines and a control line a direction, each carrying two values a clock
(DDR), and a clock a direction (the PHY's receive clock in, the transmit
clock out).

`Rgmii` turns the DDR pairs into GMII for the MAC and back; what holds
the pairs is a pin buffer: `RgmiiBuffers` on a board (the platform's DDR
I/O cells, through `amaranth.lib.io.DDRBuffer`) or `RgmiiSimBuffers` in a
simulator (flip-flops on both clock edges).

On the rising edge the data lines carry bits 3:0 and control carries
the data-valid bit; on the falling edge bits 7:4 and data-valid XOR
error. The transmit clock leaves through a DDR cell too (high, then low),
so it is edge-aligned with the data: the PHY adds the clock's 2 ns delay
(RGMII-ID), as the boards here strap or configure it.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Module, Mux, Signal
from amaranth.lib import data, io, wiring
from amaranth.lib.wiring import In, Out

from .mac import gmii_signature

__all__ = ["ddr_signature", "Rgmii", "RgmiiBuffers", "RgmiiSimBuffers"]

PAIR = data.ArrayLayout(5, 2)        # [rising, falling] edge values of 4 data bits and control


def ddr_signature() -> wiring.Signature:
    """Between `Rgmii` and its pin buffer, from `Rgmii`'s side: the received
    pairs in (``rx_clk``'s domain ``rx``), the pairs to send out (domain ``tx``)."""
    return wiring.Signature({"rx": In(PAIR), "tx": Out(PAIR)})


class Rgmii(wiring.Component):
    """GMII (``gmii``, from the PHY's side) to and from DDR pairs (``ddr``)."""

    def __init__(self, rx_domain: str = "rx", tx_domain: str = "tx"):
        self.rx_domain, self.tx_domain = rx_domain, tx_domain
        super().__init__({"gmii": In(gmii_signature()), "ddr": Out(ddr_signature())})

    def elaborate(self, platform) -> Module:
        m = Module()
        rising, falling = self.ddr.rx[0], self.ddr.rx[1]
        m.d[self.rx_domain] += [self.gmii.rxd.eq(rising[:4] | falling[:4] << 4),
                                self.gmii.rx_dv.eq(rising[4]), self.gmii.rx_er.eq(rising[4] ^ falling[4])]
        # The pairs to send leave from registers of their own, which the
        # placer puts by the pins: the MAC's logic, wherever it sits, then
        # has a whole cycle to reach them.
        txd = self.gmii.txd
        m.d[self.tx_domain] += [self.ddr.tx[0].eq(txd[:4] | self.gmii.tx_en << 4),
                                self.ddr.tx[1].eq(txd[4:] | (self.gmii.tx_en ^ self.gmii.tx_er) << 4)]
        return m


class RgmiiBuffers(wiring.Component):
    """The board's RGMII pins (a resource requested with ``dir="-"``) in the
    platform's DDR cells. Clocks domain ``rx`` (defined by the user, without
    reset) from the PHY's receive clock; the transmit side runs in ``tx``,
    whose clock it sends out."""

    def __init__(self, pins, rx_domain: str = "rx", tx_domain: str = "tx"):
        self.pins = pins
        self.rx_domain, self.tx_domain = rx_domain, tx_domain
        super().__init__({"ddr": In(ddr_signature())})

    def elaborate(self, platform) -> Module:
        m = Module()
        pins = self.pins
        m.submodules.rx_clk = rx_clk = io.Buffer("i", pins.rx_clk)
        m.d.comb += ClockSignal(self.rx_domain).eq(rx_clk.i)
        # A pair's five bits are the four data lines and control: one buffer of five lines a direction.
        m.submodules.rx = rx = io.DDRBuffer("i", pins.rx_data + _control(pins, "rx"), i_domain=self.rx_domain)
        m.submodules.tx = tx = io.DDRBuffer("o", pins.tx_data + _control(pins, "tx"), o_domain=self.tx_domain)
        m.d.comb += [self.ddr.rx[edge].eq(rx.i[edge]) for edge in range(2)]
        m.d.comb += [tx.o[edge].eq(self.ddr.tx[edge]) for edge in range(2)]
        m.submodules.tx_clk = tx_clk = io.DDRBuffer("o", pins.tx_clk, o_domain=self.tx_domain)
        m.d.comb += [tx_clk.o[0].eq(1), tx_clk.o[1].eq(0)]
        return m


def _control(pins, direction: str):
    """The control line, ``rx_ctl`` or ``rx_ctrl`` as the board's resource spells it."""
    for name in (f"{direction}_ctl", f"{direction}_ctrl"):
        if hasattr(pins, name):
            return getattr(pins, name)
    raise AttributeError(f"the RGMII resource has no {direction}_ctl")


class RgmiiSimBuffers(wiring.Component):
    """What the DDR cells do, as flip-flops on both edges, for simulators:
    the pins are ports (``rxd``, ``rx_ctl`` sampled on both edges of
    domain ``rx``; ``txd``, ``tx_ctl`` and the forwarded ``tx_clk`` out of
    domain ``tx``)."""

    def __init__(self, rx_domain: str = "rx", tx_domain: str = "tx"):
        self.rx_domain, self.tx_domain = rx_domain, tx_domain
        super().__init__({"ddr": In(ddr_signature()),
                          "rxd": In(4), "rx_ctl": In(1), "txd": Out(4), "tx_ctl": Out(1), "tx_clk": Out(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.domains.rx_fall = ClockDomain("rx_fall", clk_edge="neg", reset_less=True)
        m.domains.tx_fall = ClockDomain("tx_fall", clk_edge="neg", reset_less=True)
        m.d.comb += [ClockSignal("rx_fall").eq(ClockSignal(self.rx_domain)),
                     ClockSignal("tx_fall").eq(ClockSignal(self.tx_domain))]
        # Receive: each edge's value held, then the pair handed on at the next rising edge.
        pin = Signal(5)
        rose, fell = Signal(5), Signal(5)
        m.d.comb += pin.eq(self.rxd | self.rx_ctl << 4)
        m.d[self.rx_domain] += [rose.eq(pin), self.ddr.rx[0].eq(rose), self.ddr.rx[1].eq(fell)]
        m.d.rx_fall += fell.eq(pin)
        # Transmit: the rising value while the clock is high, the falling one while it is low.
        first, second, second_held = Signal(5), Signal(5), Signal(5)
        m.d[self.tx_domain] += [first.eq(self.ddr.tx[0]), second.eq(self.ddr.tx[1])]
        m.d.tx_fall += second_held.eq(second)
        clock = ClockSignal(self.tx_domain)
        out = Signal(5)
        m.d.comb += [out.eq(Mux(clock, first, second_held)),
                     self.txd.eq(out[:4]), self.tx_ctl.eq(out[4]), self.tx_clk.eq(clock)]
        return m
