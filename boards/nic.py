"""The engine as a NIC on an ECP5 board with RGMII PHYs: the top level
every such board module describes (`EcpBoard`) and `NicTop` builds.

Clocks: the board's oscillator feeds a PLL giving the 125 MHz transmit
clock and the engine's clock (``sync``); each PHY's receive clock is its
port's ``rx<n>`` domain. Each port transmits in a domain of its own,
``tx<n>``, on the one transmit clock but with its own reset: a reset net
reaches only the flip-flops of its port, near that port's pins, instead of
one net spanning the chip between ports on opposite edges.

Port mapping (`hxdp.boards.switch`): port n is ifindex n + 1, XDP_TX
back out of the ingress port, XDP_REDIRECT to the port its ifindex names;
XDP_PASS has no host behind it on these boards: the engine's VERDICT_PASS
counts it and its bytes are let go.

Status LEDs, in the order the board has them: a heartbeat (the engine's
clock runs), the PLL locked, then for each port a light that flickers with
its traffic, and last a light that stays on once a frame was dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from amaranth.hdl import ClockDomain, ClockSignal, Module, Mux, Signal
from amaranth.lib import cdc, io, wiring
from amaranth.build import Platform

from hxdp.gateware.engine import Engine
from hxdp.image import Image
from hxdp.target import Target

from .link import DEFAULT_BAUD
from .port import PORT_COUNTERS, EthernetPort
from .pll import PllPlan, ecp5_pll, plan_pll
from .rgmii import RgmiiBuffers
from .switch import send_out, take_in
from .uart import ControlBridge

__all__ = ["LINE_MHZ", "EcpBoard", "NicTop", "plain_leds"]

LINE_MHZ = 125.0               # gigabit RGMII
PORT_FIFO_BYTES = 4096         # each way: two largest frames, three block RAMs
HEARTBEAT_HZ = 2
ACTIVITY_BITS = 22             # how long a port's light stays on after a frame


@dataclass(frozen=True)
class EcpBoard:
    """What hxdp needs to know of an ECP5 board with RGMII PHYs."""
    name: str
    title: str
    platform: Callable[[], Platform]
    clock: str                  # the oscillator's resource
    ports: int                  # eth_rgmii resources 0 .. ports - 1
    target: Target
    engine_mhz: float           # the engine's clock constraint
    # Shows the status lights (heartbeat, PLL locked, each port's traffic,
    # dropped) on what the board has: `plain_leds` where it has "led"s.
    show: Callable[[Module, Platform, list[Signal]], None]
    notes: str = ""
    family: str = field(default="ecp5", init=False)

    def pll(self) -> PllPlan:
        frequency = self.platform().lookup(self.clock).clock.frequency / 1e6
        return plan_pll(frequency, LINE_MHZ, self.engine_mhz)


class NicTop(wiring.Component):
    """The board's top level: ``image``, if given, is built into the engine
    (it runs from power-up, its maps holding ``maps``: see `Engine`); the
    host can load another over the UART."""

    def __init__(self, board: EcpBoard, image: Image | None = None, baud: int = DEFAULT_BAUD,
                 maps: dict[str, bytes] | None = None):
        self.board, self.image, self.baud, self.maps = board, image, baud, maps
        super().__init__({})

    def elaborate(self, platform) -> Module:
        m = Module()
        board, target = self.board, self.board.target
        plan = board.pll()

        # -- clocks ------------------------------------------------------------------
        m.domains.sync = ClockDomain()
        m.submodules.clock_in = clock_in = io.Buffer("i", platform.request(board.clock, dir="-"))
        locked = Signal()
        line_clock = Signal()
        engine_clock = Signal()
        ecp5_pll(m, plan, clock_in.i, line_clock, engine_clock, locked)
        m.d.comb += ClockSignal("sync").eq(engine_clock)
        m.submodules.sync_reset = cdc.ResetSynchronizer(~locked, domain="sync")
        platform.add_clock_constraint(line_clock, LINE_MHZ * 1e6)
        platform.add_clock_constraint(engine_clock, plan.secondary_mhz * 1e6)

        # -- ports and engine --------------------------------------------------------
        m.submodules.engine = engine = Engine(target, self.image, self.maps)
        ports = []
        for n in range(board.ports):
            pins = platform.request("eth_rgmii", n, dir="-")
            if hasattr(pins, "rst"):          # PHYs sharing a reset line have it on the first port
                m.submodules[f"phy{n}_reset"] = phy_reset = io.Buffer("o", pins.rst)
                m.d.comb += phy_reset.o.eq(~locked)
            m.domains += [ClockDomain(f"rx{n}", reset_less=True), ClockDomain(f"tx{n}")]
            m.d.comb += ClockSignal(f"tx{n}").eq(line_clock)
            m.submodules[f"tx{n}_reset"] = cdc.ResetSynchronizer(~locked, domain=f"tx{n}")
            m.submodules[f"pins{n}"] = buffers = RgmiiBuffers(pins, f"rx{n}", f"tx{n}")
            m.submodules[f"port{n}"] = port = EthernetPort(target.packet_frame_bytes, n + 1,
                                                           rx_domain=f"rx{n}", tx_domain=f"tx{n}",
                                                           fifo_bytes=PORT_FIFO_BYTES)
            platform.add_clock_constraint(pins.rx_clk.io, LINE_MHZ * 1e6)
            wiring.connect(m, port.ddr, buffers.ddr)
            ports.append(port)
        ingress = take_in(m, engine, ports)
        unknown = send_out(m, engine, ports, ingress)

        # -- control and status ------------------------------------------------------
        counters = [getattr(port, name) for port in ports for name in PORT_COUNTERS]
        divisor = round(plan.secondary_mhz * 1e6 / self.baud)
        m.submodules.bridge = bridge = ControlBridge(len(counters), divisor)
        wiring.connect(m, bridge.bus, engine.bus)
        m.d.comb += [bridge.counters[i].eq(c) for i, c in enumerate(counters)]
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = uart_rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
        m.d.comb += [bridge.rx.eq(uart_rx.i), uart_tx.o.eq(bridge.tx)]
        self._leds(m, platform, plan, locked, ports, unknown)
        return m

    def _leds(self, m: Module, platform, plan: PllPlan, locked, ports, unknown) -> None:
        lights = [Signal(name="heartbeat"), locked]
        half_period = int(plan.secondary_mhz * 1e6 / HEARTBEAT_HZ / 2)
        beat = Signal(range(half_period + 1))
        m.d.sync += beat.eq(Mux(beat == 0, half_period, beat - 1))
        with m.If(beat == 0):
            m.d.sync += lights[0].eq(~lights[0])
        dropped = Signal()
        for n, port in enumerate(ports):
            seen = Signal(32, name=f"port{n}_seen")
            glow = Signal(ACTIVITY_BITS, name=f"port{n}_glow")
            traffic = port.rx_good + port.tx_sent
            m.d.sync += seen.eq(traffic)
            m.d.sync += glow.eq(Mux(seen != traffic, (1 << ACTIVITY_BITS) - 1, Mux(glow == 0, 0, glow - 1)))
            lights.append(glow[-1])
            with m.If(port.rx_dropped != 0):
                m.d.sync += dropped.eq(1)
        with m.If(unknown != 0):
            m.d.sync += dropped.eq(1)
        lights.append(dropped)
        self.board.show(m, platform, lights)


def plain_leds(count: int) -> Callable[[Module, Platform, list[Signal]], None]:
    """The first ``count`` lights on the board's "led" resources 0 .. count - 1."""
    def show(m: Module, platform: Platform, lights: list[Signal]) -> None:
        for i, light in enumerate(lights[:count]):
            m.submodules[f"led{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            m.d.comb += led.o.eq(light)
    return show
