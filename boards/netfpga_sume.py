"""NetFPGA-SUME (Virtex-7 xc7vx690t), the board hXDP ran on: four SFP+
cages at 10 Gb/s. The platform here names the part; its pins belong to the
vendor IP (the GTs of the 10G subsystem, PCIe), whose constraints place them."""

from hxdp.target import Target

from .xilinx import XilinxBoard, part_platform


NetFpgaSumePlatform = part_platform("NetFpgaSumePlatform", "xc7vx690t", "ffg1761", "3")


BOARD = XilinxBoard(
    name="netfpga_sume", title="NetFPGA-SUME",
    part=f"{NetFpgaSumePlatform.device}{NetFpgaSumePlatform.package}-{NetFpgaSumePlatform.speed}",
    synth_family="xc7", ports=4, mac="Xilinx 10G Ethernet Subsystem (axi_10g_ethernet)", mac_bytes=8,
    mac_mhz=156.25,
    # hXDP's configuration: four lanes, at the 10G MAC's 156.25 MHz.
    target=Target.with_lanes(4), engine_mhz=156.25,
    notes="hXDP's core with its maps took about 42K LUT, 18K FF and 50 BRAM (36 Kb) of this part at 156.25 MHz.")
