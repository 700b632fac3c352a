"""Reading nextpnr's results: Fmax from the log of a placement-only run, the
critical path from the report of a routed one; yosys's cell counts without
placement (synthesis itself takes minutes and is a benchmark, `hxdp
synth`: here a stand-in yosys writes the counts)."""

import json
import sys

from hxdp.gateware import synth
from hxdp.gateware.synth import critical_path, placed_fmax, synthesize
from hxdp.target import Target

LOG = """Info: Max frequency for clock 'clk': 48.10 MHz (FAIL at 125.00 MHz)
Info: Running simulated annealing placer for refinement.
Info: Max frequency for clock 'clk': 21.65 MHz (FAIL at 125.00 MHz)
Info: Max frequency for clock 'eth_rx': 160.30 MHz (PASS at 125.00 MHz)
"""


def test_fmax_is_the_last_estimate_of_each_clock():
    assert placed_fmax(LOG) == {"clk": {"achieved": 21.65, "constraint": 125.0},
                                 "eth_rx": {"achieved": 160.3, "constraint": 125.0}}
    assert placed_fmax("Info: Program finished normally.\n") == {}


def test_critical_path_names_the_signals_with_the_time_spent_by_each():
    def hop(kind, delay, cell, net=None, sources=()):
        return {"type": kind, "delay": delay, "from": {"cell": cell}, "net": net, "sources": list(sources)}
    report = {"critical_paths": [{"path": [
        hop("clk-to-q", 0.5, "core.pc_TRELLIS_FF_Q_3"),
        hop("routing", 1.0, "core.pc_TRELLIS_FF_Q_3", "core.next_pc_LUT4_Z[1]",
            ["/share/lattice/cells_map_trellis.v:108.23-108.24"]),
        hop("logic", 0.25, "lut1"),
        hop("routing", 0.75, "lut1", "core.next_pc_PFUMX_Z_C0", ["/src/hxdp/gateware/core.py:120.5-120.30"]),
        hop("logic", 0.25, "lut2"),
        hop("routing", 2.0, "lut2", "core.alu0.sum$CCU2_COMB0", ["/src/hxdp/gateware/alu.py:40.1-40.9"]),
        hop("setup", 0.25, "reg"),
    ]}]}
    assert critical_path(report) == ["  0.50 ns  core.pc", "  2.75 ns  core.next_pc (hxdp/gateware/core.py:120.5-120.30)",
                                      "  5.00 ns  core.alu0.sum (hxdp/gateware/alu.py:40.1-40.9)"]
    assert critical_path({}) == []


def test_without_placement_the_figures_are_yosys_cells_with_a_carry_cell_as_two_luts(tmp_path, monkeypatch):
    cells = {"LUT4": 1000, "CCU2C": 30, "TRELLIS_FF": 400, "DP16KD": 3, "MULT18X18D": 2, "PFUMX": 50}
    fake = tmp_path / "yosys.py"
    fake.write_text("import json, sys\nopen('stat.json', 'w').write(json.dumps("
                    f"{{'design': {{'num_cells_by_type': {json.dumps(cells)}}}}}))\n")
    monkeypatch.setattr(synth, "find_tool", lambda *names: [sys.executable, str(fake)])
    report = synthesize(Target.with_lanes(1), place=False, core=True, workdir=tmp_path / "work")
    assert (report.lut, report.ff, report.bram, report.dsp) == (1060, 400, 3, 2)
    assert report.fmax_mhz is None and report.unit == "core"
    netlist = (tmp_path / "work" / "core.il").read_text()
    assert "imem_addr" in netlist and "rx__valid" not in netlist       # the core's ports, not the engine's
