"""CFG, dominators and liveness against brute-force definitions on random
programs (with forward and backward jumps) and on every example."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from hxdp.compiler.cfg import build_cfg, functions
from hxdp.compiler.dominators import dominators, post_dominators
from hxdp.compiler.liveness import defs, liveness, uses
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.isa import Kind
from hxdp.ebpf.load import load_program

from .conftest import EXAMPLES


@st.composite
def programs(draw):
    n = draw(st.integers(2, 24))
    lines = []
    for i in range(n - 1):
        r, s = draw(st.integers(0, 9)), draw(st.integers(0, 9))
        lines.append(f"L{i}: " + draw(st.sampled_from([
            f"mov %r{r}, {i}", f"add %r{r}, %r{s}", f"stxdw [%r10-8], %r{r}", f"ldxdw %r{r}, [%r10-8]",
            f"jeq %r{r}, %r{s}, L{draw(st.integers(0, n - 1))}", f"ja L{draw(st.integers(0, n - 1))}",
            f"jgt %r{r}, 3, L{draw(st.integers(0, n - 1))}", "call 1", "call 6", "exit",
        ])))
    lines.append(f"L{n - 1}: exit")
    return assemble("\n".join(lines))


def _successors(insns):
    """Instruction-level successors, from the ISA's own definition of each jump."""
    by_pc = {i.pc: i for i in insns}
    succ = {}
    for insn in insns:
        nxt = []
        if insn.jump_target is not None:
            nxt.append(insn.jump_target)
        if insn.spec.kind is not Kind.EXIT and insn.mnemonic not in ("ja", "ja32"):
            nxt.append(insn.pc + insn.slots)
        succ[insn.pc] = [p for p in nxt if p in by_pc]
    return succ


def _reach(start, succ, removed=None):
    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n in seen or n == removed:
            continue
        seen.add(n)
        todo += succ[n]
    return seen


@settings(max_examples=150, deadline=None)
@given(programs())
def test_cfg_blocks_cover_the_program_and_follow_control(insns):
    cfg = build_cfg("p", insns)
    assert [i for b in cfg.blocks for i in b.insns] == insns
    succ = _successors(insns)
    start = {b.start: b.id for b in cfg.blocks}
    for b in cfg.blocks:
        for first, second in zip(b.insns, b.insns[1:]):
            assert succ[first.pc] == [second.pc]
        assert sorted({start[p] for p in succ[b.last.pc]}) == sorted(b.succs)


@settings(max_examples=150, deadline=None)
@given(programs())
def test_dominators_match_reachability(insns):
    cfg = build_cfg("p", insns)
    succ = {b.id: b.succs for b in cfg.blocks}
    reachable = _reach(0, succ)
    dom = dominators(cfg)
    for a in reachable:
        for b in reachable:
            expected = a == b or b not in _reach(0, succ, removed=a)
            assert dom.dominates(a, b) == expected, (a, b)
    exits = {b.id for b in cfg.blocks if not b.succs}
    pdom = post_dominators(cfg)
    for b in reachable:
        if not _reach(b, succ) & exits:
            continue
        for a in reachable:
            expected = a == b or not (_reach(b, succ, removed=a) & exits)
            assert pdom.dominates(a, b) == expected, (a, b)


@settings(max_examples=150, deadline=None)
@given(programs())
def test_liveness_matches_path_search(insns):
    cfg = build_cfg("p", insns)
    live = liveness(cfg)
    succ = _successors(insns)
    by_pc = {i.pc: i for i in insns}

    def live_before(pc, reg):
        seen, todo = set(), [pc]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            if reg in uses(by_pc[n]):
                return True
            if reg not in defs(by_pc[n]):
                todo += succ[n]
        return False

    for b in cfg.blocks:
        for insn, regs in zip(b.insns, live.before(cfg, b.id)):
            expected = {r for r in range(10) if live_before(insn.pc, r)} | {10}
            assert regs == expected, (insn.pc, str(insn))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.c")), ids=lambda p: p.stem)
def test_examples_need_only_the_context_at_entry(path):
    program = load_program(path)
    name, insns = functions(program)[0]
    assert liveness(build_cfg(name, insns)).live_in[0] <= {1, 10}


def test_jumps_outside_the_function_are_named():
    from hxdp.errors import HxdpError
    insns = assemble("ja +5\nexit")
    with pytest.raises(HxdpError, match="pc 0: ja jumps to pc 6, outside the function"):
        build_cfg("f", insns)
