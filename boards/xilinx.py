"""FPGA NIC boards with no open flow (Xilinx): the engine as a core between
the vendor MACs' AXI-Streams and an AXI4-Lite control port, and the Vivado
project that puts it on the part (`hxdp build --board NAME --no-run`).

The project holds the core's Verilog, its clock constraints, a TCL script
that creates the project, and a README naming every port; the MACs (the
10G/25G Ethernet subsystem or CMAC, configured for an AXI-Stream as wide as
the engine's beat) and the host's AXI4-Lite master (XDMA on PCIe boards)
are added in Vivado around it. A synth_xilinx run estimates its resources.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from amaranth.back import rtlil, verilog
from amaranth.hdl import ClockDomain, ClockSignal, Module, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.vendor import XilinxPlatform

from hxdp.gateware.engine import Engine
from hxdp.gateware.synth import xilinx_estimate
from hxdp.image import Image
from hxdp.target import Target

from .axis import AXIS_COUNTERS, COUNTER_BASE, AxiLiteBridge, AxisPort, axilite_signature, axis_signature
from .switch import send_out, take_in

__all__ = ["part_platform", "XilinxBoard", "XilinxNicTop", "XilinxProject", "write_project"]

TOP = "hxdp_nic"


def part_platform(name: str, device: str, package: str, speed: str) -> type[XilinxPlatform]:
    """An Amaranth platform for a board amaranth-boards lacks, naming only
    its part: the core's ports meet the vendor IP, whose constraints place
    the pins."""
    return type(name, (XilinxPlatform,), {"device": device, "package": package, "speed": speed,
                                          "resources": [], "connectors": []})


@dataclass(frozen=True)
class XilinxBoard:
    name: str
    title: str
    part: str                   # Vivado's part name
    synth_family: str           # yosys synth_xilinx -family: xc7, xcu, xcup
    ports: int
    mac: str                    # the vendor MAC the ports expect
    mac_bytes: int              # the width of its AXI-Streams
    mac_mhz: float              # their clock
    target: Target
    engine_mhz: float
    notes: str = ""
    family: str = field(default="xilinx", init=False)


class XilinxNicTop(wiring.Component):
    """Clocks and resets in: ``clk``/``rst`` (the engine, also the AXI4-Lite
    port's), ``rx<n>_clk``/``rx<n>_rst`` and ``tx<n>_clk``/``tx<n>_rst`` (each
    MAC's). Ports: ``rx<n>_*`` (an AXI-Stream slave), ``tx<n>_*`` (a master),
    ``s_axil_*``."""

    def __init__(self, board: XilinxBoard, image: Image | None = None, maps: dict[str, bytes] | None = None):
        self.board, self.image, self.maps = board, image, maps
        fb = board.mac_bytes
        # Flat names (s_axil_awaddr, rx0_tdata), as Vivado infers its interfaces from.
        self.buses = {"s_axil": axilite_signature().flip(),
                      **{f"rx{n}": axis_signature(fb).flip() for n in range(board.ports)},
                      **{f"tx{n}": axis_signature(fb) for n in range(board.ports)}}
        members = {"clk": In(1), "rst": In(1)}
        for n in range(board.ports):
            members |= {f"rx{n}_clk": In(1), f"rx{n}_rst": In(1), f"tx{n}_clk": In(1), f"tx{n}_rst": In(1)}
        for prefix, signature in self.buses.items():
            members |= {f"{prefix}_{name}": member for name, member in signature.members.items()}
        super().__init__(members)

    def _join(self, m: Module, prefix: str, inner) -> None:
        """The flat ports ``prefix_*`` to the interface ``inner`` (of the same shape)."""
        for name, member in self.buses[prefix].members.items():
            outer = getattr(self, f"{prefix}_{name}")
            if member.flow is wiring.In:
                m.d.comb += getattr(inner, name).eq(outer)
            else:
                m.d.comb += outer.eq(getattr(inner, name))

    def elaborate(self, platform) -> Module:
        m = Module()
        board, target = self.board, self.board.target
        m.domains.sync = ClockDomain()
        m.d.comb += [ClockSignal("sync").eq(self.clk), ResetSignal("sync").eq(self.rst)]
        m.submodules.engine = engine = Engine(target, self.image, self.maps)
        ports = []
        for n in range(board.ports):
            for side in ("rx", "tx"):
                m.domains += ClockDomain(f"{side}{n}")
                m.d.comb += [ClockSignal(f"{side}{n}").eq(getattr(self, f"{side}{n}_clk")),
                             ResetSignal(f"{side}{n}").eq(getattr(self, f"{side}{n}_rst"))]
            m.submodules[f"port{n}"] = port = AxisPort(target.packet_frame_bytes, board.mac_bytes, n + 1,
                                                       rx_domain=f"rx{n}", tx_domain=f"tx{n}")
            self._join(m, f"rx{n}", port.mac_rx)
            self._join(m, f"tx{n}", port.mac_tx)
            ports.append(port)
        send_out(m, engine, ports, take_in(m, engine, ports))
        counters = [getattr(port, name) for port in ports for name in AXIS_COUNTERS]
        m.submodules.control = control = AxiLiteBridge(len(counters))
        self._join(m, "s_axil", control.axi)
        wiring.connect(m, control.bus, engine.bus)
        m.d.comb += [control.counters[i].eq(c) for i, c in enumerate(counters)]
        return m


@dataclass
class XilinxProject:
    board: str
    directory: Path
    files: list[Path]
    estimate: dict[str, float] | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [f"board {self.board}: Vivado project in {self.directory}"]
        out += [f"  {f.name}" for f in self.files]
        if self.estimate:
            out += ["", "synth_xilinx estimate (yosys; Vivado's figures will differ):",
                    *(f"  {name:<5} {value:>10,g}" for name, value in self.estimate.items())]
        out += ["", f"open it: vivado -mode batch -source {self.directory / 'create_project.tcl'}"]
        return out


def _xdc(board: XilinxBoard) -> str:
    lines = [f"# Clocks of the hxdp core on {board.title}; the MAC IP's own constraints place its pins.",
             f"create_clock -period {1000 / board.engine_mhz:.3f} -name hxdp_engine [get_ports clk]"]
    groups = ["hxdp_engine"]
    for n in range(board.ports):
        for side in ("rx", "tx"):
            lines.append(f"create_clock -period {1000 / board.mac_mhz:.3f} -name hxdp_{side}{n} "
                         f"[get_ports {side}{n}_clk]")
            groups.append(f"hxdp_{side}{n}")
    # Only Gray-coded counters and synchronised flags cross between these clocks.
    lines.append("set_clock_groups -asynchronous " + " ".join(f"-group {g}" for g in groups))
    return "\n".join(lines) + "\n"


def _tcl(board: XilinxBoard) -> str:
    return "\n".join([
        f"# Creates the Vivado project of the hxdp core for {board.title} ({board.part}).",
        "set here [file dirname [file normalize [info script]]]",
        f"create_project {TOP} $here/vivado -part {board.part} -force",
        f"add_files -norecurse $here/{TOP}.v",
        f"add_files -fileset constrs_1 -norecurse $here/{TOP}.xdc",
        f"set_property top {TOP} [current_fileset]",
        "update_compile_order -fileset sources_1",
        f"# Next, around {TOP} (README.md): the {board.mac} for each port, with an AXI-Stream of",
        f"# {board.mac_bytes * 8} bits at {board.mac_mhz:g} MHz, and the host's AXI4-Lite master.",
        "# Then: launch_runs synth_1; launch_runs impl_1 -to_step write_bitstream",
        ""])


def _readme(board: XilinxBoard) -> str:
    fb = board.mac_bytes
    rows = ["| port | direction | width | meaning |", "|---|---|---|---|",
            "| clk, rst | in | 1 | the engine's clock and its synchronous reset (active high); also the AXI4-Lite port's |",
            "| s_axil_* | slave | 12-bit address, 32-bit data | control: engine register n at byte 4n "
            f"(docs/engine.md), the board's counters from 0x{COUNTER_BASE:x} |"]
    for n in range(board.ports):
        rows += [f"| rx{n}_clk, rx{n}_rst, tx{n}_clk, tx{n}_rst | in | 1 | MAC {n}'s receive and transmit clocks "
                 "and resets |",
                 f"| rx{n}_tdata/tkeep/tlast/tuser/tvalid/tready | slave | {8 * fb} | frames from MAC {n} (tuser on "
                 "the last beat: a bad frame, dropped and counted); ifindex " + str(n + 1) + " |",
                 f"| tx{n}_tdata/tkeep/tlast/tuser/tvalid/tready | master | {8 * fb} | frames to MAC {n} (tuser 0) |"]
    counters = ", ".join(f"port{n}.{c}" for n in range(board.ports) for c in AXIS_COUNTERS)
    return "\n".join([
        f"# hxdp core for {board.title}", "",
        f"Part {board.part}. The core `{TOP}` ({TOP}.v) holds the engine ({board.target.lanes} lanes, "
        f"{board.target.packet_frame_bytes}-byte beats) between {board.ports} Ethernet port{'s' * (board.ports > 1)} and a control port. "
        f"Each port expects the {board.mac} with an AXI-Stream of {8 * fb} bits at {board.mac_mhz:g} MHz; "
        f"the engine's clock is constrained to {board.engine_mhz:g} MHz ({TOP}.xdc).", "",
        "XDP_TX leaves by the port the packet came in on, XDP_REDIRECT by the port whose ifindex "
        "(port n + 1) it names; XDP_PASS is counted by the engine.", "",
        *rows, "", f"Board counters, in order from 0x{COUNTER_BASE:x}: {counters}.", "",
        "`vivado -mode batch -source create_project.tcl` creates the project.", board.notes, ""])


def write_project(board: XilinxBoard, image: Image | None, directory: Path, *, estimate: bool = True,
                  progress: Callable[[str], None] | None = None,
                  maps: dict[str, bytes] | None = None) -> XilinxProject:
    say = progress or (lambda text: None)
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    say("generating Verilog")
    top = XilinxNicTop(board, image, maps)
    files = {f"{TOP}.v": verilog.convert(top, name=TOP), f"{TOP}.xdc": _xdc(board),
             "create_project.tcl": _tcl(board), "README.md": _readme(board)}
    for name, text in files.items():
        (directory / name).write_text(text)
    project = XilinxProject(board.name, directory, [directory / name for name in files])
    if estimate:
        say("estimating resources with yosys synth_xilinx")
        (directory / f"{TOP}.il").write_text(rtlil.convert(XilinxNicTop(board, image, maps), name=TOP))
        project.estimate = xilinx_estimate(directory, f"{TOP}.il", TOP, board.synth_family)
        (directory / "estimate.txt").write_text("\n".join(project.lines()) + "\n")
    project.seconds = time.monotonic() - started
    return project
