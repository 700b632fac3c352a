"""The hxdp command: every subcommand has help, errors are one line, and
`hxdp run` shows verdicts and writes pcaps."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pytest

from hxdp.bench import format_table
from hxdp.cli import COMMANDS, INTERNAL_ERROR, build_parser, main
from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import MapDef, MapType
from hxdp.errors import HxdpError
from hxdp.mapfile import format_maps
from hxdp.pcap import read_pcap
from hxdp.scenario import load_scenario
from hxdp.target import ENGINE_CLOCK_MHZ, Target
from hxdp.toolchain import compile_c

from .conftest import EXAMPLES


@pytest.mark.parametrize("name", [c[0] for c in COMMANDS])
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "usage: hxdp " + name in out and ("example" in out or name == "disasm")


def test_run_example_with_built_in_traffic(capsys, tmp_path):
    out_pcap = tmp_path / "out.pcap"
    assert main(["run", str(EXAMPLES / "router_ipv4.c"), "-o", str(out_pcap)]) == 0
    text = capsys.readouterr().out
    scenario = load_scenario(EXAMPLES / "router_ipv4.c")
    redirects = sum(e.action == 4 for e in scenario.expect)
    assert re.search(rf"XDP_REDIRECT +{redirects}\n", text) and "route_stats" in text
    leaving = [e.packet or p.packet for p, e in zip(scenario.packets, scenario.expect) if e.action in (2, 3, 4)]
    assert [r.data for r in read_pcap(out_pcap)] == leaving


def test_run_reads_a_pcap(capsys, tmp_path):
    from hxdp.packets import mixed_frames
    from hxdp.pcap import write_pcap
    pcap = tmp_path / "in.pcap"
    write_pcap(pcap, mixed_frames())
    assert main(["run", str(EXAMPLES / "xdp_drop.c"), "--pcap", str(pcap), "-q"]) == 0
    assert re.search(rf"XDP_DROP +{len(mixed_frames())}\n", capsys.readouterr().out)


def test_asm_reads_stdin():
    done = subprocess.run([sys.executable, "-m", "hxdp.cli", "asm", "--hex"], input="mov32 %r0, 2\nexit\n",
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "b4000000020000009500000000000000"


def test_disasm_of_c_shows_source_lines(capsys):
    assert main(["disasm", str(EXAMPLES / "xdp1.c")]) == 0
    out = capsys.readouterr().out
    assert "map rxcnt: percpu_array" in out and "call 1" in out and "xdp1.c:" in out


def test_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.s"
    bad.write_text("mov %r0, 1\nfrob\n")
    done = subprocess.run([sys.executable, "-m", "hxdp.cli", "asm", str(bad)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == f"hxdp: error: {bad}:2: unknown mnemonic 'frob'"


def test_an_unexpected_exception_is_an_internal_error_to_report(capsys, monkeypatch):
    monkeypatch.setattr(Target, "describe", _fails)
    monkeypatch.delenv("HXDP_DEBUG", raising=False)
    assert main(["target", "--lanes", "2"]) == INTERNAL_ERROR
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err == ("hxdp: internal error: RuntimeError: describing failed (command: hxdp target --lanes 2); "
                            "this is a bug in hxdp: please report it with the traceback that --debug shows\n")


@pytest.mark.parametrize("argv, environment", [(["--debug", "target"], "0"), (["target", "--debug"], ""),
                                               (["target"], "1")])
def test_debugging_lets_the_exception_through(argv, environment, monkeypatch):
    monkeypatch.setattr(Target, "describe", _fails)
    monkeypatch.setenv("HXDP_DEBUG", environment)
    with pytest.raises(RuntimeError, match="describing failed"):
        main(argv)


def test_debugging_shows_where_a_user_error_comes_from(monkeypatch):
    monkeypatch.setenv("HXDP_DEBUG", "1")
    with pytest.raises(HxdpError, match="missing.c: no such file"):
        main(["disasm", "missing.c"])


def _fails(*args) -> None:
    raise RuntimeError("describing failed")


BENCH_HEADS = ["program", "lanes", "eBPF", "ops", "rows", "IPC", "bound", "cyc", "min", "cyc", "mean", "cyc", "max",
               "Mpps"]


def test_bench_prints_progress_on_stderr_and_only_the_table_on_stdout(capsys, tmp_path):
    obj = tmp_path / "xdp1.o"
    compile_c(EXAMPLES / "xdp1.c", obj)
    pcap = EXAMPLES / "pcaps" / "xdp1.pcap"
    assert main(["bench", str(obj), "--pcap", str(pcap), "--no-sweep"]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"[1/1] {obj}\n"
    caption, heads = captured.out.splitlines()[:2]
    assert caption == f"model, 4 lanes; Mpps at {ENGINE_CLOCK_MHZ:g} MHz:" and heads.split() == BENCH_HEADS
    assert main(["bench", str(obj), "--pcap", str(pcap), "--no-sweep", "--json"]) == 0
    captured = capsys.readouterr()
    assert [row["program"] for row in json.loads(captured.out)] == ["xdp1"] and captured.err == f"[1/1] {obj}\n"


def test_bench_figures_packets_a_second_at_the_clock_given(capsys):
    """By default at the clock the boards meet, not one they do not reach."""
    figures = {}
    for clock in (None, 200.0):
        assert main(["bench", str(EXAMPLES / "xdp_tx.c"), "--no-sweep", "--json",
                     *(["--clock", str(clock)] if clock else [])]) == 0
        [row] = json.loads(capsys.readouterr().out)
        figures[clock] = row
    for clock, row in figures.items():
        assert row["mpps"] == pytest.approx((clock or ENGINE_CLOCK_MHZ) / row["cycles_mean"], rel=0.01)


def test_bench_explains_where_the_cycles_go(capsys):
    assert main(["bench", str(EXAMPLES / "firewall.c"), "--no-sweep", "--explain"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("where the cycles go (mean a packet, 4 lanes):")
    heads, row = out[at + 1].split("  "), out[at + 2].split()
    assert [h.strip() for h in heads if h.strip()][:3] == ["program", "cycles", "rows"]
    assert heads[-1].strip() == "stream in/out"
    cycles, *causes, streams = (float(x) for x in row[1:])
    assert row[0] == "firewall" and sum(causes) == pytest.approx(cycles, abs=0.3) and streams > 0


def test_bench_sets_hxdps_published_figures_beside_a_program_of_a_class_it_measured(capsys):
    from hxdp.published import PUBLISHED
    assert main(["bench", str(EXAMPLES / "firewall.c"), "--no-sweep"]) == 0
    out = capsys.readouterr().out.splitlines()
    [caption] = [line for line in out if line.startswith("beside hXDP")]
    row = out[out.index(caption) + 2].split()
    theirs = PUBLISHED["simple_firewall"]
    ours = len(load_program(EXAMPLES / "firewall.c").insns)      # as the C compiler here builds it
    assert row[:5] == ["firewall", "simple_firewall", str(theirs.insns), "/", str(ours)]
    assert row[-3:-1] == [f"{theirs.mpps:g}", "/"]
    # A program of no class hXDP measured gets no such table.
    assert main(["bench", str(EXAMPLES / "xdp_pass.c"), "--no-sweep"]) == 0
    assert not any(line.startswith("beside hXDP") for line in capsys.readouterr().out.splitlines())


def test_a_bench_table_without_rows_is_its_header():
    assert format_table([]).split() == BENCH_HEADS


def test_per_cpu_values_show_each_cpu_and_their_sum():
    counts = MapDef("counts", MapType.PERCPU_ARRAY, 4, 8, 4)
    tags = MapDef("tags", MapType.PERCPU_HASH, 4, 3, 4)
    key = bytes(4)
    dump = {"counts": {key: (0).to_bytes(8, "little") + (5).to_bytes(8, "little") + (2).to_bytes(8, "little")},
            "tags": {key: b"abc" + bytes(3)}}
    assert format_maps(dump, [counts, tags])[2:] == [
        "    00000000 (0) -> cpu1 0500000000000000 (5), cpu2 0200000000000000 (2); sum 7",
        "  tags (percpu_hash, 4 bytes -> 3 bytes): 1 entries", "    00000000 (0) -> cpu0 616263"]
    one_cpu = {"counts": {key: (5).to_bytes(8, "little")}}
    assert format_maps(one_cpu, [counts])[2] == "    00000000 (0) -> 0500000000000000 (5)"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_packet_count_on_a_terminal_ends_its_line(monkeypatch, capsys):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["run", str(EXAMPLES / "xdp1.c"), "--engine", "model", "-q"]) == 0
    assert terminal.getvalue().endswith("\r17/17 packets (100%)\n")
    assert capsys.readouterr().out.startswith("traffic: 17 built-in packets")
