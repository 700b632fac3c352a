"""Pictures of figures people would rather look at than read: `hxdp bench
--plot` (cycles a packet across lane counts, and beside hXDP's) and `hxdp
sim --plot` (latency's distribution, throughput over time, each core's
occupancy). PNG, SVG or PDF by the file's suffix, drawn with matplotlib
without a display."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import HxdpError
from .files import output_problem
from .published import HXDP_LANES, HXDP_MHZ, published_for

if TYPE_CHECKING:
    from .bench import BenchRow
    from .sim.session import SimRun

__all__ = ["PLOT_SUFFIXES", "check_plot_path", "plot_bench", "plot_sim"]

PLOT_SUFFIXES = (".png", ".svg", ".pdf")

# Windows a run's time is cut into for throughput and occupancy.
TIME_WINDOWS = 50


def check_plot_path(path: Path) -> Path:
    """Refuse, before the work it would end, a picture hxdp cannot write there."""
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise HxdpError(f"{path}: a plot is written as {', '.join(PLOT_SUFFIXES)}")
    problem = output_problem(path, directory=False)
    if problem:
        raise HxdpError(f"{path}: {problem}")
    return path


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"     # an SVG's text stays text: searchable, editable
    import matplotlib.pyplot as plt
    return plt


def plot_bench(rows: list[BenchRow], lanes: int, clock_mhz: float, path: Path) -> None:
    """Mean cycles a packet at each lane count, a line a program; and at
    ``lanes``, each program's beside hXDP's for its class."""
    plt = _pyplot()
    main = [r for r in rows if r.lanes == lanes]
    beside = [(r, published_for(r.program)) for r in main if published_for(r.program) is not None]
    fig, axes = plt.subplots(1, 2 if beside else 1, figsize=(13 if beside else 7, 5), squeeze=False)
    sweep = axes[0][0]
    for name in dict.fromkeys(r.program for r in rows):
        points = sorted((r.lanes, r.cycles_mean) for r in rows if r.program == name)
        sweep.plot(*zip(*points), marker="o", label=name)
    sweep.set(xlabel="lanes", ylabel="cycles a packet (mean, model)", title="cycles a packet by lanes")
    sweep.set_ylim(bottom=0)
    sweep.grid(alpha=0.3)
    sweep.legend(fontsize="small")
    if beside:
        bars = axes[0][1]
        at = range(len(beside))
        bars.bar([x - 0.2 for x in at], [p.cycles for _, p in beside], 0.4,
                 label=f"hXDP ({HXDP_LANES} lanes, 64-byte packets)")
        bars.bar([x + 0.2 for x in at], [r.cycles_mean for r, _ in beside], 0.4,
                 label=f"hxdp ({lanes} lanes, the program's traffic)")
        bars.set_xticks(list(at), [r.program for r, _ in beside], rotation=30, ha="right")
        bars.set(ylabel="cycles a packet", title=f"beside hXDP (its Mpps at {HXDP_MHZ:g} MHz as cycles)")
        bars.legend(fontsize="small")
        bars.grid(axis="y", alpha=0.3)
    fig.suptitle(f"hxdp bench: cycles a packet on the model (Mpps at {clock_mhz:g} MHz = {clock_mhz:g} / cycles)")
    _save(fig, plt, path)


def plot_sim(run: SimRun, path: Path) -> None:
    """Latency's distribution, throughput over time, and each core's share
    of time holding a packet, for a packet simulation."""
    plt = _pyplot()
    config = run.config
    ns = 1e3 / config.clock_mhz
    done = [r for r in run.records if r.result is not None]
    fig, (cdf, rate, busy) = plt.subplots(1, 3, figsize=(16, 4.8))
    latencies = sorted(r.passage.latency * ns for r in done)
    unit, scale = ("µs", 1e-3) if latencies and latencies[-1] > 1e4 else ("ns", 1)
    cdf.plot([x * scale for x in latencies], [(i + 1) / len(latencies) for i in range(len(latencies))],
             drawstyle="steps-post")
    cdf.set(xlabel=f"latency ({unit}): whole in the FIFO to last byte out", ylabel="fraction of packets",
            title="latency CDF", ylim=(0, 1.02))
    cdf.grid(alpha=0.3)

    end = max(run.cycles, 1)
    window = max(-(-end // TIME_WINDOWS), 1)
    starts = list(range(0, end, window))
    lengths = [min(s + window, end) - s for s in starts]
    at = [s * ns / 1e3 for s in starts]
    counts = [0] * len(starts)
    for r in done:
        counts[min(r.passage.done // window, len(starts) - 1)] += 1
    rate.plot(at, [c / (n * ns / 1e3) for c, n in zip(counts, lengths)], drawstyle="steps-post")
    rate.set(xlabel="time (µs)", ylabel="Mpps", title=f"throughput ({config.rate.value} line)")
    rate.set_ylim(bottom=0)
    rate.grid(alpha=0.3)

    spans: list[list[tuple[int, int]]] = [[] for _ in range(config.cores)]
    for r in done:
        spans[r.passage.cpu].append((r.passage.start, r.passage.done + 1))
    for core, held in enumerate(spans):
        busy.plot(at, [c / n for c, n in zip(_held(held, starts, window), lengths)], drawstyle="steps-post",
                  label=f"core {core}")
    busy.set(xlabel="time (µs)", ylabel="share of time holding a packet", title="core occupancy", ylim=(0, 1.05))
    busy.grid(alpha=0.3)
    busy.legend(fontsize="small")
    fig.suptitle(f"{run.program.name} on the {config.engine} engine: {config.lanes} lanes, {config.cores} "
                 f"core{'s' * (config.cores > 1)}, {config.clock_mhz:g} MHz, {len(done)} packets")
    _save(fig, plt, path)


def _held(spans: list[tuple[int, int]], starts: list[int], window: int) -> list[int]:
    """Cycles of each window that some span [first, end) covers (spans that
    overlap, a packet streaming out as the next streams in, count once)."""
    merged: list[list[int]] = []
    for first, end in sorted(spans):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([first, end])
    held = [0] * len(starts)
    for first, end in merged:
        for w in range(first // window, min((end - 1) // window, len(starts) - 1) + 1):
            held[w] += min(end, starts[w] + window) - max(first, starts[w])
    return held


def _save(fig, plt, path: Path) -> None:
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as err:
        raise HxdpError(f"{path}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
