"""`hxdp bench`: what the compiler and the model make of programs.

Per program: eBPF instructions, operations after the compiler's passes,
VLIW rows, static IPC (eBPF instructions per row), the critical-path lower
bound on rows, cycles per packet on the program's traffic (min, mean, max)
on the model, and packets per second at the engine's clock (by default
`ENGINE_CLOCK_MHZ`, the one a board meets); then the same for
every lane count from 1 to 8; with --explain, where each packet's cycles
go (rows issuing, and the waits by cause, `hxdp.model.waits`), and the
cycles the engine's streams add around them. With the rtl engine, the traffic also goes
through the Verilog (`hxdp.sim`): packets a second with the packets back
to back, and the latency when they come at 1 GbE. Programs of a class
hXDP measured get its published figures beside theirs (`hxdp.published`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from .compiler.driver import compile_program
from .ebpf.load import load_program
from .files import expand_paths
from .mapfile import MapSetting
from .model.engine import ModelEngine
from .model.stream import StreamTiming
from .model.waits import CycleSplit, Wait
from .published import HXDP_MHZ, published_for
from .run import load_traffic
from .target import ENGINE_CLOCK_MHZ, Target

__all__ = ["BenchRow", "StreamRow", "bench_program", "bench_stream", "programs_in", "format_table",
           "format_sweep", "format_explain", "format_beside_hxdp", "format_streams", "to_json"]

STREAMS = "stream in/out"


@dataclass
class BenchRow:
    program: str
    lanes: int
    insns: int
    ops: int
    rows: int
    static_ipc: float
    bound_rows: int
    packets: int
    cycles_min: int
    cycles_mean: float
    cycles_max: int
    mpps: float
    # Mean cycles a packet by `Wait` (they add up to cycles_mean), and
    # STREAMS: the cycles the engine holds a packet beyond them, back to back.
    split: dict[str, float]


@dataclass
class StreamRow:
    """A program's traffic through the engine: back to back, then at 1 GbE."""
    program: str
    lanes: int
    cores: int
    packets: int
    mpps: float                 # back to back, from the first packet in to the last out
    cycles_per_packet: float
    latency_min_ns: float       # at 1 GbE: from whole in the ingress FIFO to the last byte out
    latency_mean_ns: float
    latency_max_ns: float
    mcycles_per_second: float   # the simulation's speed


def programs_in(paths: Iterable[Path]) -> list[Path]:
    """The programs named, directories expanded to their .c files."""
    return expand_paths(paths, ".c", "program")


def bench_program(path: Path, lanes: int, pcap: Path | None = None,
                  clock_mhz: float = ENGINE_CLOCK_MHZ, settings: Iterable[MapSetting] = ()) -> BenchRow:
    traffic = load_traffic(load_program(path), path, pcap, settings=settings)
    program = traffic.program
    image = compile_program(program, Target.with_lanes(lanes))
    engine = ModelEngine(image, routes=traffic.routes)
    for entry in traffic.setup:
        engine.update_map(entry.map, entry.key, entry.value)
    cycles, split, streams = [], CycleSplit(), 0
    for p in traffic.packets:
        result = engine.run(p)
        cycles.append(result.cycles)
        split.update(engine.machine.split)
        alone = StreamTiming(image.target.packet_frame_bytes).passage(0, len(p.packet), result.cycles, result.sent)
        streams += alone.done - result.cycles
    mean = sum(cycles) / len(cycles)
    rows = len(image.rows)
    means = {w.value: round(split[w] / len(cycles), 1) for w in Wait}
    means[STREAMS] = round(streams / len(cycles), 1)
    return BenchRow(program.name, lanes, image.stats.insns, image.stats.ops, rows,
                    round(image.stats.insns / rows, 2), image.stats.bound_rows, len(cycles),
                    min(cycles), round(mean, 1), max(cycles), round(clock_mhz / mean, 2), means)


COLUMNS = (("program", "program", "{}"), ("lanes", "lanes", "{}"), ("insns", "eBPF", "{}"),
           ("ops", "ops", "{}"), ("rows", "rows", "{}"), ("static_ipc", "IPC", "{:.2f}"),
           ("bound_rows", "bound", "{}"), ("cycles_min", "cyc min", "{}"),
           ("cycles_mean", "cyc mean", "{:.1f}"), ("cycles_max", "cyc max", "{}"),
           ("mpps", "Mpps", "{:.2f}"))


def _render(heads: list[str], cells: list[list[str]], markdown: bool) -> str:
    """A table: Markdown, or aligned text with the first column to the left."""
    if markdown:
        lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])
    width = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]

    def line(items: list[str]) -> str:
        return "  ".join(x.ljust(width[0]) if i == 0 else x.rjust(width[i]) for i, x in enumerate(items))
    return "\n".join([line(heads)] + [line(c) for c in cells])


