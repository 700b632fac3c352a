"""Xilinx KCU105 (Kintex UltraScale xcku040): two SFP+ cages at 10 Gb/s;
the part as amaranth-boards describes it."""

from amaranth_boards.kcu105 import KCU105Platform

from hxdp.target import Target

from .xilinx import XilinxBoard

BOARD = XilinxBoard(
    name="kcu105", title="Xilinx KCU105",
    part=f"{KCU105Platform.device}-{KCU105Platform.package}-{KCU105Platform.speed}",
    synth_family="xcu", ports=2, mac="Xilinx 10G/25G Ethernet Subsystem (xxv_ethernet) at 10 Gb/s",
    mac_bytes=8, mac_mhz=156.25, target=Target.with_lanes(4), engine_mhz=156.25)
