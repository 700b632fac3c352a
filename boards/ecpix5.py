"""LambdaConcept ECPIX-5, 85K variant (LFE5UM5G-85F): one RGMII port
(Realtek RTL8211 PHY), a 100 MHz oscillator, four RGB LEDs, a UART through
its FTDI chip."""

from amaranth.hdl import Module
from amaranth.lib import io
from amaranth_boards.ecpix5 import ECPIX585Platform

from hxdp.target import Target

from .nic import EcpBoard

RGB_LEDS = 4


def show(m: Module, platform, lights) -> None:
    """The lights on the RGB LEDs' green, one a LED; the fifth (dropped) on LED 3's red."""
    for i, light in enumerate(lights[:RGB_LEDS]):
        led = platform.request("rgb_led", i, dir="-")
        m.submodules[f"led{i}"] = green = io.Buffer("o", led.g)
        m.d.comb += green.o.eq(light)
    if len(lights) > RGB_LEDS:
        m.submodules.led_dropped = red = io.Buffer("o", platform.request("rgb_led", RGB_LEDS - 1, dir="-").r)
        m.d.comb += red.o.eq(lights[-1])


BOARD = EcpBoard(
    name="ecpix5", title="LambdaConcept ECPIX-5 (85K)", platform=ECPIX585Platform, clock="clk100", ports=1,
    target=Target.with_lanes(1), engine_mhz=30.0, show=show,
    notes="The 85K part would hold the 4-lane engine alone (74K LUTs), not with the ports and a routable margin.")
