"""Optimisation passes keep behaviour: optimised programs do exactly what the
originals do, on the interpreter and (where available) in the kernel."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hxdp.compiler.cfg import build_cfg, flatten
from hxdp.compiler.constprop import propagate_constants
from hxdp.compiler.dce import eliminate_dead_code
from hxdp.compiler.optimize import optimize
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.interp import run_raw
from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import Program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import XdpInput
from hxdp.scenario import load_scenario

from .conftest import EXAMPLES
from .test_compiler_analysis import programs as branchy_programs
from .test_kernel import programs as alu_programs


def _optimized(text: str) -> tuple[Program, Program]:
    program = Program("random", assemble(text), license="GPL")
    return program, optimize(program).program


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alu_programs(), st.binary(min_size=64, max_size=96))
def test_optimised_random_programs_behave_the_same(text, packet):
    original, better = _optimized(text)
    assert better.slots <= original.slots
    want = XdpRuntime(original).run(XdpInput(packet))
    got = XdpRuntime(better).run(XdpInput(packet))
    assert (got.action, got.packet, got.fault) == (want.action, want.packet, want.fault)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alu_programs(), st.binary(min_size=64, max_size=96))
def test_the_kernel_accepts_optimised_programs_and_agrees(kernel, text, packet):
    from hxdp.ebpf.kernel import KernelEngine
    original, better = _optimized(text)
    with KernelEngine(better) as kern:
        theirs = kern.run(XdpInput(packet))
    mine = XdpRuntime(original).run(XdpInput(packet))
    assert (theirs.action, theirs.packet) == (mine.action, mine.packet)


@settings(max_examples=150, deadline=None)
@given(branchy_programs(), st.integers(0, 2**64 - 1))
def test_optimised_branchy_programs_return_the_same(insns, r1):
    program = Program("p", insns)
    before = _outcome(insns)
    assert _outcome(optimize(program).program.insns) == before


def _clobbering(result: int):
    """A helper returning ``result`` that leaves r1-r5 as the calling
    convention allows (undefined; here a fixed pattern), so that a program
    reading them after the call sees the same on both sides of a pass."""
    def helper(machine) -> int:
        machine.regs[1:6] = [0x5A5A_0000 + r for r in range(1, 6)]
        return result
    return helper


def _outcome(insns):
    try:
        return run_raw(insns, b"", helpers={1: _clobbering(7), 6: _clobbering(9)}, max_insns=2000)
    except Exception as err:          # runaway loops fault the same way, wherever
        return type(err).__name__


def test_constants_fold_and_dead_moves_go():
    cfg = build_cfg("f", assemble("""
        mov %r1, 6
        mov %r2, %r1
        mul %r2, 7
        mov %r3, %r2
        jeq %r3, 42, yes
        mov %r0, 0
        exit
    yes:
        mov %r0, %r3
        exit
    """))
    propagate_constants(cfg)
    eliminate_dead_code(cfg)
    insns, _ = flatten(cfg)
    assert [str(i) for i in insns] == ["ja +0", "mov %r0, 42", "exit"] or \
        [str(i) for i in insns] == ["mov %r0, 42", "exit"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.c")), ids=lambda p: p.stem)
def test_optimised_examples_pass_their_scenarios(path):
    program = optimize(load_program(path)).program
    scenario = load_scenario(path)
    runtime = XdpRuntime(program, routes=scenario.routes)
    for entry in scenario.setup:
        runtime.update_map(entry.map, entry.key, entry.value)
    results = [runtime.run(p) for p in scenario.packets]
    assert not scenario.problems(results, runtime.dump_maps())


def test_a_division_by_a_register_known_zero_keeps_its_register():
    """The verifier refuses ``div r, 0``; folding must not write one."""
    text = "mov %r2, 0\nldxw %r3, [%r1+0]\ndiv %r3, %r2\nmod32 %r3, %r2\nmov %r0, %r3\nexit"
    better = optimize(Program("p", assemble(text))).program
    assert [i.mnemonic for i in better.insns if i.mnemonic.startswith(("div", "mod"))] == ["div", "mod32"]
    assert all(i.spec.form.name == "ALU_REG" for i in better.insns if i.mnemonic.startswith(("div", "mod")))


def test_a_store_of_a_known_constant_stores_an_immediate_where_one_stands_for_it():
    text = ("mov %r2, -1\nstxdw [%r10-8], %r2\nmov32 %r3, -1\nstxdw [%r10-16], %r3\nstxh [%r10-18], %r3\n"
            "ldxdw %r0, [%r10-8]\nldxdw %r4, [%r10-16]\nadd %r0, %r4\nldxh %r4, [%r10-18]\nadd %r0, %r4\nexit")
    better = optimize(Program("p", assemble(text))).program
    stores = [str(i) for i in better.insns if i.mnemonic.startswith("st")]
    # 0xffffffff in 8 bytes is no sign-extended 32-bit immediate; its low 2 bytes are.
    assert stores == ["stdw [%r10-8], -1", "stxdw [%r10-16], %r3", "sth [%r10-18], -1"]
    assert run_raw(better.insns, b"") == run_raw(assemble(text), b"")
