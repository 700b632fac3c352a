"""The whole compiler: loaded eBPF program to image.

bpf_loop calls made loops of their own (`expand_loops`), eBPF-level
passes (`optimize`), lowering to machine IR, inlining, stack addresses
through r10, memory spaces, the machine-IR passes to a fixed point
(copies, exits, wide accesses, bounds checks, hoisting, stack zeroing,
stack forwarding, dead stack stores, dead code), the packet's start as a
constant, register allocation, branch senses (the likelier way falls
through), tail duplication (dropped again if the program then does not
fit the instruction memory), superblock formation, renaming within
superblocks, dependence graphs and list scheduling, and finally the rows
with branch targets resolved and a source map to the pcs of the program
as loaded.
"""

from __future__ import annotations

import copy
from typing import Mapping

from ..ebpf.helpers import ARITY
from ..ebpf.program import Program
from ..image import Image, ImageStats
from ..target import Slot, Target
from .bounds import fuse_bounds_checks
from .copyprop import propagate_copies
from .dce import eliminate_dead_code
from .deadstores import remove_dead_stack_stores
from .cfg import Cfg
from .ddg import build_ddg, is_control
from .exits import fold_exit_actions
from .forward import forward_stack_values
from .frameaddr import fold_frame_addresses
from .hoist import hoist_control_equivalent
from .inline import inline_calls
from .liveness import liveness
from .loops import expand_loops
from .lower import CompileError, lower
from .mir import MIR, MOp
from .optimize import optimize
from .orient import orient_branches
from .packetstart import fold_packet_start
from .regalloc import allocate_registers
from .rename import rename_registers
from .schedule import schedule
from .spaces import infer_spaces
from .stackzero import remove_stack_zeroing
from .taildup import duplicate_tails
from .traces import form_traces
from .widen import widen_accesses

__all__ = ["compile_program", "CompileError"]

MAX_ROUNDS = 10


def _lay_out(cfg: Cfg, target: Target) -> tuple[list[list[MOp]], dict[int, int], int]:
    """The rows of the superblocks, the row each block starts at, and the
    sum of their critical-path bounds."""
    live = liveness(cfg, MIR)
    rows: list[list[MOp]] = []
    start_row: dict[int, int] = {}
    bound = 0
    for trace in form_traces(cfg):
        start_row[trace.blocks[0]] = len(rows)
        exits = [live.live_in[m.target] if is_control(m) and m.target is not None else frozenset()
                 for m in trace.ops]
        renamed = rename_registers(trace.ops, exits, live.live_out[trace.blocks[-1]], target.registers)
        g = build_ddg(renamed, target, exits)
        bound += g.critical_rows()
        rows += schedule(g, target)
    return rows, start_row, bound


def compile_program(program: Program, target: Target, *, context_in_r1: bool = True,
                    arity: Mapping[int, int] = ARITY) -> Image:
    """Compile ``program`` for ``target``. ``context_in_r1`` says r1 holds an
    XDP context at entry (false for conformance programs, whose r1 is plain
    memory); ``arity`` how many arguments each helper takes (unknown: five)."""
    where = f"{program.name}: "
    better = optimize(expand_loops(program))
    cfg, stack_need = inline_calls(lower(better.program, arity), target.stack_bytes, where)
    fold_frame_addresses(cfg)
    infer_spaces(cfg, context_in_r1)
    for _ in range(MAX_ROUNDS):
        changed = (propagate_copies(cfg) + fold_exit_actions(cfg) + widen_accesses(cfg)
                   + fuse_bounds_checks(cfg, context_in_r1) + hoist_control_equivalent(cfg)
                   + remove_stack_zeroing(cfg, target.stack_bytes) + forward_stack_values(cfg)
                   + remove_dead_stack_stores(cfg, target.stack_bytes) + eliminate_dead_code(cfg, MIR))
        if not changed:
            break
    if context_in_r1:
        fold_packet_start(cfg)
    allocate_registers(cfg, target.registers)
    orient_branches(cfg)
    plain = copy.deepcopy(cfg)
    duplicate_tails(cfg)
    rows, start_row, bound = _lay_out(cfg, target)
    if len(rows) > target.imem_rows:        # the tails' copies may be what does not fit
        cfg = plain
        rows, start_row, bound = _lay_out(cfg, target)
    if len(rows) > target.imem_rows:
        raise CompileError(f"{where}needs {len(rows)} rows of instruction memory; the target has "
                           f"{target.imem_rows} (Target.imem_rows)")
    ops = sum(len(cfg.blocks[bid].insns) for bid in cfg.reverse_postorder())
    slots, source = [], []
    for row in rows:
        resolved = [m.replace(off=start_row[m.target]) if m.target is not None else m for m in row]
        pad = target.lanes - len(row)
        slots.append([m.slot() for m in resolved] + [Slot()] * pad)
        source.append([tuple(sorted({better.origin[pc] for pc in m.origin})) for m in row] + [()] * pad)
    pcs = {pc for row in source for origin in row for pc in origin}
    return Image(program.name, target, slots, list(program.maps), source,
                 {pc: line for pc, line in program.lines.items() if pc in pcs}, context_in_r1,
                 ImageStats(insns=len(program.insns), ops=ops, bound_rows=bound, stack_bytes=stack_need))