def format_table(rows: list[BenchRow], markdown: bool = False) -> str:
    cells = [[fmt.format(getattr(r, key)) for key, _, fmt in COLUMNS] for r in rows]
    return _render([head for _, head, _ in COLUMNS], cells, markdown)


def format_sweep(rows: list[BenchRow], markdown: bool = False) -> str:
    """Rows / mean cycles per packet for each program at 1 to 8 lanes."""
    by_program: dict[str, dict[int, BenchRow]] = {}
    for r in rows:
        by_program.setdefault(r.program, {})[r.lanes] = r
    heads = ["program"] + [f"{n} lanes" for n in range(1, 9)]
    cells = [[name] + [f"{by[n].rows}/{by[n].cycles_mean:.1f}" for n in range(1, 9)]
             for name, by in by_program.items()]
    return _render(heads, cells, markdown)


def format_explain(rows: list[BenchRow], markdown: bool = False) -> str:
    """Mean cycles a packet: the core's, split by what they went on, then
    those the streams add."""
    heads = ["program", "cycles"] + [w.value for w in Wait] + [STREAMS]
    cells = [[r.program, f"{r.cycles_mean:.1f}"] + [f"{r.split[h]:.1f}" for h in heads[2:]] for r in rows]
    return _render(heads, cells, markdown)


def format_beside_hxdp(rows: list[BenchRow], clock_mhz: float, markdown: bool = False) -> str | None:
    """hXDP's published figures beside ours, for the programs of a class it
    measured (None if none is): each cell hXDP's / ours; hXDP's cycles are
    for 64-byte packets, ours the mean over the program's traffic."""
    def pair(theirs, ours: str) -> str:
        return f"{'—' if theirs is None else theirs} / {ours}"
    cells = []
    for r in rows:
        p = published_for(r.program)
        if p is None:
            continue
        ipc = None if p.static_ipc is None else f"{p.static_ipc:.2f}"
        cells.append([r.program, p.program, pair(p.insns, str(r.insns)), pair(p.rows, str(r.rows)),
                      pair(ipc, f"{r.static_ipc:.2f}"), pair(f"{p.cycles:.1f}", f"{r.cycles_mean:.1f}"),
                      pair(f"{p.mpps:g}", f"{r.mpps:.2f}")])
    if not cells:
        return None
    heads = ["program", "hXDP's", "eBPF", "rows", "IPC", "cycles", f"Mpps ({HXDP_MHZ:g} / {clock_mhz:g} MHz)"]
    return _render(heads, cells, markdown)


def to_json(rows: list[BenchRow], streams: list[StreamRow] = ()) -> str:
    data = [asdict(r) for r in rows]
    if streams:
        return json.dumps({"model": data, "engine": [asdict(r) for r in streams]}, indent=1)
    return json.dumps(data, indent=1)


def bench_stream(path: Path, target: Target, pcap: Path | None = None,
                 clock_mhz: float = ENGINE_CLOCK_MHZ, engine: str = "rtl",
                 settings: Iterable[MapSetting] = ()) -> StreamRow:
    """``target``: its lanes, cores and packet buffers."""
    from .sim import LineRate, SimConfig, simulate_traffic
    from .sim.report import summarize
    t = load_traffic(load_program(path), path, pcap, settings=settings)
    program = t.program
    runs = [summarize(simulate_traffic(program, t.packets, setup=t.setup, routes=t.routes,
                                       config=SimConfig(engine, target.lanes, target.cores,
                                                        target.packet_buffers, rate, clock_mhz)))
            for rate in (LineRate.MAX, LineRate.GBE1)]
    busy, calm = runs
    return StreamRow(program.name, target.lanes, target.cores, busy.processed, busy.mpps, round(busy.cycles / busy.processed, 1),
                     round(calm.ns(calm.latency_min)), round(calm.ns(calm.latency_mean)),
                     round(calm.ns(calm.latency_max)),
                     round(sum(r.evaluated_cycles for r in runs) / max(sum(r.seconds for r in runs), 1e-9) / 1e6, 2))


STREAM_COLUMNS = (("program", "program", "{}"), ("cores", "cores", "{}"), ("packets", "packets", "{}"),
                  ("mpps", "Mpps", "{:.2f}"), ("cycles_per_packet", "cyc/pkt", "{:.1f}"),
                  ("latency_min_ns", "lat min ns", "{:.0f}"), ("latency_mean_ns", "lat mean ns", "{:.0f}"),
                  ("latency_max_ns", "lat max ns", "{:.0f}"), ("mcycles_per_second", "sim Mcyc/s", "{:.2f}"))


def format_streams(rows: list[StreamRow], markdown: bool = False) -> str:
    cells = [[fmt.format(getattr(r, key)) for key, _, fmt in STREAM_COLUMNS] for r in rows]
    return _render([head for _, head, _ in STREAM_COLUMNS], cells, markdown)
