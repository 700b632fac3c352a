"""Boards: every board's design and build files come out (ECP5 without
running the tools, Xilinx as a Vivado project), PLL plans, and the ports,
the switch between them and the engine, and the AXI4-Lite control port in
Amaranth simulation with a real engine; how an ECP5 build runs its tools
and tries placement seeds, with stand-ins for them. The bitstream builds
are test_board_builds.py's."""

import dataclasses
import json
import os
import re
import sys
from pathlib import Path

import pytest
from amaranth.sim import Simulator

from hxdp.boards.axis import COUNTER_BASE
from hxdp.boards.build import build_ecp5, script_commands
from hxdp.boards.catalog import BOARDS, board
from hxdp.boards.nic import LINE_MHZ
from hxdp.boards.seeds import overused_wires, seeded_args
from hxdp.boards.pll import VCO_MHZ, plan_pll
from hxdp.boards.xilinx import XilinxNicTop, write_project
from hxdp.compiler.driver import compile_program
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import Program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import MapEntry, XdpAction, XdpInput
from hxdp.errors import HxdpError
from hxdp.gateware.host import starting_maps
from hxdp.gateware.registers import ADDR, ID_MAGIC
from hxdp.mapfile import apply_settings, parse_map_option
from hxdp.target import Target

from .conftest import EXAMPLES

ECP5 = [name for name, b in BOARDS.items() if b.family == "ecp5"]
XILINX = [name for name, b in BOARDS.items() if b.family == "xilinx"]


@pytest.mark.parametrize("name", ECP5)
def test_ecp5_boards_plan_an_exact_line_clock(name):
    plan = board(name).pll()
    assert plan.primary_mhz == LINE_MHZ
    assert VCO_MHZ[0] <= plan.vco_mhz <= VCO_MHZ[1]
    assert board(name).engine_mhz * 0.9 <= plan.secondary_mhz <= board(name).engine_mhz


def test_a_pll_the_part_cannot_make_is_refused():
    with pytest.raises(HxdpError, match="cannot make"):
        plan_pll(100.0, 0.7, 20.0)


@pytest.mark.parametrize("name", ECP5)
def test_ecp5_boards_write_their_design_and_build_script(name, tmp_path):
    assert build_ecp5(board(name), None, tmp_path, run=False) is None
    lpf = (tmp_path / "hxdp_nic.lpf").read_text()
    assert "FREQUENCY NET \"engine_clock\"" in lpf and "FREQUENCY NET \"line_clock\" 125000000.0" in lpf
    assert lpf.count("rx_clk") >= board(name).ports
    assert "nextpnr" in (tmp_path / "build_hxdp_nic.sh").read_text()


def test_a_build_past_its_time_limit_is_stopped_and_says_where(tmp_path):
    said = []
    with pytest.raises(HxdpError, match="stopped after 0 minutes, while synthesising"):
        build_ecp5(board("versa_ecp5"), None, tmp_path, progress=said.append, time_limit=0)
    assert said == ["elaborating the design", "synthesising (yosys)"]


def test_the_routers_progress_is_read_from_nextpnrs_log(tmp_path):
    log = tmp_path / "hxdp_nic.tim"
    assert overused_wires(log) is None
    log.write_text("Info: Routing..\n")
    assert overused_wires(log) is None
    log.write_text("Info:     iter=87 wires=575580 overused=1200 overuse=1213 archfail=NA\n"
                   "Info:     iter=88 wires=575583 overused=12 overuse=13 archfail=NA\n")
    assert overused_wires(log) == 12


def test_each_seed_gets_the_platforms_nextpnr_command_with_files_of_its_own(tmp_path):
    build_ecp5(board("versa_ecp5"), None, tmp_path, run=False)
    steps = script_commands((tmp_path / "build_hxdp_nic.sh").read_text())
    assert set(steps) == {"YOSYS", "NEXTPNR_ECP5", "ECPPACK"}
    args = seeded_args(steps["NEXTPNR_ECP5"], 3)
    assert args[-2:] == ["--seed", "3"]
    for option, name in (("--log", "tim"), ("--report", "report.json"), ("--textcfg", "config")):
        assert args[args.index(option) + 1] == f"hxdp_nic.seed3.{name}"
    assert args[args.index("--json") + 1] == "hxdp_nic.json"


