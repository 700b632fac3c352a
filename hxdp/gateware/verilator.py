"""The engine's Verilog under Verilator, driven from C++: the same jobs as
`hxdp.gateware.simulate.simulate`, many times faster, and the ``rtl``
conformance engine.

The model is built once per target (`rtlcache`) with the driver
``cxx/engine_driver.cpp``, which runs it cycle by cycle and answers one
request a line on its standard input, one reply a line on its output.
Numbers are hex; a beat is its bytes in hex, ``-`` for none:

====================================  =======================================
request                               reply
====================================  =======================================
``field STREAM NAME OFFSET WIDTH``    ``ok``: where a field of the ``rx``,
                                      ``tx`` or ``verdict`` payload sits
                                      (sent first, from the Amaranth layouts)
``write ADDR VALUE``                  ``ok``: one control-bus write
``read ADDR``                         ``VALUE``
``stream IN OUT STALL TXREADY SEED``   ``done CYCLES TICKS MICROSECONDS`` once
``FIFO VCD FIRST LAST HALFPERIOD``      every packet of file IN was dropped
                                      at ingress or ended (what became of
                                      each in file OUT; TICKS: the cycles
                                      evaluated, idle ones skipped), after
                                      ``progress DONE
                                      CYCLE`` lines while it runs; ``stalled
                                      CYCLE PACKET`` when nothing moved for
                                      STALL cycles
``quit``                              the driver ends (as on end of input)
====================================  =======================================

A request it cannot carry out is answered ``error TEXT``. The packet files
are little-endian binary: in, a packet is its arrival cycle (u64), port,
queue and length (u32 each) and its bytes; out, a packet is its fate (u8:
1 dropped at ingress, 2 ended), the cycles of its first beat in, its
verdict and its end (u64 each), its action (u64), its cycles, fault,
egress, the core that ran it, whether it sent bytes and their length (u32
each), and the bytes.
"""

from __future__ import annotations

import queue
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from amaranth.hdl import Shape

from ..ebpf.interp import ExecutionFault
from ..ebpf.isa import Insn
from ..ebpf.program import Program
from ..ebpf.runtime import FRAME_SIZE
from ..errors import HxdpError
from ..target import Target
from ..toolchain import Verilator, find_verilator
from .core import Fault
from .engine import beat_layout, verdict_layout
from ..passage import Passage, ready_chance
from .host import (BusRead, Job, Outcome, Packet, check_supported, load_writes, readback_steps,
                   take_readback)
from .registers import ADDR
from .rtlcache import build_key, cached_build, engine_verilog, rtl_cache
from .verilog import TOP_NAME

__all__ = ["DRIVER_SOURCE", "BUILD_LOG", "WARNING_FLAGS", "MAKE_FLAGS", "build_engine", "VerilatorEngine",
           "StreamRun", "EngineFault", "ConformanceRunner"]

DRIVER_SOURCE = Path(__file__).with_name("cxx") / "engine_driver.cpp"
BUILD_LOG = "build.log"

# Amaranth's Verilog draws width and style warnings that say nothing here.
WARNING_FLAGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style")
# For make, also when cocotb builds (rtl_tests): -O1 on the model's code
# runs nearly as fast as -O2 and builds sooner (-O0 runs ten times slower);
# the wheel's verilated.mk leaves empty the flag that includes a
# precompiled header, which the build needs.
MAKE_FLAGS = ("OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1", "CFG_CXXFLAGS_PCH_I=-include")
# The rtl engine runs long packet streams: its model is built for speed
# (Verilator's optimisations, one C++ file, -O3: half again as fast as
# MAKE_FLAGS alone, for twice the build time, about 40 s at 4 lanes).
SPEED_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "--output-split", "0",
               "--output-split-cfuncs", "0", "-MAKEFLAGS", "OPT_FAST=-O3")

# A verdict and its bytes come within the watchdog's cycles and a packet's
# beats in and out; this many cycles more leave room for both.
VERDICT_MARGIN = 4 * FRAME_SIZE
# A request other than a stream is answered within this many seconds.
REPLY_SECONDS = 30.0
# A stream reports progress a few times a second; silence this long means the driver hangs.
PROGRESS_SECONDS = 60.0


def build_engine(target: Target, trace: bool = False, threads: int = 1) -> Path:
    """The driver's executable for ``target``, built once and cached; with
    ``trace``, a build that can write waves (slower to build and to run);
    with ``threads`` above 1, a model evaluating on that many threads
    (Verilator's --threads: the 4-core engine runs 1.7 times as fast on 2,
    given 2 cores to itself; its threads spin, so never more than there are)."""
    verilator = find_verilator()
    verilog = engine_verilog(target)
    flags = (*WARNING_FLAGS, *SPEED_FLAGS, *(("--trace",) if trace else ()),
             *(("--threads", str(threads)) if threads > 1 else ()))
    key = build_key(verilog.read_bytes(), DRIVER_SOURCE.read_bytes(), verilator.version, *flags, *MAKE_FLAGS)
    what = f"the {target.lanes}-lane engine" + (" with tracing" if trace else "") + \
        (f" on {threads} threads" if threads > 1 else "")
    directory = cached_build(rtl_cache() / f"engine-{key}",
                             lambda scratch: _verilate(verilator, verilog, scratch, flags),
                             what, keep=(TOP_NAME, BUILD_LOG))
    return directory / TOP_NAME


