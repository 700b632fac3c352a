"""Colorlight 5A-75B, revision 7.0 (LFE5U-25F): two RGMII ports (Broadcom
B50612D PHYs, sharing their reset and management lines), a 25 MHz oscillator. Its one LED
shares a pin with the UART's transmit line, which the control link takes:
no status LEDs."""

from amaranth.build import Resource
from amaranth_boards.colorlight_5a75b_r7_0 import Colorlight_5A75B_R70Platform

from hxdp.target import Target

from .nic import EcpBoard, plain_leds

SHARED = ("rst", "mdc", "mdio")


def platform() -> Colorlight_5A75B_R70Platform:
    """The platform with the second port's reset and management lines left
    to the first's (the same pins)."""
    def without_reset(r: Resource) -> Resource:
        if (r.name, r.number) != ("eth_rgmii", 1):
            return r
        return Resource(r.name, r.number, *(io for io in r.ios if io.name not in SHARED), r.attrs)
    kind = type("Colorlight5A75B", (Colorlight_5A75B_R70Platform,),
                {"resources": [without_reset(r) for r in Colorlight_5A75B_R70Platform.resources]})
    return kind()


BOARD = EcpBoard(
    name="colorlight_5a75b", title="Colorlight 5A-75B (rev 7.0)", platform=platform,
    clock="clk25", ports=2, target=Target.with_lanes(1), engine_mhz=18.0,
    show=plain_leds(0),
    notes="The LFE5U-25F has 24K LUTs; the 1-lane engine with its maps needs about 36K: it does not fit.")
