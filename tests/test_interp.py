"""Interpreter semantics the conformance data does not pin down: faults,
budgets, call depth, and memory bounds, each naming the pc."""

from __future__ import annotations

import pytest

from hxdp.ebpf.asm import assemble
from hxdp.ebpf.interp import ExecutionFault, run_raw


def run(text: str, mem: bytes = b"", **kw) -> int:
    return run_raw(assemble(text), mem, **kw)


def test_runaway_loop_hits_the_budget():
    with pytest.raises(ExecutionFault, match="pc 0: more than 1000 instructions"):
        run("top: ja top", max_insns=1000)


def test_stack_bounds_name_the_pc_and_region():
    with pytest.raises(ExecutionFault, match="pc 1: .*outside stack frame 0"):
        run("mov %r0, 0\nstxdw [%r10+0], %r0\nexit")


def test_input_memory_bounds():
    assert run("ldxb %r0, [%r1+3]\nexit", b"\x01\x02\x03\x04") == 4
    with pytest.raises(ExecutionFault, match="outside input memory"):
        run("ldxb %r0, [%r1+4]\nexit", b"\x01\x02\x03\x04")


def test_falling_off_the_end_is_a_fault():
    with pytest.raises(ExecutionFault, match="outside the program"):
        run("mov %r0, 1")


def test_calls_have_their_own_frames_and_a_depth_limit():
    # Each call writes its own frame; the caller's stack is intact afterwards.
    assert run("""
        stdw [%r10-8], 7
        call local f
        ldxdw %r0, [%r10-8]
        exit
    f:
        stdw [%r10-8], 99
        exit
    """) == 7
    with pytest.raises(ExecutionFault, match="call depth"):
        run("call local f\nexit\nf: call local f\nexit")


def test_unknown_helper_is_named():
    with pytest.raises(ExecutionFault, match="unknown helper 99"):
        run("call 99\nexit")


def test_division_and_modulo_by_zero():
    assert run("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit") == 0
    assert run("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1\nexit") == 7
    assert run("mov %r0, -7\nsdiv %r0, 2\nexit") == (1 << 64) - 3
    assert run("mov %r0, -7\nsmod %r0, 2\nexit") == (1 << 64) - 1
