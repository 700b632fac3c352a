"""Xilinx Alveo U280 (Virtex UltraScale+ xcu280, HBM): two QSFP28 cages;
here as two 25 Gb/s lanes through the 10G/25G subsystem. No amaranth-boards
platform exists: this one names the part."""

from hxdp.target import Target

from .xilinx import XilinxBoard, part_platform


AlveoU280Platform = part_platform("AlveoU280Platform", "xcu280", "fsvh2892", "2L-e")


BOARD = XilinxBoard(
    name="alveo_u280", title="Xilinx Alveo U280",
    part=f"{AlveoU280Platform.device}-{AlveoU280Platform.package}-{AlveoU280Platform.speed}",
    synth_family="xcup", ports=2, mac="Xilinx 10G/25G Ethernet Subsystem (xxv_ethernet) at 25 Gb/s",
    mac_bytes=8, mac_mhz=390.625, target=Target.with_lanes(4), engine_mhz=125.0)
