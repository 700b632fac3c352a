"""A packet-level, cycle-accurate run of a program's traffic: the engine
as Verilog under Verilator (``rtl``) or the model with the engine's stream
timing (``model``), packets arriving from a line, verdicts, bytes, egress
ports and every packet's cycles."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..compiler.driver import compile_program
from ..ebpf.program import Program
from ..ebpf.runtime import check_packet_size
from ..ebpf.xdp import LEAVING, MapEntry, Redirect, XdpAction, XdpInput, XdpResult
from ..errors import HxdpError
from ..image import Image
from ..model.engine import ModelEngine
from ..model.stream import Ingress, StreamTiming
from ..passage import Passage
from ..run import TrafficRun
from ..target import MAX_CYCLES, ENGINE_CLOCK_MHZ, Target
from .wire import DEFAULT_FIFO_BYTES, LineRate, arrivals

__all__ = ["SIM_ENGINES", "SimConfig", "PacketRecord", "SimRun", "simulate_traffic"]

SIM_ENGINES = ("rtl", "model")


@dataclass(frozen=True)
class SimConfig:
    engine: str = "rtl"
    lanes: int = 4
    cores: int = 1
    buffers: int = Target.packet_buffers      # packet buffers a core
    rate: LineRate = LineRate.MAX
    clock_mhz: float = ENGINE_CLOCK_MHZ
    fifo_bytes: int = DEFAULT_FIFO_BYTES      # on a line; with LineRate.MAX the source waits instead
    tx_ready: float = 1.0                     # the chance tx takes a beat in a cycle
    seed: int = 0
    vcd: Path | None = None                   # waves of the packets vcd_packets (first, last)
    vcd_packets: tuple[int, int] = (0, 0)
    threads: int = 1                          # the rtl engine's evaluation threads (Verilator's --threads)

    @property
    def ingress(self) -> Ingress:
        return Ingress(0 if self.rate is LineRate.MAX else self.fifo_bytes, self.tx_ready, self.seed)

    def check(self) -> None:
        if self.engine not in SIM_ENGINES:
            raise HxdpError(f"packet simulation runs on {' or '.join(SIM_ENGINES)}, not {self.engine!r}")
        if not 0 < self.tx_ready <= 1:
            raise HxdpError(f"tx readiness {self.tx_ready} must be above 0 and at most 1")
        if self.fifo_bytes < 0:
            raise HxdpError(f"an ingress FIFO of {self.fifo_bytes} bytes: give 0 (no limit) or more")
        if not 0 < self.clock_mhz < math.inf:
            raise HxdpError(f"clock {self.clock_mhz} MHz: give a positive frequency")
        if self.cores != 1 and self.engine != "rtl":
            raise HxdpError(f"the model times one core; run {self.cores} cores on the Verilog (--engine rtl)")
        if self.vcd and self.engine != "rtl":
            raise HxdpError("waves (--vcd) come from the Verilog: use --engine rtl")
        if self.threads != 1 and self.engine != "rtl":
            raise HxdpError("evaluation threads (--threads) are the Verilog's: use --engine rtl")
        if not 1 <= self.threads <= (os.cpu_count() or 1):
            raise HxdpError(f"{self.threads} threads: give 1 to the {os.cpu_count() or 1} cores here (Verilator's "
                            "threads wait by spinning, so more than the cores only slow it)")
        first, last = self.vcd_packets
        if not 0 <= first <= last:
            raise HxdpError(f"traced packets {first}:{last}: give FIRST:LAST with FIRST <= LAST")


@dataclass
class PacketRecord:
    """What became of input packet ``index``: its passage, and the
    program's result (None when it was dropped at ingress)."""
    index: int
    input: XdpInput
    passage: Passage
    result: XdpResult | None


@dataclass
class SimRun(TrafficRun):
    """A `TrafficRun` (``inputs`` and ``results`` of the packets that
    reached the program) with every packet's record and the cost of the run."""
    config: SimConfig = field(default_factory=SimConfig)
    records: list[PacketRecord] = field(default_factory=list)
    cycles: int = 0          # cycles the run lasted
    evaluated: int = 0       # cycles the simulator evaluated (rtl: without idle ones skipped)
    seconds: float = 0.0     # and the time that took (not counting a Verilator build)

    @property
    def clock_mhz(self) -> float:
        return self.config.clock_mhz

    def _left(self) -> list[PacketRecord]:
        return [r for r in self.records if r.result is not None and r.result.action in LEAVING]

    def leaving(self) -> list[tuple[int, bytes]]:
        return [(r.index, r.result.packet) for r in self._left()]

    def sent_in_order(self) -> list[bytes]:
        """The packets that left, in the order their last beats left the engine."""
        return [r.result.packet for r in sorted(self._left(), key=lambda r: (r.passage.done, r.index))]


