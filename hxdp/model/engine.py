"""The model as an engine: XDP packets (an `XdpEngine`, sharing the
reference runtime's frames, maps and helpers) and bare conformance programs."""

from __future__ import annotations

from typing import Sequence

from ..ebpf.fib import RouteTable
from ..ebpf.interp import CONFORMANCE_HELPERS, ConformanceEnv
from ..ebpf.isa import Insn
from ..ebpf.memory import PACKET_BASE, Memory
from ..ebpf.program import Program
from ..ebpf.runtime import XdpRuntime
from ..ebpf.xdp import HEADROOM
from ..image import Image
from ..target import MAX_CYCLES, Target
from .core import Core

__all__ = ["ModelEngine", "run_conformance", "conformance_core"]


def ModelEngine(image: Image, *, routes: RouteTable | None = None, max_cycles: int = MAX_CYCLES,
                **kw) -> XdpRuntime:
    """An XDP engine running ``image`` on the cycle-accurate core; results carry cycles."""
    holder = Program(image.name, [], image.maps)
    return XdpRuntime(holder, routes=routes, core=lambda rt: Core(image, rt.memory, rt, max_cycles=max_cycles),
                      **kw)


def run_conformance(insns: Sequence[Insn], mem: bytes, target: Target) -> int:
    """Compile a conformance program for ``target`` and run it on the model
    with the suite's entry state (r1 = memory, r2 = its length)."""
    from ..compiler.driver import compile_program
    image = compile_program(Program("conformance", list(insns)), target, context_in_r1=False, arity={})
    core, r1, r2 = conformance_core(image, mem)
    return core.run(r1, r2)


def conformance_core(image: Image, mem: bytes) -> tuple[Core, int, int]:
    """A core for a compiled conformance program, and its r1 and r2. The
    memory sits where the gateware holds it: in the packet buffer, as a packet."""
    memory = Memory()
    region = memory.allocate("input memory", bytearray(mem), base=PACKET_BASE + HEADROOM)
    core = Core(image, memory, ConformanceEnv(CONFORMANCE_HELPERS))
    return core, region.base if mem else 0, len(mem)
