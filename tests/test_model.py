"""The compiled program on the cycle-accurate model does exactly what the
reference interpreter does: the conformance suite at every lane count, every
example's traffic, random programs; and the image survives its file format."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hxdp.compiler.driver import compile_program
from hxdp.compiler.lower import CompileError
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.conformance import check, collect, engine_runner, parse_data_file
from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import MapDef, MapType, Program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import XdpInput
from hxdp.image import Image
from hxdp.model.engine import ModelEngine
from hxdp.model.waits import Wait
from hxdp.scenario import load_scenario
from hxdp.target import Op, Target

from .conftest import EXAMPLES, assemble_with_maps

LANES = (1, 2, 4, 8)


@pytest.mark.parametrize("lanes", LANES)
def test_conformance_on_the_model(conformance_dir, lanes):
    runner = engine_runner("model", lanes)
    failures = [f"{c.data.name}: {c.outcome.value} {c.detail}"
                for c in (check(parse_data_file(p), runner) for p in collect([conformance_dir / "tests"]))
                if not c.passed]
    assert not failures, "\n".join(failures)


def _traffic(engine, scenario):
    for entry in scenario.setup:
        engine.update_map(entry.map, entry.key, entry.value)
    results = [engine.run(p) for p in scenario.packets]
    return [(r.action, r.packet, r.redirect, r.meta, r.fault is None) for r in results], \
        engine.dump_maps(), results


@pytest.mark.parametrize("lanes", (1, 4))
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.c")), ids=lambda p: p.stem)
def test_examples_on_the_model_match_the_interpreter(path, lanes):
    program = load_program(path)
    scenario = load_scenario(path)
    image = compile_program(program, Target.with_lanes(lanes))
    want, want_maps, _ = _traffic(XdpRuntime(program, routes=scenario.routes), scenario)
    got, got_maps, results = _traffic(ModelEngine(image, routes=scenario.routes), scenario)
    assert got == want
    assert got_maps == want_maps
    assert all(r.cycles >= 1 for r in results)


# -- random programs ---------------------------------------------------------

REGS = (0, 2, 3, 4, 5, 9)
ALU = ("add", "sub", "mul", "div", "mod", "or", "and", "xor", "lsh", "rsh", "arsh", "mov")
JUMPS = ("jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset")
SIZES = {"b": 1, "h": 2, "w": 4, "dw": 8}
CHECKED = 64          # bytes the program's bounds check guarantees
COUNTERS = MapDef("counters", MapType.HASH, 4, 8, 8)


@st.composite
def _op(draw, i: int) -> list[str]:
    r = lambda: draw(st.sampled_from(REGS))
    kind = draw(st.integers(0, 12))
    if kind >= 10:
        return draw(_byte_run(kind))
    if kind <= 3:
        w = draw(st.sampled_from(["", "32"]))
        op = draw(st.sampled_from(ALU))
        if draw(st.booleans()):
            return [f"{op}{w} %r{r()}, %r{r()}"]
        return [f"{op}{w} %r{r()}, {draw(st.integers(-2**31, 2**31 - 1))}"]
    if kind == 4:
        size = draw(st.sampled_from(list(SIZES)))
        off = draw(st.integers(0, CHECKED - SIZES[size]))
        return [f"ldx{size} %r{r()}, [%r6+{off}]"]
    if kind == 5:
        size = draw(st.sampled_from(list(SIZES)))
        off = draw(st.integers(0, CHECKED - SIZES[size]))
        return [f"stx{size} [%r6+{off}], %r{r()}"]
    if kind == 6:
        size = draw(st.sampled_from(list(SIZES)))
        off = SIZES[size] * draw(st.integers(1, 64 // SIZES[size]))
        return [draw(st.sampled_from([f"stx{size} [%r10-{off}], %r{r()}", f"ldx{size} %r{r()}, [%r10-{off}]"]))]
    if kind == 7:
        b = f"%r{r()}" if draw(st.booleans()) else str(draw(st.integers(-2**31, 2**31 - 1)))
        return [f"{draw(st.sampled_from(JUMPS))}{draw(st.sampled_from(['', '32']))} %r{r()}, {b}, skip{i}"]
    if kind == 8:
        return [f"mov %r{r()}, %r{r()}"]
    # A map update and lookup keyed by a register's low bits; r1-r5 are
    # clobbered by calls, so they are given fresh values after.
    # The value's bytes may be copied out one at a time, as clang copies a
    # MAC address from a map.
    key = r()
    width = draw(st.sampled_from([2, 4, 6]))
    start, at = draw(st.integers(0, 8 - width)), draw(st.integers(0, CHECKED - width))
    copy = [line for k in draw(st.permutations(range(width))) for line in
            (f"ldxb %r8, [%r0+{start + k}]", f"stxb [%r6+{at + k}], %r8")] if draw(st.booleans()) else []
    return [f"mov %r8, %r{key}", "and %r8, 7", "stxw [%r10-4], %r8", f"stxdw [%r10-16], %r{r()}",
            "lddw %r1, 0", "mov %r2, %r10", "add %r2, -4", "mov %r3, %r10", "add %r3, -16",
            "mov %r4, 0", "call 2", "lddw %r1, 0", "mov %r2, %r10", "add %r2, -4", "call 1",
            f"jeq %r0, 0, nokey{i}", "ldxdw %r9, [%r0+0]", "add %r9, 1", "stxdw [%r0+0], %r9", *copy,
            f"nokey{i}:", "mov %r2, 2", "mov %r3, 3", "mov %r4, 4", "mov %r5, 5"]


# Byte by byte, as clang splits unaligned fields and 6-byte copies: the
# compiler merges these into wide accesses where that is safe. r7 points
# into the stack as a local buffer's address does.
AREAS = (("%r6", 0, CHECKED), ("%r10", -64, 0), ("%r7", -32, 32))


@st.composite
def _byte_run(draw, kind: int) -> list[str]:
    width = draw(st.sampled_from([2, 3, 4, 6, 8]))
    def place():
        base, lo, hi = draw(st.sampled_from(AREAS))
        return base, draw(st.integers(lo, hi - width))
    order = draw(st.permutations(range(width)))
    base, start = place()
    reg = draw(st.sampled_from(REGS))
    if kind == 10:          # gather: load bytes, shift them into place, or them together
        w = "32" if width <= 4 and draw(st.booleans()) else ""
        lines = []
        for n, k in enumerate(order):
            lines += [f"ldxb %r8, [{base}{start + k:+d}]"] + ([f"lsh{w} %r8, {8 * k}"] if k else [])
            lines.append(f"mov{w} %r{reg}, %r8" if n == 0 else f"or{w} %r{reg}, %r8")
        return lines
    if kind == 11 and draw(st.booleans()):      # scatter a constant's bytes, as immediates or through r8
        value = draw(st.integers(0, (1 << 8 * width) - 1)).to_bytes(width, "little")
        return [line for k in order for line in
                draw(st.sampled_from([(f"stb [{base}{start + k:+d}], {value[k]}",),
                                      (f"mov %r8, {value[k]}", f"stxb [{base}{start + k:+d}], %r8")]))]
    if kind == 11:          # scatter: store a register's bytes one at a time
        return [line for k in order for line in
                (f"mov %r8, %r{reg}", f"rsh %r8, {8 * k}", f"stxb [{base}{start + k:+d}], %r8")]
    to, at = place()        # copy byte by byte, perhaps between overlapping places
    return [line for k in order for line in
            (f"ldxb %r8, [{base}{start + k:+d}]", f"stxb [{to}{at + k:+d}], %r8")]


@st.composite
def xdp_programs(draw) -> str:
    lines = ["ldxw %r6, [%r1+0]", "ldxw %r7, [%r1+4]", "mov %r8, %r6", f"add %r8, {CHECKED}",
             "jgt %r8, %r7, short", "mov %r7, %r10", "add %r7, -32"]
    lines += [f"mov %r{r}, {draw(st.integers(-2**31, 2**31 - 1))}" for r in REGS]
    n = draw(st.integers(1, 20))
    labels = []
    for i in range(n):
        ops = draw(_op(i))
        lines += ops
        if any(f"skip{i}" in o for o in ops):
            labels.append(i)
        if labels and draw(st.booleans()):
            lines.append(f"skip{labels.pop(0)}:")
    lines += [f"skip{i}:" for i in labels]
    lines += [f"stxdw [%r6+{8 * k}], %r{r}" for k, r in enumerate(REGS)]
    lines += ["mov %r0, %r9", "and %r0, 3", "exit", "short:", "mov %r0, 1", "exit"]
    return "\n".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(xdp_programs(), st.lists(st.binary(min_size=14, max_size=128), min_size=1, max_size=3),
       st.sampled_from(LANES))
def test_random_programs_on_the_model_match_the_interpreter(text, packets, lanes):
    insns = assemble_with_maps(text)          # lddw %r1, 0: map 0
    program = Program("random", insns, [COUNTERS], license="GPL")
    image = compile_program(program, Target.with_lanes(lanes))
    interp, model = XdpRuntime(program), ModelEngine(image)
    for packet in packets:
        want, got = interp.run(XdpInput(packet)), model.run(XdpInput(packet))
        assert (got.action, got.packet.hex(), got.fault) == (want.action, want.packet.hex(), want.fault), text
        if got.fault is None:
            assert model.machine.split.total() == got.cycles, text
    assert model.dump_maps() == interp.dump_maps()


# -- image, errors, timing ---------------------------------------------------

def test_image_file_round_trip(tmp_path: Path):
    program = load_program(EXAMPLES / "router_ipv4.c")
    image = compile_program(program, Target.with_lanes(2))
    image.save(tmp_path / "router.json")
    again = Image.load(tmp_path / "router.json")
    assert again.rows == image.rows and again.target == image.target and again.maps == image.maps
    assert again.source == image.source and again.lines == image.lines


def test_the_source_map_names_the_pcs_of_the_program_as_loaded():
    # The eBPF passes fold the first four instructions away, so the exit
    # (pc 6 as loaded) sits at pc 1 of the optimised program.
    text = "mov %r1, 5\nmov %r2, %r1\nadd %r2, 1\nlddw %r3, 0x100000000\nmov %r0, %r2\nexit"
    image = compile_program(Program("t", assemble(text)), Target.with_lanes(1))
    assert [pcs for row in image.source for pcs in row] == [(5, 6)]
    program = load_program(EXAMPLES / "firewall.c")
    image = compile_program(program, Target.with_lanes(4))
    starts = {insn.pc for insn in program.insns}
    assert {pc for row in image.source for pcs in row for pc in pcs} <= starts
    assert all(program.lines[pc] == line for pc, line in image.lines.items())


def test_damaged_images_are_refused(tmp_path: Path):
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(Exception, match="not an hxdp image"):
        Image.load(tmp_path / "bad.json")


def test_a_program_too_big_for_the_instruction_memory_is_refused():
    program = load_program(EXAMPLES / "firewall.c")
    with pytest.raises(CompileError, match=r"needs \d+ rows of instruction memory; the target has 16"):
        compile_program(program, Target(imem_rows=16))


def test_a_program_needing_more_stack_than_the_target_has_is_refused():
    text = "stdw [%r10-512], 1\nmov %r0, 2\nexit"
    with pytest.raises(CompileError, match="needs 512 bytes of stack.*has 256"):
        compile_program(Program("big", assemble(text)), Target(stack_bytes=256))


def test_one_lane_issues_one_operation_a_row():
    image = compile_program(load_program(EXAMPLES / "xdp1.c"), Target.with_lanes(1))
    assert all(sum(s.op is not Op.NOP for s in row) <= 1 for row in image.rows)
    assert len(image.rows) >= image.stats.ops


def test_drop_takes_one_cycle_and_no_row_waits_for_the_packets_bytes():
    drop = compile_program(Program("drop", assemble("mov %r0, 1\nexit")), Target())
    assert [str(s) for s in drop.rows[0] if s.op is not Op.NOP] == ["exiti 1"]
    assert ModelEngine(drop).run(XdpInput(bytes(64))).cycles == 1
    # The packet is whole when the core starts: data_end's load, and the
    # exit that returns it two cycles later (a load's latency), take as
    # long on a long packet as on a short one.
    half = compile_program(Program("half", assemble("ldxh %r0, [%r1+4]\nexit")), Target())
    engine = ModelEngine(half)
    for size in (64, 256, 1500):
        assert engine.run(XdpInput(bytes(size))).cycles == 3
        assert engine.machine.split == {Wait.ROW: 2, Wait.EMPTY: 1}


def test_a_packets_cycles_by_cause_add_up_to_its_cycles():
    """The firewall's hash-map calls hold the core: those cycles are the helper's."""
    path = EXAMPLES / "firewall.c"
    scenario = load_scenario(path)
    engine = ModelEngine(compile_program(load_program(path), Target()), routes=scenario.routes)
    for entry in scenario.setup:
        engine.update_map(entry.map, entry.key, entry.value)
    held = 0
    for packet in scenario.packets:
        result = engine.run(packet)
        assert engine.machine.split.total() == result.cycles
        held += engine.machine.split[Wait.HELPER]
    assert held > 0


def test_a_bounds_check_is_decided_in_its_row():
    text = """ldxw %r2, [%r1+0]
              ldxw %r3, [%r1+4]
              mov %r4, %r2
              add %r4, 100
              jgt %r4, %r3, out
              mov %r0, 2
              exit
              out:
              mov %r0, 1
              exit"""
    image = compile_program(Program("check", assemble(text)), Target())
    assert image.rows[1][0].op is Op.BOUT and image.rows[1][0].off == 2
    engine = ModelEngine(image)
    # The check issues in cycle 2, after the move of the packet's start
    # address, and the exit shares its row. Taken on a 90-byte packet, it
    # goes to the next row, which costs nothing.
    long = engine.run(XdpInput(bytes(1500)))
    assert (long.action, long.cycles) == (2, 2)
    assert engine.machine.split == {Wait.ROW: 2}
    short = engine.run(XdpInput(bytes(90)))
    assert (short.action, short.cycles) == (1, 3)
    assert engine.machine.split == {Wait.ROW: 3}