def _fake_tools(tmp_path, monkeypatch, seeds: dict[int, str], cores: int = 1) -> None:
    """yosys, nextpnr and ecppack replaced by tests/fake_ecp5_tools.py,
    seeds run on ``cores`` at once, checked often."""
    tool = tmp_path / "fake-tool"
    tool.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).parent / 'fake_ecp5_tools.py'} \"$@\"\n")
    tool.chmod(0o755)
    for var in ("YOSYS", "NEXTPNR_ECP5", "ECPPACK"):
        monkeypatch.setenv(var, str(tool))
    monkeypatch.setenv("FAKE_NEXTPNR", json.dumps({str(k): v for k, v in seeds.items()}))
    monkeypatch.setattr("hxdp.boards.build.POLL_SECONDS", 0.05)
    monkeypatch.setattr("os.cpu_count", lambda: cores)


def test_a_seed_whose_router_runs_on_is_given_up_for_the_next(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch, {1: "stalls", 2: "missed", 3: "met", 4: "met"})
    said = []
    report = build_ecp5(board("versa_ecp5"), None, tmp_path / "build", progress=said.append, seeds=4,
                        route_limit=1)
    assert report.met and report.seed == 3
    assert report.tried[0].startswith("seed 1: given up, its router had not settled after")
    assert report.tried[1:] == ["seed 2: routed, its slowest clock at 80% of its constraint",
                                "seed 3: routed, timing met"]
    assert (tmp_path / "build" / "hxdp_nic.bit").read_text() == "seed 3\n"
    assert not (tmp_path / "build" / "hxdp_nic.seed4.tim").exists()
    assert said[-1] == "packing the bitstream (ecppack)"


def test_seeds_run_at_once_and_the_first_to_meet_timing_stops_the_others(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch, {1: "met", 2: "stalls", 3: "met"}, cores=2)
    report = build_ecp5(board("versa_ecp5"), None, tmp_path, seeds=3)
    assert report.seed == 1 and report.met
    assert report.tried == ["seed 1: routed, timing met", "seed 2: stopped, seed 1 met timing"]
    assert (tmp_path / "hxdp_nic.seed2.tim").exists() and not (tmp_path / "hxdp_nic.seed3.tim").exists()


def test_with_no_seed_meeting_timing_the_best_routed_one_is_kept(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch, {1: "fails", 2: "missed"})
    report = build_ecp5(board("versa_ecp5"), None, tmp_path, seeds=2, route_limit=1)
    assert not report.met and report.seed == 2
    assert report.tried[0] == "seed 1: nextpnr failed (its log: hxdp_nic.seed1.tim)"
    assert "timing FAILED" in "\n".join(report.lines())


def test_a_design_too_big_for_the_part_tries_no_other_seed(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch, {1: "too big", 2: "met"})
    with pytest.raises(HxdpError, match="(?s)with seed 1.*Unable to place.*does not fit this part"):
        build_ecp5(board("versa_ecp5"), None, tmp_path, seeds=2)
    assert not (tmp_path / "hxdp_nic.seed2.tim").exists()


def test_an_interrupted_build_leaves_no_nextpnr_running(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch, {1: "stalls", 2: "stalls"}, cores=2)
    monkeypatch.setattr("hxdp.boards.build.SHOW_EVERY_SECONDS", 0)

    def interrupt(text: str) -> None:
        if "seed 1: routing" in text and "seed 2: routing" in text:     # both seeds running, their logs written
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        build_ecp5(board("versa_ecp5"), None, tmp_path, progress=interrupt, seeds=2)
    for seed in (1, 2):
        pid = int(re.search(r"process (\d+)", (tmp_path / f"hxdp_nic.seed{seed}.tim").read_text()).group(1))
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_build_no_seed_routes_says_so(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch, {1: "stalls", 2: "stalls"})
    with pytest.raises(HxdpError, match="none of 2 placement seeds: seed 1: given up.*seed 2: given up"):
        build_ecp5(board("versa_ecp5"), None, tmp_path, seeds=2, route_limit=0.5)


