"""The engine's Verilog under Verilator, driven from C++: conformance
programs and examples as the model runs them, through the rtl conformance
runner, the plugin command and `VerilatorEngine`; the build is cached, and
what the gateware cannot run is refused, never left hanging."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hxdp.compiler.driver import compile_program
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.conformance import check, engine_runner, parse_data_file, program_of
from hxdp.ebpf.isa import encode
from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import Program
from hxdp.ebpf.xdp import XdpInput
from hxdp.errors import HxdpError, ToolMissing
from hxdp.gateware.core import Fault
from hxdp.gateware.host import Job, Packet
from hxdp.gateware.rtlcache import cached_build
from hxdp.image import Image
from hxdp.model.engine import ModelEngine, conformance_core
from hxdp.sim.traffic import flow_traffic
from hxdp.target import Op, Slot, Target
from hxdp.toolchain import find_verilator

from .conftest import REPO
from .engines import GATEWARE_EXAMPLES, check_example, check_traffic

# One target for these tests: the default one, which the plugin runs.
LANES = 4
SAMPLE = ["add64", "alu64-arith", "be16", "call_local", "div64-by-zero-reg", "jsle32-reg", "lddw2", "ldxdw",
          "lock_cmpxchg", "mem-len", "movsx3264-reg", "neg64", "prime", "sdiv64-reg", "smod32-neg-by-neg-imm",
          "stxb-chain", "subnet", "swap64"]


@pytest.fixture(scope="module")
def engine():
    """The rtl engine, built (or found in the cache) once for the module."""
    try:
        find_verilator()
    except ToolMissing as err:
        pytest.skip(f"needs Verilator: {err}")
    from hxdp.gateware.verilator import VerilatorEngine
    with VerilatorEngine(Target.with_lanes(LANES)) as running:
        yield running


def test_conformance_sample_gives_the_models_r0_and_cycles(engine, conformance_dir):
    rtl, model = engine_runner("rtl", LANES), engine_runner("model", LANES)
    jobs, expected = [], []
    for name in SAMPLE:
        data = parse_data_file(conformance_dir / "tests" / f"{name}.data")
        assert check(data, rtl).passed, name
        insns = program_of(data)
        assert rtl(insns, data.mem) == model(insns, data.mem) == data.result, name
        image = compile_program(Program(name, insns), engine.target, context_in_r1=False, arity={})
        core, r1, r2 = conformance_core(image, data.mem)
        expected.append((name, core.run(r1, r2), core.cycles))
        jobs.append(Job(image, [Packet(data.mem)], conformance=True))
    engine.run(jobs)
    got = [(name, job.outcomes[0].action, job.outcomes[0].cycles) for (name, *_), job in zip(expected, jobs)]
    assert got == expected


@pytest.mark.parametrize("name", GATEWARE_EXAMPLES)
def test_examples_are_cycle_exact_with_the_model(engine, name):
    check_example(name, engine.target, engine.run)


def test_the_suites_helper_runs_and_others_are_refused(engine, conformance_dir):
    """The conformance suite's helper 5 (by number and through a register)
    runs; a program calling a helper the gateware lacks is refused."""
    for name in ("call_unwind_fail", "callx"):
        result = check(parse_data_file(conformance_dir / "tests" / f"{name}.data"), engine_runner("rtl", LANES))
        assert result.passed, (name, result.detail)
    with pytest.raises(HxdpError, match=r"does not run bpf_get_prandom_u32 \(7\)"):
        engine_runner("rtl", LANES)(assemble("call 7\nexit"), b"")


def test_faults_come_back_as_faults_and_are_counted(engine):
    spin = compile_program(Program("spin", assemble("loop:\nja loop\nexit")), engine.target, arity={})
    stray = compile_program(Program("stray", assemble("ldxdw r0, [r1+4000]\nexit")), engine.target,
                            context_in_r1=False, arity={})
    before = engine.read("FAULTS")
    runaway, outside = engine.run([Job(spin, [Packet(bytes(60))], max_cycles=300),
                                   Job(stray, [Packet(bytes(20))], conformance=True)])
    assert [(o.fault, o.action) for job in (runaway, outside) for o in job.outcomes] == \
        [(Fault.WATCHDOG, 0), (Fault.MEMORY, 0)]
    assert runaway.outcomes[0].cycles == 301
    assert outside.counters["FAULTS"] == before + 2


def test_two_cores_one_packet_at_a_time_take_the_models_cycles_and_leave_its_maps():
    """Each packet on the core the dispatcher gives it, as the model runs it
    on that CPU: a per-CPU hash map's new key has its value zeroed in the
    other core's copy, in the cycles the model gives, also where a key of
    that core left its value (the map is smaller than the flows)."""
    try:
        find_verilator()
    except ToolMissing as err:
        pytest.skip(f"needs Verilator: {err}")
    from hxdp.gateware.verilator import VerilatorEngine
    program = load_program(REPO / "tests" / "data" / "per_cpu_slots.c")
    with VerilatorEngine(Target.with_lanes(LANES, cores=2)) as two:
        check_traffic(program, flow_traffic(150, flows=24, seed=5), two.target, two.run)


def test_a_store_beside_the_exit_leaves_the_next_packets_stack_zero(engine):
    """The exit's row stores to the stack in the cycle after it, the one in
    which the next packet, back to back, starts: that packet's stack still
    reads zero, as the model's does."""
    rows = [
        [Slot(Op.LD8, dst=3, a=10, off=-8), Slot(Op.MOVI, dst=4, imm=7)],
        [],
        [Slot(Op.ST8, a=10, b=4, off=-8), Slot(Op.EXIT, a=3)],
    ]
    image = Image("store beside the exit", engine.target, rows)
    model = ModelEngine(image)
    want = [(r.action, r.cycles) for r in (model.run(XdpInput(bytes(60))) for _ in range(3))]
    (job,) = engine.run([Job(image, [Packet(bytes(60))] * 3)])
    assert want == [(0, 3)] * 3
    assert [(o.action, o.cycles, o.fault) for o in job.outcomes] == [(0, 3, Fault.NONE)] * 3


