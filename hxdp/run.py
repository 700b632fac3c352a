"""Run traffic through an engine and summarise what happened.

This is the main job of `hxdp run`: load a program, install the scenario's
map entries, push every packet through the chosen engine, and report the
verdicts, the first packets and the final maps. The same `TrafficRun` serves
the command line, the tests and notebooks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .ebpf.program import Program
from .ebpf.xdp import LEAVING, MapDump, MapEntry, XdpAction, XdpEngine, XdpInput, XdpResult
from .errors import HxdpError
from .mapfile import MapSetting, apply_settings, format_maps
from .target import ENGINE_CLOCK_MHZ

__all__ = ["ENGINES", "make_engine", "TrafficRun", "Traffic", "run_traffic", "format_summary", "set_up_maps",
           "load_traffic"]

ENGINES = ("interp", "model", "kernel", "rtl")


def make_engine(program: Program, name: str, routes=None, target=None) -> XdpEngine:
    """The engine called ``name`` for ``program``; compiled engines use ``target``
    (default: the default core)."""
    if name == "model":
        from .compiler.driver import compile_program
        from .model.engine import ModelEngine
        from .target import Target
        return ModelEngine(compile_program(program, target or Target()), routes=routes)
    if name == "interp":
        from .ebpf.runtime import XdpRuntime
        return XdpRuntime(program, routes=routes)
    if name == "kernel":
        from .ebpf.kernel import KernelEngine, kernel_unavailable_reason
        reason = kernel_unavailable_reason()
        if reason:
            raise HxdpError(f"the kernel engine is not available here: {reason}")
        return KernelEngine(program)
    if name == "rtl":
        raise HxdpError("the rtl engine runs whole packet streams: use run_traffic or hxdp.sim")
    raise HxdpError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


@dataclass
class TrafficRun:
    """The packets that went in, what came out, and the maps at the end."""
    program: Program
    engine: str
    inputs: list[XdpInput] = field(default_factory=list)
    results: list[XdpResult] = field(default_factory=list)
    maps: MapDump = field(default_factory=dict)

    @property
    def verdicts(self) -> Counter[str]:
        return Counter(r.action_name for r in self.results)

    @property
    def faults(self) -> list[tuple[int, str]]:
        return [(i, r.fault) for i, r in enumerate(self.results) if r.fault]

    @property
    def clock_mhz(self) -> float:
        """The clock the run's cycles are figured at."""
        return ENGINE_CLOCK_MHZ

    def leaving(self) -> list[tuple[int, bytes]]:
        """The packets that leave the program (TX, PASS, REDIRECT), each
        with the index of the input packet it came from."""
        return [(i, r.packet) for i, r in enumerate(self.results) if r.action in LEAVING]


def run_traffic(program: Program, packets: Iterable[XdpInput], *, engine: str = "interp",
                setup: Iterable[MapEntry] = (), routes=None,
                progress: Callable[[int], None] | None = None, target=None, config=None) -> TrafficRun:
    """Install ``setup``, run every packet in order, and collect the results.
    The model and rtl engines run a packet simulation (`hxdp.sim`, set by
    ``config``, a `SimConfig`) and give a `SimRun`."""
    if engine in ("model", "rtl"):
        from .sim import SimConfig, simulate_traffic
        if config is None:
            config = (SimConfig(engine, target.lanes, target.cores, target.packet_buffers) if target
                      else SimConfig(engine))
        return simulate_traffic(program, list(packets), config=config, setup=list(setup), routes=routes,
                                progress=progress)
    eng = make_engine(program, engine, routes=routes, target=target)
    try:
        for entry in setup:
            eng.update_map(entry.map, entry.key, entry.value)
        run = TrafficRun(program, engine)
        for i, packet in enumerate(packets):
            run.inputs.append(packet)
            run.results.append(eng.run(packet))
            if progress:
                progress(i + 1)
        run.maps = eng.dump_maps()
        return run
    finally:
        close = getattr(eng, "close", None)
        if close:
            close()


def format_summary(run: TrafficRun, *, show_packets: int = 8, show_entries: int = 8) -> str:
    """A person-readable report: verdict counts, first packets, maps."""
    p = run.program
    lines = [f"{p.name} ({p.path or 'assembly'}{', section ' + p.section if p.section else ''}): "
             f"{p.slots} instructions, {len(p.maps)} maps; engine {run.engine}",
             f"{len(run.results)} packets"]
    if show_packets and run.results:
        lines += ["", "  #  len  in-if  rxq  verdict        out-len  note"]
        for i, (pin, res) in enumerate(zip(run.inputs, run.results)):
            if i >= show_packets:
                lines.append(f"  … {len(run.results) - show_packets} more")
                break
            note = res.fault or ""
            if res.redirect is not None:
                target = res.redirect.map or "ifindex"
                note = f"redirect {target}[{res.redirect.key}]"
            if res.trace:
                note = (note + " " if note else "") + "trace: " + res.trace[-1]
            if res.ringbuf:
                note = (note + " " if note else "") + f"ringbuf: {len(res.ringbuf)}"
            lines.append(f"{i:3d} {len(pin.packet):4d} {pin.ingress_ifindex:6d} "
                         f"{pin.rx_queue_index:4d}  {res.action_name:<14} {len(res.packet):7d}  {note}")
    lines += ["", "verdicts:"]
    for action in XdpAction:
        count = run.verdicts.get(XdpAction.name_of(action), 0)
        if count:
            lines.append(f"  {XdpAction.name_of(action):<14} {count:6d}")
    for name, count in run.verdicts.items():
        if name.startswith("unknown"):
            lines.append(f"  {name:<14} {count:6d}")
    cycles = [r.cycles for r in run.results if r.cycles is not None]
    if cycles:
        mean = sum(cycles) / len(cycles)
        lines.append(f"cycles per packet: min {min(cycles)}, mean {mean:.1f}, max {max(cycles)} "
                     f"({run.clock_mhz / mean:.2f} Mpps at {run.clock_mhz:g} MHz)")
    if run.faults:
        lines.append(f"faults: {len(run.faults)} (first: packet {run.faults[0][0]}: {run.faults[0][1]})")
    lines += _ringbuf_lines(run, show_packets)
    if run.maps:
        lines += ["", *format_maps(run.maps, p.maps, show_entries, p.prog_arrays)]
    return "\n".join(lines)


