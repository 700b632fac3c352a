"""Great Scott Gadgets ButterStick (LFE5UM5G-85F): one RGMII port
(Microchip KSZ9031 PHY), a 30 MHz oscillator. It has no UART: the control
link's lines are on SYZYGY port 0 (S0: the board transmits, S1: it
receives), for a 3.3 V USB-UART adapter; that port's VCCIO must be powered
at 3.3 V. Its seven LEDs are multiplexed RGB: the status lights are on
their green."""

from amaranth.build import Attrs, Pins, Resource, Subsignal
from amaranth.hdl import Module
from amaranth.lib import io
from amaranth_boards.butterstick import ButterStickPlatform

from hxdp.target import Target

from .nic import EcpBoard

MUXED_LEDS = 7


def platform() -> ButterStickPlatform:
    board = ButterStickPlatform(VCCIOA="3V3")
    board.add_resources([Resource("uart", 0, Subsignal("tx", Pins("S0", dir="o", conn=("syzygy", 0))),
                                  Subsignal("rx", Pins("S1", dir="i", conn=("syzygy", 0))),
                                  Attrs(IO_TYPE="LVCMOS33"))])
    return board


def show(m: Module, platform, lights) -> None:
    leds = platform.request("rgb_leds_muxed", 0, dir="-")
    m.submodules.leds = row = io.Buffer("o", leds.leds)
    m.submodules.green = green = io.Buffer("o", leds.g)
    m.d.comb += [row.o.eq(sum(light << i for i, light in enumerate(lights[:MUXED_LEDS]))), green.o.eq(1)]


BOARD = EcpBoard(
    name="butterstick", title="ButterStick", platform=platform, clock="clk30", ports=1,
    target=Target.with_lanes(1), engine_mhz=18.0, show=show)
