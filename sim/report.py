"""What a packet simulation reports: a table with a row a packet (CSV or
JSON) and a summary of throughput, latency and drops."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from ..ebpf.xdp import LEAVING
from ..errors import HxdpError
from ..files import write_file
from .session import PacketRecord, SimRun

__all__ = ["TABLE_COLUMNS", "table_rows", "check_table_path", "write_table", "Summary", "summarize",
           "format_summary"]

TABLE_COLUMNS = ("packet", "length", "ingress_ifindex", "rx_queue", "arrival", "core", "start", "verdict_cycle", "done",
                 "latency_cycles", "latency_ns", "verdict", "program_cycles", "fault", "egress", "out_length")
INGRESS_DROP = "INGRESS_DROP"    # the verdict column of a packet the FIFO had no room for


def _row(record: PacketRecord, clock_mhz: float) -> dict:
    p, r, inp = record.passage, record.result, record.input
    return {"packet": record.index, "length": len(inp.packet), "ingress_ifindex": inp.ingress_ifindex,
            "rx_queue": inp.rx_queue_index, "arrival": p.arrival, "core": None if r is None else p.cpu,
            "start": p.start, "verdict_cycle": p.verdict,
            "done": p.done, "latency_cycles": p.latency, "latency_ns": round(p.latency * 1e3 / clock_mhz, 1),
            "verdict": INGRESS_DROP if r is None else r.action_name,
            "program_cycles": None if r is None else r.cycles, "fault": None if r is None else r.fault,
            "egress": r.redirect.ifindex if r is not None and r.redirect is not None else None,
            "out_length": len(r.packet) if r is not None and r.action in LEAVING else None}


def table_rows(run: SimRun) -> list[dict]:
    return [_row(record, run.config.clock_mhz) for record in run.records]


def check_table_path(path: Path) -> None:
    """Refuse a table file hxdp has no writer for, before the run it would end."""
    if path.suffix not in (".csv", ".json"):
        raise HxdpError(f"{path}: a table is written as .csv or .json")


def write_table(run: SimRun, path: Path) -> None:
    """Every packet's row, as CSV (``.csv``) or JSON (``.json``, with the summary)."""
    check_table_path(path)
    rows = table_rows(run)
    if path.suffix == ".json":
        text = json.dumps({"summary": asdict(summarize(run)), "packets": rows}, indent=1) + "\n"
    else:
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        text = out.getvalue()
    write_file(path, text)


@dataclass
class Summary:
    engine: str
    lanes: int
    cores: int
    rate: str
    clock_mhz: float
    packets: int
    processed: int
    ingress_drops: int                  # found the ingress FIFO full
    verdicts: dict[str, int]
    cycles: int                         # from the first arrival to the last packet done
    mpps: float                         # processed packets a second at clock_mhz
    latency_min: int                    # cycles, whole in the FIFO to done
    latency_mean: float
    latency_p99: int
    latency_max: int
    evaluated_cycles: int              # the simulator's work (rtl: idle cycles with no packet coming skipped)
    seconds: float
    threads: int = 1                    # the rtl engine's evaluation threads
    buffers: int = 1                    # packet buffers a core

    @property
    def cycles_per_second(self) -> float:
        return self.evaluated_cycles / self.seconds if self.seconds else 0.0

    def ns(self, cycles: float) -> float:
        return cycles * 1e3 / self.clock_mhz


def summarize(run: SimRun) -> Summary:
    c = run.config
    done = [r.passage for r in run.records if not r.passage.dropped]
    latencies = sorted(p.latency for p in done)
    span = max((p.done for p in done), default=0) - min((p.arrival for p in done), default=0) + 1
    p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)] if latencies else 0
    return Summary(c.engine, c.lanes, c.cores, c.rate.value, c.clock_mhz, len(run.records), len(done),
                   len(run.records) - len(done), dict(Counter(r.action_name for r in run.results)),
                   span if done else 0, round(len(done) / span * c.clock_mhz, 3) if done else 0.0,
                   latencies[0] if latencies else 0,
                   round(sum(latencies) / len(latencies), 1) if latencies else 0.0, p99,
                   latencies[-1] if latencies else 0, run.evaluated, run.seconds, c.threads, c.buffers)


def format_summary(s: Summary) -> str:
    """The summary as a person reads it."""
    lines = [f"{s.packets} packets on the {s.engine} engine ({s.lanes} lanes, {s.cores} "
             f"core{'s' * (s.cores > 1)} of {s.buffers} packet buffer{'s' * (s.buffers > 1)}), line {s.rate}, "
             f"clock {s.clock_mhz:g} MHz",
             f"  processed       {s.processed:>10}",
             f"  ingress drops   {s.ingress_drops:>10}   (FIFO full: backpressure)"]
    for name, count in sorted(s.verdicts.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:<15} {count:>10}")
    lines.append(f"  throughput      {s.mpps:>10.3f} Mpps   ({s.cycles} cycles, "
                 f"{s.cycles / s.processed if s.processed else 0:.1f} a packet)")
    lines.append("  latency cycles  min {0.latency_min}  mean {0.latency_mean}  p99 {0.latency_p99}  "
                 "max {0.latency_max}".format(s))
    lines.append(f"  latency ns      min {s.ns(s.latency_min):.0f}  mean {s.ns(s.latency_mean):.0f}  "
                 f"p99 {s.ns(s.latency_p99):.0f}  max {s.ns(s.latency_max):.0f}")
    if s.seconds:
        lines.append(f"  simulated {s.evaluated_cycles} cycles in {s.seconds:.2f} s "
                     f"({s.cycles_per_second / 1e6:.2f} M cycles/s"
                     + (f" on {s.threads} threads" if s.threads > 1 else "") + ")")
    return "\n".join(lines)
