"""The eBPF-level optimisation pipeline: passes over each function's CFG,
then the functions laid out again as a Program.

The result is still an ordinary eBPF program, so the reference interpreter
and the kernel check every pass: an optimised program must do exactly what
the original does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

from ..ebpf.isa import Insn
from ..ebpf.program import Program
from .cfg import Cfg, build_cfg, flatten, functions
from .constprop import propagate_constants
from .dce import eliminate_dead_code

__all__ = ["Pass", "DEFAULT_PASSES", "Optimized", "optimize"]

Pass = Callable[[Cfg], int]
DEFAULT_PASSES: tuple[Pass, ...] = (propagate_constants, eliminate_dead_code)
MAX_ROUNDS = 10


@dataclass
class Optimized:
    program: Program
    origin: dict[int, int]          # pc in ``program`` -> pc of the instruction it came from


def optimize(program: Program, passes: Sequence[Pass] = DEFAULT_PASSES) -> Optimized:
    """Run ``passes`` on every function until none changes anything."""
    callee_of = {insn.pc: insn.call_target for insn in program.insns if insn.call_target is not None}
    laid_out: list[tuple[str, int, list[Insn], list[int]]] = []
    for name, insns in functions(program):
        cfg = build_cfg(name, insns)
        for _ in range(MAX_ROUNDS):
            if not sum(p(cfg) for p in passes):
                break
        body, origin = flatten(cfg)
        laid_out.append((name, insns[0].pc, body, origin))
    # Place the functions one after another; calls go to their callee's new start.
    new_start: dict[int, int] = {}
    pc = 0
    for _, old_start, body, _ in laid_out:
        new_start[old_start] = pc
        pc += sum(i.slots for i in body)
    out: list[Insn] = []
    lines = {}
    source: dict[int, int] = {}
    for name, old_start, body, origin in laid_out:
        base = new_start[old_start]
        for insn, old_pc in zip(body, origin):
            here = base + insn.pc
            if old_pc in callee_of:
                insn = dataclasses.replace(insn, imm=new_start[callee_of[old_pc]] - (here + 1))
            out.append(dataclasses.replace(insn, pc=here))
            source[here] = old_pc
            if old_pc in program.lines:
                lines[here] = program.lines[old_pc]
    functions_at = {new_start[old]: name for name, old, _, _ in laid_out}
    return Optimized(dataclasses.replace(program, insns=out, lines=lines, functions=functions_at), source)