def _verilate(verilator: Verilator, verilog: Path, directory: Path, flags: Sequence[str]) -> None:
    # The flags after MAKE_FLAGS, so that theirs win.
    argv = [verilator.command, "--cc", "--exe", "--build", "-j", "2",
            *(f for flag in MAKE_FLAGS for f in ("-MAKEFLAGS", flag)), *flags,
            "--top-module", TOP_NAME, "--Mdir", str(directory), "-o", TOP_NAME,
            str(verilog), str(DRIVER_SOURCE)]
    log = directory / BUILD_LOG
    with open(log, "w") as out:
        done = subprocess.run(argv, env=verilator.env(), stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise HxdpError(f"Verilator could not build the engine (exit {done.returncode}); the end of its log:\n"
                        f"{tail}")


class EngineFault(ExecutionFault):
    """A packet the engine ended as XDP_ABORTED: its verdict says why, not where."""

    def __init__(self, fault: Fault, cycles: int):
        HxdpError.__init__(self, f"the engine aborted the program after {cycles} cycles: "
                                 f"{fault.name.lower().replace('_', ' ')} fault")
        self.pc = None
        self.reason = fault.name.lower()


@dataclass
class StreamRun:
    """What a stream of packets did: each packet's passage and outcome
    (None for one dropped at ingress), the cycles it lasted, those the model
    evaluated (idle ones with no packet coming are skipped) and the seconds
    they took."""
    passages: list[Passage]
    outcomes: list[Outcome | None]
    cycles: int
    ticks: int
    seconds: float


_IN = struct.Struct("<QIII")
_OUT = struct.Struct("<BQQQQIIIIII")


class VerilatorEngine:
    """One engine process: programs loaded over its control bus, packets
    sent through its streams. A context manager; `close` ends the process.
    With ``trace``, `stream` can write waves; ``threads``: `build_engine`'s."""

    def __init__(self, target: Target | None = None, trace: bool = False, threads: int = 1):
        self.target = target or Target()
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen([str(build_engine(self.target, trace, threads))], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self._replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_replies, daemon=True).start()
        fields = [f"field {stream} {name} {f.offset:x} {Shape.cast(f.shape).width:x}"
                  for stream, layout in (("rx", beat_layout(self.target.packet_frame_bytes)),
                                         ("tx", beat_layout(self.target.packet_frame_bytes)),
                                         ("verdict", verdict_layout()))
                  for name, f in layout]
        self._exchange(fields)

    def __enter__(self) -> "VerilatorEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Ask the driver to end; stop it if it does not."""
        if self._process.poll() is None:
            try:
                self._process.stdin.write("quit\n")
                self._process.stdin.close()
                self._process.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._stderr.close()

    def _read_replies(self) -> None:
        for line in self._process.stdout:
            self._replies.put(line.rstrip("\n"))
        self._replies.put(None)

    def _exchange(self, requests: Sequence[str]) -> list[str]:
        """Send ``requests`` at once and wait for their replies."""
        self._send(requests)
        replies = [self._reply(request, REPLY_SECONDS) for request in requests]
        # Every reply is taken before an error is raised: the next requests must meet their own.
        for request, reply in zip(requests, replies):
            self._check(request, reply)
        return replies

    def _send(self, requests: Sequence[str]) -> None:
        if self._stderr.closed:
            raise HxdpError("this Verilator engine was closed; start another")
        if self._process.poll() is not None:
            raise HxdpError(self._died())
        try:
            self._process.stdin.write("".join(f"{r}\n" for r in requests))
            self._process.stdin.flush()
        except BrokenPipeError:
            raise HxdpError(self._died()) from None

    def _reply(self, request: str, timeout: float) -> str:
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            self._process.kill()
            raise HxdpError(f"the Verilator engine did not answer {request.split()[0]!r} within "
                            f"{timeout:.0f} s; it was stopped") from None
        if reply is None:
            raise HxdpError(self._died())
        return reply

    @staticmethod
    def _check(request: str, reply: str) -> None:
        if reply.startswith("error "):
            raise HxdpError(f"the Verilator engine refused {request.split()[0]!r}: {reply[6:]}")

    def _died(self) -> str:
        self._process.wait()
        self._stderr.seek(0)
        return (f"the Verilator engine exited (status {self._process.returncode}): "
                f"{self._stderr.read().strip() or 'no message'}")

    def read(self, name: str) -> int:
        return int(self._exchange([f"read {ADDR[name]:x}"])[0], 16)

    def load(self, job: Job) -> None:
        self._exchange([f"write {addr:x} {value:x}" for addr, value in load_writes(self.target, job)])

    def stream(self, packets: Sequence[Packet], arrivals: Sequence[int], *, stall: int, tx_ready: float = 1.0,
               seed: int = 0, fifo_bytes: int = 0, vcd: Path | None = None, vcd_packets: tuple[int, int] = (0, 0),
               period_ps: int = 6400, progress: Callable[[int, int], None] | None = None) -> StreamRun:
        """Send ``packets``, each whole in the ingress FIFO (``fifo_bytes``,
        0 for no limit) at its cycle of ``arrivals``, with tx ready in a
        cycle with chance ``tx_ready``; ``progress(done, cycle)`` is called
        a few times a second. Gives up when nothing moved for ``stall``
        cycles. With ``vcd``, the waves of the packets ``vcd_packets``
        (first, last) go there."""
        if len(packets) != len(arrivals):
            raise ValueError("one arrival cycle a packet")
        with tempfile.TemporaryDirectory(prefix="hxdp-stream-") as scratch:
            inp, out = Path(scratch) / "in", Path(scratch) / "out"
            if " " in str(inp) or (vcd and " " in str(vcd)):
                raise HxdpError("the Verilator engine takes file names without spaces")
            with open(inp, "wb") as f:
                for packet, arrival in zip(packets, arrivals):
                    f.write(_IN.pack(arrival, packet.port, packet.queue, len(packet.data)))
                    f.write(packet.data)
            first, last = vcd_packets
            request = (f"stream {inp} {out} {stall:x} {ready_chance(tx_ready):x} {seed:x} {fifo_bytes:x} "
                       f"{vcd or '-'} {first:x} {last:x} {period_ps // 2:x}")
            self._send([request])
            while (reply := self._reply(request, PROGRESS_SECONDS)).startswith("progress "):
                if progress:
                    done, cycle = reply.split()[1:]
                    progress(int(done, 16), int(cycle, 16))
            self._check(request, reply)
            kind, *fields = reply.split()
            if kind == "stalled":
                cycle, index = (int(f, 16) for f in fields)
                self.close()
                raise HxdpError(f"the engine stalled: nothing moved for {stall} cycles up to cycle {cycle}, "
                                f"with packet {index} unfinished; the engine was stopped")
            cycles, ticks, micros = (int(f, 16) for f in fields)
            return StreamRun(*_results(out.read_bytes(), arrivals), cycles, ticks, micros / 1e6)

    def run(self, jobs: Iterable[Job]) -> list[Job]:
        """Run every job in turn, as `simulate` does: fills ``outcomes``,
        ``counters`` and ``final_maps``. Each packet goes in once the one
        before it has left, so the core starts on it with its first beat."""
        jobs = list(jobs)
        for job in jobs:
            self.load(job)
            for packet in job.packets:
                job.outcomes += self.stream([packet], [0], stall=job.max_cycles + VERDICT_MARGIN).outcomes
            self.read_back(job)
        return jobs

    def read_back(self, job: Job) -> None:
        """Fill ``job``'s counters and final maps from the engine."""
        steps = readback_steps(self.target, job)
        replies = self._exchange([f"read {s.addr:x}" if isinstance(s, BusRead) else
                                  f"write {s.addr:x} {s.value:x}" for s in steps])
        take_readback(self.target, job, [int(r, 16) for s, r in zip(steps, replies) if isinstance(s, BusRead)])


def _results(data: bytes, arrivals: Sequence[int]) -> tuple[list[Passage], list[Outcome | None]]:
    passages, outcomes, at = [], [], 0
    for arrival in arrivals:
        fate, start, verdict, done, action, cycles, fault, egress, cpu, sends, length = _OUT.unpack_from(data, at)
        at += _OUT.size
        sent = data[at:at + length]
        at += length
        if fate == 1:
            passages.append(Passage.dropped_at(arrival))
            outcomes.append(None)
        else:
            passages.append(Passage(arrival, start, verdict, done, cpu))
            outcomes.append(Outcome(action, cycles, Fault(fault), sent if sends else None, egress))
    return passages, outcomes


class ConformanceRunner:
    """Runs conformance programs (r1 = memory, r2 = its length) on one engine
    process, started for the first program and kept for the rest."""

    def __init__(self, target: Target):
        self.target = target
        self._engine: VerilatorEngine | None = None

    def __call__(self, insns: Sequence[Insn], mem: bytes) -> int:
        from ..compiler.driver import compile_program
        image = compile_program(Program("conformance", list(insns)), self.target, context_in_r1=False, arity={})
        check_supported(image, self.target, conformance=True)
        if self._engine is None:
            self._engine = VerilatorEngine(self.target)
        job, = self._engine.run([Job(image, [Packet(mem)], conformance=True)])
        outcome, = job.outcomes
        if outcome.fault is not Fault.NONE:
            raise EngineFault(outcome.fault, outcome.cycles)
        return outcome.action
