"""bpf_loop calls become calls of a loop.

The hxdp core has no helper that calls back into the program, so each
``call bpf_loop`` whose callback is loaded where the call is made (as
clang loads it: ``lddw r2, callback`` shortly before) becomes a
BPF-to-BPF call of a function, added at the program's end, that runs the
helper's loop in eBPF and calls the callback; the inliner then inlines both
like any call. The result is an ordinary eBPF program doing what the
helper does: the interpreter checks it like every eBPF-level pass.
"""

from __future__ import annotations

import dataclasses
import errno

from ..ebpf.asm import assemble
from ..ebpf.helpers import MAX_LOOPS, HelperId
from ..ebpf.isa import Form, Insn, Kind, Pseudo
from ..ebpf.program import Program
from .lower import CompileError

__all__ = ["expand_loops"]

# The loop, as the kernel's bpf_loop runs it: r1 the count (32 bits), r3 the
# callback's context, r4 the flags; the callback gets the index and the
# context and stops the loop by returning non-zero; r0 the iterations run.
_LOOP = f"""
    mov %r0, {-errno.EINVAL}
    jne %r4, 0, done
    mov32 %r6, %r1
    mov %r0, {-errno.E2BIG}
    jgt %r6, {MAX_LOOPS}, done
    mov %r7, %r3
    mov %r8, 0
next:
    jge %r8, %r6, count
    mov %r1, %r8
    mov %r2, %r7
    mov %r3, 0
    mov %r4, 0
    mov %r5, 0
    call local next
    add %r8, 1
    jeq %r0, 0, next
count:
    mov %r0, %r8
done:
    exit
"""


def expand_loops(program: Program) -> Program:
    """``program`` with each bpf_loop call a call of a loop function (one a
    callback), or ``program`` itself when it calls none."""
    calls = [i for i in program.insns if i.spec.form is Form.CALL and i.imm == HelperId.LOOP]
    if not calls:
        return program
    targets = {i.jump_target for i in program.insns if i.jump_target is not None}
    insns = {i.pc: i for i in program.insns}
    end = program.slots
    loops: dict[int, int] = {}          # callback pc -> its loop function's pc
    added: list[Insn] = []
    functions = dict(program.functions)
    for call in calls:
        load = _callback_load(program, call, targets)
        callback = load.pc + 1 + load.imm
        if callback not in loops:
            loops[callback] = start = end + sum(i.slots for i in added)
            body = [dataclasses.replace(i, pc=start + i.pc) for i in assemble(_LOOP, "bpf_loop")]
            added += [dataclasses.replace(i, imm=callback - (i.pc + 1)) if i.spec.form is Form.CALL_LOCAL else i
                      for i in body]
            functions[start] = f"bpf_loop of {program.functions.get(callback, f'pc {callback}')}"
        # The callback's address is the loop function's to know: r2 keeps a plain number.
        insns[load.pc] = dataclasses.replace(load, src=Pseudo.IMM64, imm=callback)
        local = assemble("call local next\nnext:\nexit")[0]
        insns[call.pc] = dataclasses.replace(local, pc=call.pc, imm=loops[callback] - (call.pc + 1))
    return dataclasses.replace(program, insns=[insns[pc] for pc in sorted(insns)] + added, functions=functions)


def _callback_load(program: Program, call: Insn, targets: set[int]) -> Insn:
    """The ``lddw r2, function`` that reaches ``call`` on every way to it:
    the last write of r2 before it in straight-line code."""
    pc = call.pc
    for insn in reversed([i for i in program.insns if i.pc < call.pc]):
        if insn.pc + insn.slots != pc or insn.spec.kind in (Kind.CALL, Kind.EXIT) \
                or insn.spec.form in (Form.JA, Form.JA32) or pc in targets:
            break
        pc = insn.pc
        if insn.spec.kind is Kind.ATOMIC and insn.src == 2:       # a fetch writes its source
            break
        if insn.dst == 2 and insn.spec.kind in (Kind.ALU, Kind.END, Kind.LOAD, Kind.LDDW):
            if insn.spec.kind is Kind.LDDW and insn.src == Pseudo.FUNC:
                return insn
            break
    raise CompileError(f"{program.where(call.pc)}: bpf_loop's callback must be loaded (lddw r2, function) "
                       "in the code leading straight to the call, as clang does; hxdp cores call it inline")
