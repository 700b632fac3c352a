"""The kernel oracle, and the interpreter checked against it.

Random straight-line and branching programs over every ALU operation, stack
accesses and atomics run in the kernel and in the interpreter; both must
leave the same registers (written into the packet) and verdict. They skip
where the kernel cannot run XDP programs.
"""

from __future__ import annotations

import functools
import os
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from hxdp.cli import main
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.kernel import KernelEngine, possible_cpus
from hxdp.ebpf.program import MapDef, MapType, Program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import XdpInput
from hxdp.errors import HxdpError

from .conftest import EXAMPLES

pytestmark = pytest.mark.kernel

ALU = ["add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "mod", "xor", "mov", "arsh", "sdiv", "smod"]
SHIFTS = {"lsh", "rsh", "arsh"}
DIVS = {"div", "mod", "sdiv", "smod"}
JUMPS = ["jeq", "jgt", "jge", "jlt", "jle", "jset", "jne", "jsgt", "jsge", "jslt", "jsle"]
REGS = range(2, 10)   # r1 holds the context, r10 the frame pointer


@st.composite
def alu_op(draw) -> str:
    op = draw(st.sampled_from(ALU))
    width = draw(st.sampled_from(["", "32"]))
    dst = draw(st.sampled_from(REGS))
    if draw(st.booleans()):
        return f"{op}{width} %r{dst}, %r{draw(st.sampled_from(REGS))}"
    if op in SHIFTS:
        imm = draw(st.integers(0, 31 if width else 63))
    elif op in DIVS:
        imm = draw(st.integers(-2**31, 2**31 - 1).filter(bool))
    else:
        imm = draw(st.integers(-2**31, 2**31 - 1))
    return f"{op}{width} %r{dst}, {imm}"


@st.composite
def other_op(draw) -> str:
    dst, src = draw(st.sampled_from(REGS)), draw(st.sampled_from(REGS))
    return draw(st.sampled_from([
        f"neg %r{dst}", f"neg32 %r{dst}",
        *(f"{k}{b} %r{dst}" for k in ("le", "be", "bswap") for b in (16, 32, 64)),
        *(f"movsx{a}64 %r{dst}, %r{src}" for a in (8, 16, 32)),
        *(f"movsx{a}32 %r{dst}, %r{src}" for a in (8, 16)),
        f"stxdw [%r10-16], %r{src}\nldxw %r{dst}, [%r10-12]",
        f"stxdw [%r10-16], %r{src}\nldxsh %r{dst}, [%r10-14]",
        f"stxdw [%r10-16], %r{src}\nlock fetch add [%r10-16], %r{dst}",
        f"stxdw [%r10-16], %r{src}\nlock xor32 [%r10-16], %r{dst}\nldxdw %r{dst}, [%r10-16]",
        f"stxdw [%r10-16], %r{src}\nmov %r0, %r{dst}\nlock cmpxchg [%r10-16], %r{dst}\nmov %r{dst}, %r0",
    ]))


@st.composite
def programs(draw) -> str:
    lines = ["ldxw %r6, [%r1+0]", "ldxw %r7, [%r1+4]"]
    body = [f"lddw %r{r}, {draw(st.integers(0, 2**64 - 1)):#x}" for r in REGS if r not in (6, 7)]
    ops = draw(st.lists(st.one_of(alu_op(), other_op()), min_size=1, max_size=25))
    for i, op in enumerate(ops):
        if draw(st.integers(0, 5)) == 0:
            a, b = draw(st.sampled_from(REGS)), draw(st.sampled_from(REGS))
            body.append(f"{draw(st.sampled_from(JUMPS))}{draw(st.sampled_from(['', '32']))} "
                        f"%r{a}, %r{b}, skip{i}")
            body.append(op)
            body.append(f"skip{i}:")
        else:
            body.append(op)
    # Write r2..r9 (r6/r7 swapped back in as data pointers afterwards) into the packet.
    out = ["stxdw [%r10-24], %r6", "stxdw [%r10-32], %r7",
           "ldxw %r6, [%r1+0]", "ldxw %r7, [%r1+4]", "mov %r0, %r6", "add %r0, 64",
           "jgt %r0, %r7, short"]
    for n, r in enumerate(REGS):
        if r in (6, 7):
            out += [f"ldxdw %r0, [%r10-{24 if r == 6 else 32}]", f"stxdw [%r6+{8 * n}], %r0"]
        else:
            out.append(f"stxdw [%r6+{8 * n}], %r{r}")
    out += ["mov %r0, 3", "exit", "short:", "mov %r0, 1", "exit"]
    # r6/r7 are clobbered by random ops, so the data pointers are reloaded into
    # them only after the body; the body first uses them as ordinary values.
    return "\n".join(lines + ["mov %r6, 6", "mov %r7, 7"] + body + out)


def xdp_program(text: str, maps=()) -> Program:
    return Program("random", assemble(text), list(maps), license="GPL")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.binary(min_size=64, max_size=128))
def test_random_programs_agree_with_the_kernel(kernel, text, packet):
    program = xdp_program(text)
    with KernelEngine(program) as kern:
        theirs = kern.run(XdpInput(packet))
    mine = XdpRuntime(program).run(XdpInput(packet))
    assert mine.fault is None, mine.fault
    assert (mine.action, mine.packet.hex()) == (theirs.action, theirs.packet.hex()), text


ADJUST = """
    mov %r6, %r1
    mov %r2, {delta}
    call {helper}
    mov %r8, %r0
    ldxw %r2, [%r6+0]
    ldxw %r3, [%r6+4]
    mov %r4, %r2
    add %r4, 1
    jgt %r4, %r3, out
    stxb [%r2+0], %r8
out:
    mov %r0, 3
    exit
"""


