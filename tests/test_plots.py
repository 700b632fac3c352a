"""Pictures and the schedule's web page: what they show is what the
figures say."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, strategies as st

from hxdp.cli import main
from hxdp.compiler.driver import compile_program
from hxdp.ebpf.load import load_program
from hxdp.listing import html_schedule
from hxdp.plots import _held
from hxdp.target import Op, Target

from .conftest import EXAMPLES


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 40)), max_size=20), st.integers(1, 30))
def test_occupancy_counts_each_cycle_a_core_holds_a_packet_once(spans, window):
    spans = [(first, first + length) for first, length in spans]
    end = max((e for _, e in spans), default=1)
    starts = list(range(0, end, window))
    covered = {c for first, e in spans for c in range(first, e)}
    assert _held(spans, starts, window) == [sum(1 for c in covered if s <= c < s + window) for s in starts]


def test_bench_draws_each_program_and_hxdps_figures(tmp_path, capsys):
    path = tmp_path / "bench.svg"
    assert main(["bench", str(EXAMPLES / "xdp1.c"), str(EXAMPLES / "xdp_pass.c"), "--plot", str(path)]) == 0
    svg = path.read_text()
    for text in ("xdp1", "xdp_pass", "hXDP (4 lanes, 64-byte packets)", "cycles a packet by lanes"):
        assert text in svg
    # The bars beside hXDP's are for the classes it measured only.
    assert svg.count(">xdp_pass<") == 1 and svg.count(">xdp1<") == 2


def test_sim_draws_latency_throughput_and_occupancy(tmp_path, capsys):
    path = tmp_path / "sim.png"
    assert main(["sim", str(EXAMPLES / "xdp_tx.c"), "--engine", "model", "--plot", str(path)]) == 0
    assert path.read_bytes().startswith(b"\x89PNG") and "drew the run in" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["sim", "xdp_tx.c", "--plot", "x.gif"], "a plot is written as .png, .svg, .pdf"),
    (["run", "xdp_tx.c", "--plot", "x.png"], "--plot: packet simulation needs --engine model or rtl"),
])
def test_a_plot_hxdp_cannot_draw_is_refused_first(argv, message, capsys, tmp_path):
    argv = [str(EXAMPLES / a) if a.endswith(".c") else str(tmp_path / a) if "." in a else a for a in argv]
    assert main(argv) != 0
    assert message in capsys.readouterr().err


def test_the_schedule_page_has_every_row_lane_and_c_line():
    program = load_program(EXAMPLES / "firewall.c")
    image = compile_program(program, Target.with_lanes(4))
    page = html_schedule(image)
    assert page.count("<td class='row'>") == len(image.rows)
    ops = [str(s) for row in image.rows for s in row if s.op is not Op.NOP]
    cells = re.findall(r"<td(?: title='[^']*')?>([^<]+)</td>", page)
    assert sorted(cells) == sorted(o.replace(">", "&gt;").replace("<", "&lt;") for o in ops)
    # Every C line an operation comes from is on the page, beside its row or on its operation.
    used = {(image.lines[pc].file.rsplit("/", 1)[-1], str(image.lines[pc].line))
            for row in image.source for lane in row for pc in lane if pc in image.lines}
    assert set(re.findall(r"(\w+\.[ch]):(\d+)", page)) == used and len(used) > 10