def test_a_stalled_engine_is_an_error_not_a_hang():
    try:
        find_verilator()
    except ToolMissing as err:
        pytest.skip(f"needs Verilator: {err}")
    from hxdp.gateware.verilator import VerilatorEngine
    target = Target.with_lanes(LANES)
    spin = compile_program(Program("spin", assemble("loop:\nja loop\nexit")), target, arity={})
    with VerilatorEngine(target) as engine:
        engine.load(Job(spin, []))                     # the watchdog at its default, a million cycles
        with pytest.raises(HxdpError, match="nothing moved for 100 cycles .* packet 0 unfinished"):
            engine.stream([Packet(bytes(60))] * 2, [0, 0], stall=100)


def test_the_plugin_runs_a_program_on_the_cached_build(engine, conformance_dir):
    data = parse_data_file(conformance_dir / "tests" / "subnet.data")
    code = data.raw if data.raw is not None else encode(assemble(data.asm))
    argv = [sys.executable, "-m", "hxdp.cli", "conformance-plugin", "--engine", "rtl", "--lanes", str(LANES)]
    done = subprocess.run(argv + [data.mem.hex()], input=code.hex() + "\n", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout, 16) == data.result
    assert "building" not in done.stderr


def test_cached_builds_are_made_once_and_only_when_finished(tmp_path):
    made = []

    def failing(scratch):
        (scratch / "half").write_text("")
        raise HxdpError("interrupted")

    def build(scratch):
        made.append(scratch)
        (scratch / "model").write_text("built")
        (scratch / "objects").mkdir()
        (scratch / "model.o").write_text("")

    with pytest.raises(HxdpError):
        cached_build(tmp_path / "key", failing, "a test build", keep=["model"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.lock"]
    first = cached_build(tmp_path / "key", build, "a test build", keep=["model"])
    again = cached_build(tmp_path / "key", build, "a test build", keep=["model"])
    assert first == again == tmp_path / "key" and len(made) == 1
    assert [p.name for p in first.iterdir()] == ["model"] and (first / "model").read_text() == "built"