@functools.cache
def _kernel_offers(helper: int) -> bool:
    """Whether the running kernel lets an XDP program call ``helper`` (some
    refuse bpf_xdp_adjust_meta: "program of this type cannot use helper")."""
    try:
        with KernelEngine(xdp_program(f"mov %r2, 0\ncall {helper}\nmov %r0, 2\nexit")):
            return True
    except HxdpError as err:
        if "cannot use helper" in str(err):
            return False
        raise


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([44, 54, 65]), st.integers(-400, 400), st.integers(14, 300))
def test_adjust_helpers_agree_with_the_kernel(kernel, helper, delta, size):
    assume(_kernel_offers(helper))
    program = xdp_program(ADJUST.format(delta=delta, helper=helper))
    packet = XdpInput(bytes(range(256)) * 2)
    packet = XdpInput(packet.packet[:size])
    with KernelEngine(program) as kern:
        theirs = kern.run(packet)
    mine = XdpRuntime(program).run(packet)
    assert (mine.action, mine.packet, mine.meta) == (theirs.action, theirs.packet, theirs.meta)


CSUM = """
    mov %r6, %r1
    stdw [%r10-8], {a}
    stdw [%r10-16], {b}
    mov %r1, %r10
    add %r1, -8
    mov %r2, {from_size}
    mov %r3, %r10
    add %r3, -16
    mov %r4, {to_size}
    mov %r5, {seed}
    call 28
    ldxw %r2, [%r6+0]
    ldxw %r3, [%r6+4]
    mov %r4, %r2
    add %r4, 8
    jgt %r4, %r3, out
    stxdw [%r2+0], %r0
out:
    mov %r0, 2
    exit
"""


@settings(max_examples=40, deadline=None)
@given(st.integers(-2**31, 2**31 - 1), st.integers(-2**31, 2**31 - 1), st.sampled_from([0, 4, 8]),
       st.sampled_from([0, 4, 8]), st.integers(0, 2**31 - 1))
def test_csum_diff_agrees_with_the_kernel(kernel, a, b, from_size, to_size, seed):
    program = xdp_program(CSUM.format(a=a, b=b, from_size=from_size, to_size=to_size, seed=seed))
    with KernelEngine(program) as kern:
        theirs = kern.run(XdpInput(bytes(64)))
    mine = XdpRuntime(program).run(XdpInput(bytes(64)))
    assert mine.packet == theirs.packet


COUNTER = """
    mov %r6, %r1
    ldxw %r2, [%r6+12]
    stxw [%r10-4], %r2
    lddw %r1, 0
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, out
    mov %r1, 1
    lock add [%r0+0], %r1
out:
    mov %r0, 2
    exit
"""


@pytest.mark.parametrize("mtype", [MapType.ARRAY, MapType.PERCPU_ARRAY])
def test_map_dumps_match(kernel, mtype):
    program = xdp_program(COUNTER, [MapDef("counts", mtype, 4, 8, 8)])
    program.insns[3] = program.insns[3].__class__(program.insns[3].spec, 1, 1, 0, 0, program.insns[3].pc)
    with KernelEngine(program) as kern:
        interp = XdpRuntime(program)
        for ifindex in (1, 1, 2):
            kern.run(XdpInput(bytes(60), ingress_ifindex=ifindex))
            interp.run(XdpInput(bytes(60), ingress_ifindex=ifindex))
        theirs, mine = kern.dump_maps()["counts"], interp.dump_maps()["counts"]
    total = lambda dump: {k: sum(int.from_bytes(v[i:i + 8], "little") for i in range(0, len(v), 8))
                          for k, v in dump.items()}
    assert total(mine) == total(theirs)
    assert total(mine)[(1).to_bytes(4, "little")] == 2


def test_verifier_rejection_is_explained(kernel):
    program = xdp_program("ldxdw %r0, [%r10+8]\nexit")
    with pytest.raises(HxdpError, match="verifier rejected random"):
        KernelEngine(program)


def test_engines_release_their_descriptors(kernel):
    program = xdp_program(COUNTER, [MapDef("counts", MapType.HASH, 4, 8, 8)])
    program.insns[3] = program.insns[3].__class__(program.insns[3].spec, 1, 1, 0, 0, program.insns[3].pc)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with KernelEngine(program) as kern:
            kern.run(XdpInput(bytes(60)))
    assert len(os.listdir("/proc/self/fd")) == before


def test_run_on_the_kernel_shows_per_cpu_maps_as_the_interpreter_does(kernel, capsys):
    """Each CPU's count and their sum, the sums the interpreter's counts."""
    counts = {}
    for engine in ("interp", "kernel"):
        assert main(["run", str(EXAMPLES / "xdp1.c"), "--engine", engine, "--packets", "0"]) == 0
        entries = re.findall(r"^    (\d+) -> (.*)$", capsys.readouterr().out, re.MULTILINE)
        counts[engine] = {key: _shown_count(value) for key, value in entries}
        if engine == "kernel" and possible_cpus() > 1:
            assert all(re.fullmatch(r"(cpu\d+ \d+(, )?)+; sum \d+", value) for _, value in entries)
    assert counts["kernel"] == counts["interp"] and counts["interp"]


def _shown_count(value: str) -> int:
    """The count a map line shows: its sum over CPUs, or its one value."""
    total = re.search(r"; sum (\d+)$", value) or re.fullmatch(r"(\d+)", value)
    return int(total.group(1))
