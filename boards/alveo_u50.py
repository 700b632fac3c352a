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
    # The MAC gives 64 bits at 390.625 MHz; the core takes 32-byte beats at
    # 156.25 MHz (40 Gb/s a port) through AXI-Stream width and clock converters.
    mac_mhz=156.25, target=Target.with_lanes(4, packet_frame_bytes=32), engine_mhz=125.0,
    notes="Between each MAC and the core: AXI4-Stream data width (64 to 256 bits) and clock (390.625 to "
          "156.25 MHz) converters.")