@dataclass
class Traffic:
    """What a run needs besides the engine: the program (its global data as
    the map settings set them), the packets, the map entries to install
    first, the routes, and where the packets came from."""
    program: Program
    packets: list[XdpInput]
    setup: list[MapEntry]
    routes: object
    origin: str


def _ringbuf_lines(run: TrafficRun, show: int) -> list[str]:
    """The ring buffer records the packets sent, counted by map, the first ``show`` listed."""
    records = [(i, name, data) for i, r in enumerate(run.results) for name, data in r.ringbuf]
    if not records:
        return []
    counts = Counter(name for _, name, _ in records)
    lines = ["", f"ring buffer records: {len(records)} ({', '.join(f'{n} {c}' for n, c in counts.items())})"]
    for i, name, data in records[:show]:
        shown = data[:32].hex(" ", 4) + (" …" if len(data) > 32 else "")
        lines.append(f"  packet {i:3d}  {name}: {len(data)} bytes  {shown}")
    if len(records) > show > 0:
        lines.append(f"  … {len(records) - show} more")
    return lines


def set_up_maps(program: Program, scenario, settings: Iterable[MapSetting] = ()) -> tuple[Program, list[MapEntry]]:
    """``program`` with its global data as ``settings`` (map files, --map)
    set them, and the entries its maps start with: ``scenario``'s (a
    `hxdp.scenario.Scenario`, or None), then the settings'."""
    before = list(scenario.setup) if scenario else []
    program, settled = apply_settings(program, settings, before)
    return program, before + settled


def load_traffic(program: Program, program_path: Path, pcap: Path | None,
                 flows: tuple[int, int, tuple[int, int]] | None = None,
                 settings: Iterable[MapSetting] = ()) -> Traffic:
    """The program's built-in traffic, a pcap's, or ``flows`` (flows,
    packets, (smallest, largest) frame) of generated UDP traffic
    (`hxdp.sim.traffic`); the maps set up as the built-in scenario sets
    them, then as ``settings`` (map files, --map) do."""
    from .scenario import load_scenario
    scenario = load_scenario(program_path)
    program, setup = set_up_maps(program, scenario, settings)
    routes = scenario.routes if scenario else None
    if pcap is not None and flows is not None:
        raise HxdpError("give packets one way: --pcap or --flows")
    if flows is not None:
        from .sim.traffic import flow_traffic
        number, count, sizes = flows
        packets = flow_traffic(count, flows=number, sizes=sizes)
        origin = f"{count} generated UDP packets of {number} flows, {sizes[0]}-{sizes[1]} bytes"
    elif pcap is not None:
        packets = _pcap_packets(pcap)
        origin = f"{len(packets)} packets from {pcap}"
    elif scenario is None:
        raise HxdpError(f"{program_path} has no built-in traffic (no {program_path.with_suffix('.py').name} "
                        "beside it); give packets with --pcap FILE")
    else:
        packets = list(scenario.packets)
        origin = f"{len(scenario.packets)} built-in packets ({program_path.with_suffix('.py')})"
    return Traffic(program, packets, setup, routes, origin)


def _pcap_packets(pcap: Path) -> list[XdpInput]:
    """A pcap's frames as packets; a pcap without any, or with one no XDP
    frame holds, is refused by its name before a run."""
    from .ebpf.runtime import check_packet_size
    from .pcap import read_pcap
    packets = [XdpInput(record.data) for record in read_pcap(pcap)]
    if not packets:
        raise HxdpError(f"{pcap}: no packets in it")
    try:
        for i, packet in enumerate(packets):
            check_packet_size(i, packet.packet)
    except HxdpError as err:
        raise HxdpError(f"{pcap}: {err}") from None
    return packets


def write_output(run: TrafficRun, path: Path) -> int:
    """Write the packets that leave the program (TX, PASS, REDIRECT) to a
    pcap, each stamped with its input packet's index in microseconds: the
    same traffic gives the same file on every engine."""
    from .pcap import PcapRecord, write_pcap
    return write_pcap(path, (PcapRecord(data, i * 1e-6) for i, data in run.leaving()))
