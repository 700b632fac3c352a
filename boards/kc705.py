"""Xilinx KC705 (Kintex-7 xc7k325t): an SFP+ cage for 10 Gb/s Ethernet
through the 10G subsystem; the part as amaranth-boards describes it."""

from amaranth_boards.kc705 import KC705Platform

from hxdp.target import Target

from .xilinx import XilinxBoard

BOARD = XilinxBoard(
    name="kc705", title="Xilinx KC705",
    part=f"{KC705Platform.device}{KC705Platform.package}-{KC705Platform.speed}",
    synth_family="xc7", ports=1, mac="Xilinx 10G Ethernet Subsystem (axi_10g_ethernet)", mac_bytes=8, mac_mhz=156.25,
    target=Target.with_lanes(4), engine_mhz=156.25)
