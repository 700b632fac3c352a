"""Xilinx Alveo U50 (Virtex UltraScale+ xcu50, HBM): one QSFP28 cage; here
as four 25 Gb/s lanes through the 10G/25G subsystem. No amaranth-boards
platform exists: this one names the part."""

from hxdp.target import Target

from .xilinx import XilinxBoard, part_platform


AlveoU50Platform = part_platform("AlveoU50Platform", "xcu50", "fsvh2104", "2-e")


BOARD = XilinxBoard(
    name="alveo_u50", title="Xilinx Alveo U50",
    part=f"{AlveoU50Platform.device}-{AlveoU50Platform.package}-{AlveoU50Platform.speed}",
    synth_family="xcup", ports=4, mac="Xilinx 10G/25G Ethernet Subsystem (xxv_ethernet) at 25 Gb/s",
    mac_bytes=8, mac_mhz=390.625, target=Target.with_lanes(4), engine_mhz=125.0)
