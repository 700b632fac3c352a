"""Xilinx Alveo U50 (Virtex UltraScale+ xcu50, HBM): one QSFP28 cage; here
as four 25 Gb/s lanes through the 10G/25G subsystem. No amaranth-boards
platform exists: this one names the part."""

from amaranth.vendor import XilinxPlatform

from hxdp.target import Target

from .xilinx import XilinxBoard


class AlveoU50Platform(XilinxPlatform):
    device = "xcu50"
    package = "fsvh2104"
    speed = "2-e"
    resources = []
    connectors = []


BOARD = XilinxBoard(
    name="alveo_u50", title="Xilinx Alveo U50",
    part=f"{AlveoU50Platform.device}-{AlveoU50Platform.package}-{AlveoU50Platform.speed}",
    synth_family="xcup", ports=4, mac="Xilinx 10G/25G Ethernet Subsystem (xxv_ethernet) at 25 Gb/s",
    mac_bytes=8, mac_mhz=390.625, target=Target.with_lanes(4), engine_mhz=125.0)
