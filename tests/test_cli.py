"""The hxdp command: every subcommand has help, errors are one line, and
`hxdp run` shows verdicts and writes pcaps."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from hxdp.cli import COMMANDS, build_parser, main
from hxdp.pcap import read_pcap
from hxdp.scenario import load_scenario

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
