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
``packet PORT QUEUE LIMIT BEAT...``   ``verdict ACTION CYCLES FAULT EGRESS BYTES``
                                      (BYTES: what left on ``tx``, ``-`` if
                                      none) or ``timeout LIMIT`` when no
                                      verdict and bytes came in LIMIT cycles
``quit``                              the driver ends (as on end of input)
====================================  =======================================

A request it cannot carry out is answered ``error TEXT``.
"""

from __future__ import annotations

import queue
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Sequence

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
from .host import (BusRead, Job, Outcome, Packet, beats, check_supported, load_writes, readback_steps,
                   take_readback)
from .registers import ADDR
from .rtlcache import build_key, cached_build, engine_verilog, rtl_cache
from .verilog import TOP_NAME

__all__ = ["DRIVER_SOURCE", "BUILD_LOG", "WARNING_FLAGS", "MAKE_FLAGS", "build_engine", "VerilatorEngine",
           "EngineFault", "ConformanceRunner"]

DRIVER_SOURCE = Path(__file__).with_name("cxx") / "engine_driver.cpp"
BUILD_LOG = "build.log"

# Amaranth's Verilog draws width and style warnings that say nothing here.
WARNING_FLAGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style")
# For make, also when cocotb builds (rtl_tests): -O1 on the model's code
# runs nearly as fast as -O2 and builds sooner (-O0 runs ten times slower);
# the wheel's verilated.mk leaves empty the flag that includes a
# precompiled header, which the build needs.
MAKE_FLAGS = ("OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1", "CFG_CXXFLAGS_PCH_I=-include")

# A verdict and its bytes come within the watchdog's cycles and a packet's
# beats in and out; this many cycles more leave room for both.
VERDICT_MARGIN = 4 * FRAME_SIZE
# A request may take BASE_SECONDS and SECONDS_PER_CYCLE for every cycle it
# may simulate: ten times what the driver needs (it runs 10^5 to 10^6 cycles
# a second, fewer as lanes grow).
BASE_SECONDS = 30.0
SECONDS_PER_CYCLE = 1e-4


def build_engine(target: Target) -> Path:
    """The driver's executable for ``target``, built once and cached."""
    verilator = find_verilator()
    verilog = engine_verilog(target)
    key = build_key(verilog.read_bytes(), DRIVER_SOURCE.read_bytes(), verilator.version,
                    *WARNING_FLAGS, *MAKE_FLAGS)
    directory = cached_build(rtl_cache() / f"engine-{key}",
                             lambda scratch: _verilate(verilator, verilog, scratch),
                             f"the {target.lanes}-lane engine", keep=(TOP_NAME, BUILD_LOG))
    return directory / TOP_NAME


def _verilate(verilator: Verilator, verilog: Path, directory: Path) -> None:
    argv = [verilator.command, "--cc", "--exe", "--build", "-j", "2", *WARNING_FLAGS,
            *(f for flag in MAKE_FLAGS for f in ("-MAKEFLAGS", flag)),
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


class VerilatorEngine:
    """One engine process: programs loaded over its control bus, packets
    sent through its streams. A context manager; `close` ends the process."""

    def __init__(self, target: Target | None = None):
        self.target = target or Target()
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen([str(build_engine(self.target))], stdin=subprocess.PIPE,
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

    def _exchange(self, requests: Sequence[str], cycles: int = 0) -> list[str]:
        """Send ``requests`` at once and wait for their replies, as long as
        ``cycles`` of simulation may take at most."""
        if self._stderr.closed:
            raise HxdpError("this Verilator engine was closed; start another")
        if self._process.poll() is not None:
            raise HxdpError(self._died())
        try:
            self._process.stdin.write("".join(f"{r}\n" for r in requests))
            self._process.stdin.flush()
        except BrokenPipeError:
            raise HxdpError(self._died()) from None
        timeout = BASE_SECONDS + cycles * SECONDS_PER_CYCLE
        replies = []
        for request in requests:
            try:
                reply = self._replies.get(timeout=timeout)
            except queue.Empty:
                self._process.kill()
                raise HxdpError(f"the Verilator engine did not answer {request.split()[0]!r} within "
                                f"{timeout:.0f} s; it was stopped") from None
            if reply is None:
                raise HxdpError(self._died())
            replies.append(reply)
        # Every reply is taken before an error is raised: the next requests must meet their own.
        for request, reply in zip(requests, replies):
            if reply.startswith("error "):
                raise HxdpError(f"the Verilator engine refused {request.split()[0]!r}: {reply[6:]}")
        return replies

    def _died(self) -> str:
        self._process.wait()
        self._stderr.seek(0)
        return (f"the Verilator engine exited (status {self._process.returncode}): "
                f"{self._stderr.read().strip() or 'no message'}")

    def read(self, name: str) -> int:
        return int(self._exchange([f"read {ADDR[name]:x}"])[0], 16)

    def load(self, job: Job) -> None:
        self._exchange([f"write {addr:x} {value:x}" for addr, value in load_writes(self.target, job)])

    def send(self, packet: Packet, max_cycles: int) -> Outcome:
        """One packet in, its verdict and bytes out."""
        limit = max_cycles + VERDICT_MARGIN
        data = " ".join(b.hex() or "-" for b in beats(packet.data, self.target.packet_frame_bytes))
        reply = self._exchange([f"packet {packet.port:x} {packet.queue:x} {limit:x} {data}"], limit)[0]
        kind, *fields = reply.split()
        if kind == "timeout":
            self.close()
            raise HxdpError(f"the engine gave no verdict within {limit} cycles (the watchdog allows "
                            f"{max_cycles}); the engine was stopped")
        action, cycles, fault, egress, sent = fields
        return Outcome(int(action, 16), int(cycles, 16), Fault(int(fault, 16)),
                       None if sent == "-" else bytes.fromhex(sent), int(egress, 16))

    def run(self, jobs: Iterable[Job]) -> list[Job]:
        """Run every job in turn, as `simulate` does: fills ``outcomes``,
        ``counters`` and ``final_maps``."""
        jobs = list(jobs)
        for job in jobs:
            self.load(job)
            job.outcomes += [self.send(packet, job.max_cycles) for packet in job.packets]
            steps = readback_steps(self.target, job)
            replies = self._exchange([f"read {s.addr:x}" if isinstance(s, BusRead) else
                                      f"write {s.addr:x} {s.value:x}" for s in steps])
            take_readback(self.target, job, [int(r, 16) for s, r in zip(steps, replies) if isinstance(s, BusRead)])
        return jobs


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