def simulate_traffic(program: Program, packets: Sequence[XdpInput], *, config: SimConfig = SimConfig(),
                     setup: Sequence[MapEntry] = (), routes=None,
                     progress: Callable[[int], None] | None = None) -> SimRun:
    """Install ``setup``, send ``packets`` from the line of ``config`` through
    its engine, and collect every packet's record and the final maps."""
    config.check()
    for i, packet in enumerate(packets):
        check_packet_size(i, packet.packet)
    target = Target.with_lanes(config.lanes, cores=config.cores, packet_buffers=config.buffers)
    image = compile_program(program, target)
    # The model's runtime holds the maps: it runs the packets (model) or
    # gives the first map contents and reads the final ones (rtl; a per-CPU
    # array has a CPU a core).
    runtime = ModelEngine(image, routes=routes, nr_cpus=config.cores)
    for entry in setup:
        runtime.update_map(entry.map, entry.key, entry.value)
    due = arrivals([len(p.packet) for p in packets], config.rate, config.clock_mhz)
    run = SimRun(program, config.engine, config=config)
    if config.engine == "model":
        began = time.perf_counter()
        passages, results = _on_model(runtime, target, packets, due, config, progress)
        run.cycles = run.evaluated = max((p.done + 1 for p in passages), default=0)
        run.seconds = time.perf_counter() - began
    else:
        passages, results, stream = _on_rtl(runtime, image, target, packets, due, config, progress)
        run.cycles, run.evaluated, run.seconds = stream.cycles, stream.ticks, stream.seconds
    for i, (packet, passage, result) in enumerate(zip(packets, passages, results)):
        run.records.append(PacketRecord(i, packet, passage, result))
        if result is not None:
            run.inputs.append(packet)
            run.results.append(result)
    run.maps = runtime.dump_maps()
    return run


def _on_model(runtime, target: Target, packets: Sequence[XdpInput], due: list[int], config: SimConfig,
              progress) -> tuple[list[Passage], list[XdpResult | None]]:
    timing = StreamTiming(target.packet_frame_bytes, config.ingress, target.packet_buffers)
    passages, results = [], []
    for i, (packet, arrival) in enumerate(zip(packets, due)):
        if timing.admits(arrival, len(packet.packet)):
            result = runtime.run(packet)
            passages.append(timing.passage(arrival, len(packet.packet), result.cycles, result.sent))
            results.append(result)
        else:
            passages.append(Passage.dropped_at(arrival))
            results.append(None)
        if progress:
            progress(i + 1)
    return passages, results


def _on_rtl(runtime, image: Image, target: Target, packets: Sequence[XdpInput], due: list[int],
            config: SimConfig, progress):
    from ..gateware.core import Fault
    from ..gateware.host import Job, Packet, check_supported, maps_from_runtime, maps_to_runtime
    from ..gateware.verilator import VERDICT_MARGIN, VerilatorEngine
    check_supported(image, target)
    job = Job(image, [Packet(p.packet, p.ingress_ifindex, p.rx_queue_index) for p in packets],
              maps=maps_from_runtime(target, image, runtime.maps))
    with VerilatorEngine(target, trace=config.vcd is not None, threads=config.threads) as engine:
        engine.load(job)
        stream = engine.stream(job.packets, due, stall=MAX_CYCLES + VERDICT_MARGIN,
                               tx_ready=config.tx_ready, seed=config.seed, fifo_bytes=config.ingress.fifo_bytes,
                               vcd=config.vcd, vcd_packets=config.vcd_packets,
                               period_ps=round(1e6 / config.clock_mhz),
                               progress=(lambda done, cycle: progress(done)) if progress else None)
        engine.read_back(job)
    maps_to_runtime(target, job, runtime.maps)
    results: list[XdpResult | None] = []
    for outcome in stream.outcomes:
        if outcome is None:
            results.append(None)
        elif outcome.fault is not Fault.NONE:
            results.append(XdpResult(XdpAction.ABORTED, b"", fault=f"{outcome.fault.name.lower()} fault",
                                     cycles=outcome.cycles))
        else:
            action = outcome.action & 0xFFFF_FFFF
            redirect = Redirect(outcome.egress, ifindex=outcome.egress) if action == XdpAction.REDIRECT else None
            results.append(XdpResult(action, outcome.packet or b"", redirect=redirect, cycles=outcome.cycles))
    return stream.passages, results, stream