@pytest.mark.parametrize("name", XILINX)
def test_xilinx_boards_give_a_complete_vivado_project(name, tmp_path):
    b = board(name)
    project = write_project(b, None, tmp_path, estimate=False)
    names = {f.name for f in project.files}
    assert names == {"hxdp_nic.v", "hxdp_nic.xdc", "create_project.tcl", "README.md"}
    verilog = (tmp_path / "hxdp_nic.v").read_text()
    header = verilog[verilog.index("module hxdp_nic("):].split(";")[0]
    ports = {p.strip() for p in header[header.index("(") + 1:].rstrip(")").split(",")}
    clocks = {"clk", *(f"{side}{n}_clk" for n in range(b.ports) for side in ("rx", "tx"))}
    assert clocks <= ports
    assert {f"rx{n}_tdata" for n in range(b.ports)} | {"s_axil_awaddr", "s_axil_rdata"} <= ports
    xdc = (tmp_path / "hxdp_nic.xdc").read_text()
    assert all(f"[get_ports {c}]" in xdc for c in clocks)
    tcl = (tmp_path / "create_project.tcl").read_text()
    assert f"-part {b.part}" in tcl and "add_files" in tcl
    # Every port the README names is a port of the core.
    readme = (tmp_path / "README.md").read_text()
    assert all(f"rx{n}_tdata" in readme for n in range(b.ports))


def test_the_command_refuses_to_run_vivado(capsys):
    from hxdp.cli import main
    assert main(["build", "--board", "kc705"]) == 1
    assert "--no-run" in capsys.readouterr().err


# -- the switch, ports and control port, in simulation -------------------------

TEST_BOARD = dataclasses.replace(board("kc705"), ports=2, target=Target.with_lanes(1, packet_frame_bytes=16,
                                                                                    map_bytes=4096))
REDIRECT_TO_PORT_1 = "mov %r1, 2\nmov %r2, 0\ncall 23\nexit\n"        # bpf_redirect(ifindex 2, 0)


def _frame(n: int) -> bytes:
    return bytes([0x02, 0, 0, 0, 0, n, 0x02, 0, 0, 0, 1, n, 0x08, 0x00]) + bytes(range(n, n + 50))


def _run_nic(program: Program, sends: list[tuple[int, bytes, bool]], reads: list[int],
             setup: list[MapEntry] | None = None):
    """Frames (port, bytes, bad) into the core's AXI-Streams; what leaves
    each port, and the AXI4-Lite reads of ``reads`` (byte addresses). With
    ``setup``, the engine is built with its maps holding those entries."""
    image = compile_program(program, TEST_BOARD.target)
    maps = starting_maps(TEST_BOARD.target, image, program, setup) if setup is not None else None
    dut = XilinxNicTop(TEST_BOARD, image, maps)
    fb = TEST_BOARD.mac_bytes
    out: dict[int, list[bytes]] = {0: [], 1: []}
    values: list[int] = []
    clocks = [dut.clk, *(getattr(dut, f"{s}{n}_clk") for n in range(2) for s in ("rx", "tx"))]

    async def toggle(ctx):
        while True:
            for level in (1, 0):
                for clock in clocks:
                    ctx.set(clock, level)
                await ctx.delay(5e-9)

    async def mac(ctx):
        for port, data, bad in sends:
            chunks = [data[i:i + fb] for i in range(0, len(data), fb)]
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                ctx.set(getattr(dut, f"rx{port}_tdata"), int.from_bytes(chunk, "little"))
                ctx.set(getattr(dut, f"rx{port}_tkeep"), (1 << len(chunk)) - 1)
                ctx.set(getattr(dut, f"rx{port}_tlast"), last)
                ctx.set(getattr(dut, f"rx{port}_tuser"), bad and last)
                ctx.set(getattr(dut, f"rx{port}_tvalid"), 1)
                await ctx.tick("sync").until(getattr(dut, f"rx{port}_tready"))
            ctx.set(getattr(dut, f"rx{port}_tvalid"), 0)
        await ctx.tick("sync").repeat(3000)
        for addr in reads:
            ctx.set(dut.s_axil_araddr, addr)
            ctx.set(dut.s_axil_arvalid, 1)
            await ctx.tick("sync").until(dut.s_axil_arready)
            ctx.set(dut.s_axil_arvalid, 0)
            ctx.set(dut.s_axil_rready, 1)
            (data,) = await ctx.tick("sync").sample(dut.s_axil_rdata).until(dut.s_axil_rvalid)
            values.append(data)
            ctx.set(dut.s_axil_rready, 0)

    def collector(port: int):
        async def collect(ctx):
            ctx.set(getattr(dut, f"tx{port}_tready"), 1)
            frame = bytearray()
            async for _, _, valid, data, keep, last in ctx.tick("sync").sample(
                    getattr(dut, f"tx{port}_tvalid"), getattr(dut, f"tx{port}_tdata"),
                    getattr(dut, f"tx{port}_tkeep"), getattr(dut, f"tx{port}_tlast")):
                if valid:
                    frame += data.to_bytes(fb, "little")[:bin(keep).count("1")]
                    if last:
                        out[port].append(bytes(frame))
                        frame = bytearray()
                # The vendor MACs must not run dry in a frame: its beats come a cycle each.
                assert valid or not frame, f"port {port} paused in a frame"
        return collect

    sim = Simulator(dut)
    sim.add_process(toggle)
    sim.add_process(collector(0))
    sim.add_process(collector(1))
    sim.add_testbench(mac)
    sim.run()
    return out, values


def _interp(program: Program, data: bytes, port: int) -> bytes:
    return XdpRuntime(program).run(XdpInput(data, ingress_ifindex=port + 1)).packet


def test_xdp_tx_frames_leave_by_their_own_port_and_bad_ones_are_dropped():
    program = load_program(EXAMPLES / "xdp_tx.c")
    sends = [(0, _frame(1), False), (1, _frame(2), False), (1, _frame(3), True), (0, _frame(4), False)]
    counters = [COUNTER_BASE + 4 * i for i in range(6)]
    out, values = _run_nic(program, sends, [4 * ADDR["ID"], 4 * ADDR["VERDICT_TX"], *counters])
    assert out[0] == [_interp(program, _frame(1), 0), _interp(program, _frame(4), 0)]
    assert out[1] == [_interp(program, _frame(2), 1)]
    assert values[:2] == [ID_MAGIC, 3]
    # port 0: rx_good, rx_dropped, tx_sent; port 1 the same
    assert values[2:] == [2, 0, 2, 1, 1, 1]


TO_PORT_C = """
#include <linux/bpf.h>
#include <hxdp/bpf_helpers.h>
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} out SEC(".maps");
SEC("xdp")
int to_port(struct xdp_md *ctx)
{
	__u32 zero = 0, *ifindex = bpf_map_lookup_elem(&out, &zero);
	return ifindex ? bpf_redirect(*ifindex, 0) : XDP_ABORTED;
}
char _license[] SEC("license") = "GPL";
"""


def test_an_engine_built_with_maps_holds_them_from_reset(tmp_path):
    """A build's --maps: the program's array says the port from power-up, no load over the bus."""
    source = tmp_path / "to_port.c"
    source.write_text(TO_PORT_C)
    built = load_program(source)
    for port in (1, 0):
        program, setup = apply_settings(built, [parse_map_option("out", f"0={port + 1}")])
        out, _ = _run_nic(program, [(0, _frame(7), False)], [], setup)
        assert out == {port: [_frame(7)], 1 - port: []}


def test_redirected_frames_leave_by_the_port_of_their_ifindex():
    program = Program("redirect", assemble(REDIRECT_TO_PORT_1))
    assert XdpRuntime(program).run(XdpInput(_frame(5), ingress_ifindex=1)).action == XdpAction.REDIRECT
    out, values = _run_nic(program, [(0, _frame(5), False), (1, _frame(6), False)],
                           [4 * ADDR["VERDICT_REDIRECT"]])
    assert out == {0: [], 1: [_frame(5), _frame(6)]}
    assert values == [2]
