"""The gateware in Amaranth simulation, against the interpreter (values)
and the model (cycles): units on random operands, then whole programs."""

import errno
import random

import pytest
from amaranth.hdl import Const, Module
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from hxdp.compiler.driver import compile_program
from hxdp.ebpf.load import load_program
from hxdp.ebpf.conformance import collect, parse_data_file, program_of
from hxdp.ebpf.interp import ExecutionFault, alu, condition
from hxdp.ebpf.isa import Insn, Pseudo
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.program import MapDef, MapType, Program
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.errors import HxdpError
from hxdp.gateware.alu import Alu, Comparator, Divider, Multiplier, alu_control, compare_control
from hxdp.gateware.bytemem import ByteMemory
from hxdp.gateware.core import Fault
from hxdp.gateware.decode import row_layout, store_row, stored_row
from hxdp.gateware.dispatch import Dispatcher, dispatch_core, flow_hash
from hxdp.gateware.host import check_supported
from hxdp.gateware.simulate import Job, Packet, simulate
from hxdp.image import Image
from hxdp.maplayout import map_image, map_layout
from hxdp.model.engine import ModelEngine, conformance_core
from hxdp.scenario import load_scenario
from hxdp.target import OPS_BY_CODE, Op, Operand, Slot, Target, Unit, ebpf_spec

from .conftest import EXAMPLES, assemble_with_maps
from .engines import GATEWARE_EXAMPLES, check_example

M64 = (1 << 64) - 1
WORDS = st.one_of(st.sampled_from([0, 1, 2, M64, 1 << 63, 1 << 31, 0xFFFF_FFFF, 0x8000_0000_0000_0001]),
                  st.integers(0, M64), st.integers(0, 255))
ALU_OPS = [op for op, info in OPS_BY_CODE.items() if info.unit is Unit.ALU
           and op not in (Op.NOP, Op.LDMAP, Op.LDMAPV)]
BRANCH_OPS = [op for op, info in OPS_BY_CODE.items() if info.unit is Unit.BRANCH and info.ebpf]
DIV_OPS = [op for op, info in OPS_BY_CODE.items() if info.unit in (Unit.DIV, Unit.MUL)]


def _expected(op: Op, a: int, b: int) -> int:
    info = OPS_BY_CODE[op]
    if op is Op.LDHI:
        return (a & 0xFFFF_FFFF) | (b & 0xFFFF_FFFF) << 32
    spec = ebpf_spec(op)
    insn = Insn(spec, 0, 0, spec.off or 0, spec.imm or 0, 0)
    if spec.mnemonic.startswith("mov"):
        return alu(insn, 0, a if Operand.A in info.operands else b)
    return alu(insn, a, b)


def _imm(info, b: int) -> int:
    """b as the slot would give it: a sign-extended 32-bit immediate."""
    if Operand.IMM not in info.operands:
        return b
    return (((b & 0xFFFF_FFFF) ^ 0x8000_0000) - 0x8000_0000) & M64


def _run(dut, bench, clocked: bool = True) -> None:
    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(WORDS, WORDS), min_size=4, max_size=4))
def test_alu_and_comparator_compute_as_the_interpreter(operands):
    m = Module()
    m.submodules.alu = dut = Alu()
    m.submodules.cmp = cmp_ = Comparator()

    async def bench(ctx):
        for op in ALU_OPS:
            for a, b in operands:
                b = _imm(OPS_BY_CODE[op], b)
                ctx.set(dut.ctl, alu_control(op).const()), ctx.set(dut.a, a), ctx.set(dut.b, b)
                assert ctx.get(dut.result) == _expected(op, a, b), (op.name, hex(a), hex(b))
        for op in BRANCH_OPS:
            insn = Insn(ebpf_spec(op), 0, 0, 0, 0, 0)
            for a, b in operands:
                b = _imm(OPS_BY_CODE[op], b)
                ctx.set(cmp_.ctl, compare_control(op).const()), ctx.set(cmp_.a, a), ctx.set(cmp_.b, b)
                assert ctx.get(cmp_.taken) == condition(insn, a, b), (op.name, hex(a), hex(b))
    _run(m, bench, clocked=False)


@settings(max_examples=4, deadline=None)
@given(st.lists(st.tuples(WORDS, WORDS), min_size=3, max_size=3))
def test_divider_and_multiplier_compute_as_the_interpreter_in_their_latency(operands):
    m = Module()
    m.submodules.div = div = Divider()
    m.submodules.mul = mul = Multiplier()
    latency = Target().latency

    async def bench(ctx):
        for op in DIV_OPS:
            info = OPS_BY_CODE[op]
            for a, b in operands + [(operands[0][0], 0)]:
                b = _imm(info, b)
                unit = div if info.unit is Unit.DIV else mul
                ctx.set(unit.a, a), ctx.set(unit.b, b), ctx.set(unit.start, 1)
                if unit is div:
                    ctx.set(div.op, int(op))
                else:
                    ctx.set(mul.wide, info.width == 64)
                await ctx.tick()
                ctx.set(unit.start, 0)
                cycles = 1
                while unit is div and not ctx.get(div.done):
                    await ctx.tick()
                    cycles += 1
                # The value is there in the cycle before the model lets a row use it.
                assert cycles == (latency.div if unit is div else latency.mul) - 1
                assert ctx.get(unit.result) == _expected(op, a, b), (op.name, hex(a), hex(b))
    _run(m, bench)


UNKNOWN_CODES = [code for code in range(256) if code not in OPS_BY_CODE]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.fixed_dictionaries({"op": st.sampled_from([int(op) for op in OPS_BY_CODE] + UNKNOWN_CODES[:3]),
                                       "off": st.integers(-(1 << 15), (1 << 15) - 1),
                                       "imm": st.integers(-(1 << 31), (1 << 31) - 1)}), min_size=2, max_size=2),
       st.integers(0, 511), st.booleans())
def test_rows_are_stored_decoded_by_the_gateware_as_for_the_memorys_contents(slots, index, to_next):
    """The instruction memory's write port stores a row as its contents from
    reset do: each slot beside its decode, a branch to the next row marked."""
    lanes = len(slots)
    if to_next:
        slots[1]["off"] = index + 1
    row = row_layout(lanes).const(slots).as_value()
    m = Module()
    stored = store_row(m, row, Const(index, 9), lanes)

    async def bench(ctx):
        assert ctx.get(stored.as_value()) == stored_row(row.value, index, lanes)
    _run(m, bench, clocked=False)


@pytest.mark.parametrize("size,frame,zeroed", [(512, 8, True), (4096, 32, False)])
def test_byte_memory_reads_what_was_written_and_zero_after_clear(size, frame, zeroed):
    """Cleared, a zeroed memory (the stack) reads as zero, whatever was
    stored in the clear's cycle; the packet buffer keeps its bytes."""
    dut = ByteMemory(size, 2, frame, zeroed=zeroed)
    ref = bytearray(size)
    rng = random.Random(size)

    async def bench(ctx):
        for step in range(400):
            choice = rng.random()
            if choice < 0.15:
                index, data = rng.randrange(size // frame), rng.randbytes(frame)
                ctx.set(dut.frame_en, 1), ctx.set(dut.frame_index, index)
                ctx.set(dut.frame_data, int.from_bytes(data, "little"))
                await ctx.tick()
                ctx.set(dut.frame_en, 0)
                ref[index * frame:(index + 1) * frame] = data
                continue
            # A store and two loads in one cycle: the loads see the store,
            # unless the cycle clears the memory.
            clear = choice < 0.2
            n = rng.choice([1, 2, 4, 6, 8])
            at, value, store = rng.randrange(size - n + 1), rng.getrandbits(64), rng.random() < 0.5
            loads = [rng.choice([at, rng.randrange(size - 7)]) for _ in dut.read]
            ctx.set(dut.write.en, store), ctx.set(dut.write.addr, at)
            ctx.set(dut.write.data, value), ctx.set(dut.write.mask, (1 << n) - 1)
            ctx.set(dut.clear, clear)
            for port, where in zip(dut.read, loads):
                ctx.set(port.en, 1), ctx.set(port.addr, where)
            await ctx.tick()
            ctx.set(dut.write.en, 0), ctx.set(dut.clear, 0)
            for port in dut.read:
                ctx.set(port.en, 0)
            if store:
                ref[at:at + n] = (value & ((1 << 8 * n) - 1)).to_bytes(n, "little")
            if clear and zeroed:
                ref[:] = bytes(size)
            for port, where in zip(dut.read, loads):
                assert ctx.get(port.data) == int.from_bytes(ref[where:where + 8], "little"), step
    _run(dut, bench)


@pytest.mark.parametrize("frame", [8, 32])
def test_byte_memory_regions_take_a_frame_a_store_and_give_a_frame_in_one_cycle(frame):
    """A core's packet buffers: in every cycle a frame goes into one
    region, a store and the loads into another, and a frame comes out of a
    third, each by its own region's ports."""
    size, regions = 4 * 256, 4
    part = size // regions
    dut = ByteMemory(size, 2, frame, regions=regions)
    ref = bytearray(random.Random(frame).randbytes(size))
    rng = random.Random(frame)

    async def bench(ctx):
        for index in range(size // frame):          # every byte written through the frame port first
            ctx.set(dut.frame_en, 1), ctx.set(dut.frame_index, index)
            ctx.set(dut.frame_data, int.from_bytes(ref[index * frame:(index + 1) * frame], "little"))
            await ctx.tick()
        ctx.set(dut.frame_en, 0)
        for step in range(300):
            into, used, out = rng.sample(range(regions), 3)
            index, data = into * part // frame + rng.randrange(part // frame), rng.randbytes(frame)
            n = rng.choice([1, 2, 4, 8])
            at, value = used * part + rng.randrange(part - 8), rng.getrandbits(64)
            loads = [used * part + rng.randrange(part - 8) for _ in dut.read]
            sent = out * part // frame + rng.randrange(part // frame)
            ctx.set(dut.frame_en, 1), ctx.set(dut.frame_index, index)
            ctx.set(dut.frame_data, int.from_bytes(data, "little"))
            ctx.set(dut.write.en, 1), ctx.set(dut.write.addr, at)
            ctx.set(dut.write.data, value), ctx.set(dut.write.mask, (1 << n) - 1)
            for port, where in zip(dut.read, loads):
                ctx.set(port.en, 1), ctx.set(port.addr, where)
            ctx.set(dut.frame_read_en, 1), ctx.set(dut.frame_read_index, sent)
            await ctx.tick()
            ctx.set(dut.frame_en, 0), ctx.set(dut.write.en, 0), ctx.set(dut.frame_read_en, 0)
            for port in dut.read:
                ctx.set(port.en, 0)
            expected_out = ref[sent * frame:(sent + 1) * frame]
            ref[index * frame:(index + 1) * frame] = data
            ref[at:at + n] = (value & ((1 << 8 * n) - 1)).to_bytes(n, "little")
            for port, where in zip(dut.read, loads):
                assert ctx.get(port.data) == int.from_bytes(ref[where:where + 8], "little"), step
            assert ctx.get(dut.frame_read_data) == int.from_bytes(expected_out, "little"), step
            # The frame read stays out while the loads go on elsewhere.
            for port, where in zip(dut.read, loads):
                ctx.set(port.en, 1), ctx.set(port.addr, where)
            await ctx.tick()
            for port in dut.read:
                ctx.set(port.en, 0)
            assert ctx.get(dut.frame_read_data) == int.from_bytes(expected_out, "little"), step
    _run(dut, bench)


def test_the_dispatcher_keeps_a_flow_in_one_core_and_sends_others_to_the_least_busy():
    """Random readiness, verdicts and flows on three cores of two buffers:
    a packet whose flow has a packet in a core goes there; any other goes,
    without waiting while a core can take it, to the core of fewest packets
    in flight (the one its flow hashes to first, then in core order). A
    flow and its reply (addresses swapped) are one flow."""
    cores, fb, depth = 3, 32, 2
    dut = Dispatcher(cores, fb, depth)
    rng = random.Random(3)
    frames = []
    for flow in range(4):
        frame = bytearray(fb)
        frame[23], frame[26:30], frame[30:32] = 17, rng.randbytes(4), rng.randbytes(2)
        reply = bytearray(frame)
        reply[26:28], reply[30:32] = frame[30:32], frame[26:28]
        frames += [bytes(frame), bytes(reply)]
    assert all(flow_hash(frames[i], fb) == flow_hash(frames[i + 1], fb) for i in range(0, 8, 2))

    async def bench(ctx):
        in_flight: list[list[int]] = [[] for _ in range(cores)]     # flow hashes, oldest first
        ctx.set(dut.verdict.ready, 1), ctx.set(dut.tx.ready, 1)
        frame, moved, sent, offered = rng.choice(frames), set(), 0, 0
        for step in range(800):
            ready = [len(f) < depth and rng.random() < 0.6 for f in in_flight]
            for i in range(cores):
                ctx.set(dut.core_rx[i].ready, ready[i])
                ctx.set(dut.core_verdict[i].valid, bool(in_flight[i]) and rng.random() < 0.3)
            ctx.set(dut.rx.valid, 1)
            ctx.set(dut.rx.payload, {"data": int.from_bytes(frame, "little"), "keep": (1 << fb) - 1, "last": 1})
            chosen = [i for i in range(cores) if ctx.get(dut.core_rx[i].valid)]
            assert len(chosen) <= 1, step
            taken = None
            if chosen:
                core, = chosen
                beat = ctx.get(dut.core_rx[core].payload).data.to_bytes(fb, "little")
                h = flow_hash(beat, fb)
                owners = [i for i in range(cores) if h in in_flight[i]]
                if owners:
                    assert chosen == owners, step
                elif any(ready):
                    fewest = min(len(in_flight[i]) for i in range(cores) if ready[i])
                    best = [i for i in range(cores) if ready[i] and len(in_flight[i]) == fewest]
                    hashed = dispatch_core(beat, cores, fb)
                    assert chosen == [hashed if hashed in best else best[0]], step
                    assert ready[core], step
                if ready[core]:
                    taken = (core, h, core != dispatch_core(beat, cores, fb))
            accepted = ctx.get(dut.rx.ready)
            popped = [i for i in range(cores) if ctx.get(dut.core_verdict[i].valid) and ctx.get(dut.core_verdict[i].ready)]
            await ctx.tick()
            for i in popped:
                in_flight[i].pop(0)
            if taken:
                core, h, elsewhere = taken
                in_flight[core].append(h)
                sent += 1
                if elsewhere:
                    moved.add(step)
            if accepted:
                frame, offered = rng.choice(frames), offered + 1
        assert sent > 200 and offered - sent <= 1
        assert len(moved) > 20, "no packet went elsewhere than its hashed core: the check proves little"
    _run(dut, bench)


def _runs_on_gateware(image: Image, target: Target) -> bool:
    try:
        check_supported(image, target, conformance=True)
    except HxdpError:
        return False
    return True


def _model_conformance(image: Image, mem: bytes) -> tuple[int, int, bool]:
    core, r1, r2 = conformance_core(image, mem)
    try:
        return core.run(r1, r2), core.cycles, False
    except ExecutionFault:
        return 0, core.cycles, True


@pytest.mark.parametrize("lanes", (1, 4))
def test_conformance_programs_are_cycle_exact_with_the_model(conformance_dir, lanes):
    target = Target.with_lanes(lanes)
    jobs, expected, skipped = [], [], []
    for path in collect([conformance_dir / "tests"]):
        data = parse_data_file(path)
        try:
            image = compile_program(Program(path.stem, program_of(data)), target, context_in_r1=False, arity={})
        except HxdpError:
            continue
        if not _runs_on_gateware(image, target):
            skipped.append(path.name)
            continue
        expected.append((path.name, *_model_conformance(image, data.mem)))
        jobs.append(Job(image, [Packet(data.mem)], conformance=True))
    simulate(target, jobs)
    wrong = [f"{name}: model r0={r0:#x} cycles={cycles} fault={fault}; gateware {o.action:#x} "
             f"{o.cycles} {o.fault.name}"
             for (name, r0, cycles, fault), job in zip(expected, jobs)
             for o in job.outcomes if (o.action, o.cycles, o.fault is not Fault.NONE) != (r0, cycles, fault)]
    assert not wrong, "\n".join(wrong)
    assert len(jobs) == 225 and not skipped, skipped


@pytest.mark.parametrize("lanes", (1, 4))
@pytest.mark.parametrize("name", GATEWARE_EXAMPLES)
def test_examples_are_cycle_exact_with_the_model_and_send_the_interpreters_bytes(name, lanes):
    target = Target.with_lanes(lanes)
    check_example(name, target, lambda jobs: simulate(target, jobs))


def test_map_faults_and_read_only_maps():
    """A store to a read-only map, and a lookup with a handle that is no map,
    end the packet as the model does (aborted, in the same cycle)."""
    target = Target.with_lanes(2)
    ro = MapDef(".rodata", MapType.ARRAY, 4, 8, 1, initial=bytes(range(8)), readonly=True)
    table = MapDef("table", MapType.ARRAY, 4, 4, 4)
    value, handle = Pseudo.MAP_VALUE, Pseudo.MAP_FD     # what each program's lddw loads
    lookup = "mov r2, r10\nadd r2, -4\nstw [r2], {}\ncall 1\n"
    programs = {
        "read the read-only map": (value, "lddw r1, 0x200000000\nldxh r0, [r1]\nexit"),
        "store to the read-only map": (value, "lddw r1, 0\nstdw [r1], 1\nmov r0, 0\nexit"),
        "lookup past the array": (handle, "lddw r1, 1\n" + lookup.format(4) + "exit"),
        "lookup through a bad handle": (handle, "lddw r1, 1\nadd r1, 8\n" + lookup.format(0) + "exit"),
        "write the array through a lookup": (handle, "lddw r1, 1\n" + lookup.format(3) +
                                             "mov r1, 0xabcd\nstxw [r0], r1\nexit"),
    }
    jobs, models = [], []
    for name, (pseudo, text) in programs.items():
        insns = assemble_with_maps(text, pseudo)
        image = compile_program(Program(name, insns, [ro, table]), target)
        model = ModelEngine(image)
        models.append((name, model.run(XdpInput(bytes(64))), model))
        jobs.append(Job(image, [Packet(bytes(64))]))
    simulate(target, jobs)
    for (name, want, model), job in zip(models, jobs):
        (got,) = job.outcomes
        aborted = got.fault is not Fault.NONE
        assert (aborted, got.cycles) == (want.fault is not None, want.cycles), name
        if not aborted:
            assert got.action & 0xFFFF_FFFF == want.action, name
        assert job.final_maps == {m.name: bytes(m.store[0]) for m in model.maps}, name
    assert [job.outcomes[0].fault for job in jobs] == [Fault.NONE, Fault.MEMORY, Fault.NONE, Fault.MAP,
                                                        Fault.NONE]
    assert jobs[-1].final_maps["table"][12:16] == (0xabcd).to_bytes(4, "little")


@pytest.mark.parametrize("op", [Op.ST4, Op.ATOMIC_ADD32], ids=lambda op: op.name)
def test_a_row_that_faults_leaves_no_store_behind(op):
    """Issue does not wait for a row's fault checks: the row's store to a
    map, beside a load outside every memory, is cancelled after it issued,
    and the map keeps what it held, as in the model."""
    target = Target.with_lanes(2)
    table = MapDef("table", MapType.ARRAY, 4, 4, 2)
    rows = [
        [Slot(Op.MOVI, dst=2, imm=0xabcd), Slot(Op.LDMAPV, dst=1, imm=0)],
        [Slot(op, a=1, b=2), Slot(Op.LD8, dst=3, a=10, off=64)],
        [Slot(Op.EXITI, imm=XdpAction.PASS)],
    ]
    image = Image("store beside a fault", target, rows, maps=[table])
    model = ModelEngine(image)
    want = model.run(XdpInput(bytes(64)))
    (job,) = simulate(target, [Job(image, [Packet(bytes(64))])])
    (got,) = job.outcomes
    assert want.fault is not None and (got.fault, got.cycles) == (Fault.MEMORY, want.cycles)
    assert job.final_maps == {"table": bytes(8)} == {m.name: bytes(m.store[0]) for m in model.maps}


def test_a_call_that_faults_leaves_its_map_as_it_was():
    """An update whose value pointer is outside every memory: the call
    issues (its checks are found beside it) and the helper unit, started on
    it, is sent back to idle before it inserts the key."""
    target = Target.with_lanes(2)
    flows = MapDef("flows", MapType.HASH, 4, 8, 4)
    text = ("stw [r10-4], 7\nlddw r1, 0\nmov r2, r10\nadd r2, -4\nmov r3, r10\nadd r3, 64\n"
            "mov r4, 0\ncall 2\nmov r0, 2\nexit")
    image = compile_program(Program("bad value", assemble_with_maps(text), [flows]), target)
    model = ModelEngine(image)
    want = model.run(XdpInput(bytes(64)))
    (job,) = simulate(target, [Job(image, [Packet(bytes(64))])])
    (got,) = job.outcomes
    assert want.fault is not None and (got.fault, got.cycles) == (Fault.MEMORY, want.cycles)
    placed, = map_layout(image.name, image.maps, target)
    untouched = map_image(placed, ModelEngine(image).maps["flows"])
    assert job.final_maps["flows"] == map_image(placed, model.maps["flows"]) == untouched


def test_rows_the_scheduler_seldom_builds_run_as_in_the_model():
    """Two stack loads in one row, read by the next row (which waits a cycle
    for them) as it writes one of the loaded registers again."""
    target = Target.with_lanes(2)
    rows = [
        [Slot(Op.MOVI, dst=2, imm=5), Slot(Op.MOVI, dst=3, imm=7)],
        [Slot(Op.ST8, a=10, b=2, off=-8)],
        [Slot(Op.ST8, a=10, b=3, off=-16)],
        [Slot(Op.LD8, dst=4, a=10, off=-8), Slot(Op.LD8, dst=5, a=10, off=-16)],
        [Slot(Op.LSHI, dst=5, a=5, imm=4), Slot(Op.ADDI, dst=6, a=4, imm=1)],
        [Slot(Op.ADD, dst=4, a=6, b=5)],
        [Slot(Op.EXIT, a=4)],
    ]
    image = Image("hand-scheduled", target, rows, context_in_r1=False)
    want = _model_conformance(image, bytes(8))
    (job,) = simulate(target, [Job(image, [Packet(bytes(8))], conformance=True)])
    (got,) = job.outcomes
    assert want == (6 + (7 << 4), 8, False)
    assert (got.action, got.cycles, got.fault) == (want[0], want[1], Fault.NONE)


def test_faults_end_the_packet_as_aborted_and_are_counted():
    target = Target.with_lanes(2)
    spin = compile_program(Program("spin", assemble("loop:\nja loop\nexit")), target, arity={})
    stray = compile_program(Program("stray", assemble("ldxdw r0, [r1+4000]\nexit")), target,
                            context_in_r1=False, arity={})
    jobs = simulate(target, [Job(spin, [Packet(bytes(60))], max_cycles=300),
                             Job(stray, [Packet(bytes(20))], conformance=True)])
    (runaway,), (outside,) = (job.outcomes for job in jobs)
    assert (runaway.fault, runaway.cycles, runaway.action) == (Fault.WATCHDOG, 301, 0)
    assert outside.fault is Fault.MEMORY and outside.action == 0
    counters = jobs[-1].counters
    assert counters["FAULTS"] == 2 and counters["VERDICT_ABORTED"] == 2 and counters["PACKETS"] == 2


def test_hxdp_verilog_writes_the_engine_with_a_program_built_in(tmp_path, capsys):
    from hxdp.cli import main
    out = tmp_path / "engine.v"
    assert main(["verilog", "--lanes", "1", "--program", str(EXAMPLES / "xdp_drop.c"), "-o", str(out),
                 "--ports"]) == 0
    text = out.read_text()
    header = text[text.index("module hxdp_engine("):].split(";", 1)[0]
    for port in ("clk", "rst", "bus__addr", "rx__payload", "rx__ready", "tx__valid", "verdict__payload"):
        assert port in header
    assert "| rx__payload | input |" in capsys.readouterr().out


def test_docs_engine_md_is_generated_from_the_gateware():
    from hxdp.gateware.doc import markdown
    from .conftest import REPO
    assert (REPO / "docs" / "engine.md").read_text() == markdown(Target()), \
        "docs/engine.md is stale: regenerate it with 'hxdp verilog --doc > docs/engine.md'"


def test_a_lookup_of_a_key_deep_in_the_packet_reads_it_as_the_model_does():
    """The core starts on the whole packet: a key 1000 bytes into it is
    read at once, with no wait for the 30 frames before it."""
    target = Target.with_lanes(2)
    table = MapDef("table", MapType.ARRAY, 4, 8, 16)
    text = ("ldxw r2, [r1]\nadd r2, 1000\nlddw r1, 0\ncall 1\nmov r2, 7\njeq r0, 0, out\n"
            "stxdw [r0], r2\nout:\nmov r0, 2\nexit")
    insns = assemble_with_maps(text)
    image = compile_program(Program("key in the packet", insns, [table]), target)
    packet = bytearray(1200)
    packet[1000:1004] = (5).to_bytes(4, "little")
    model = ModelEngine(image)
    want = model.run(XdpInput(bytes(packet)))
    (job,) = simulate(target, [Job(image, [Packet(bytes(packet))])])
    (got,) = job.outcomes
    assert want.cycles < 1000 // target.packet_frame_bytes
    assert (got.action, got.cycles, got.fault) == (want.action, want.cycles, Fault.NONE)
    assert job.final_maps["table"] == bytes(model.maps["table"].store[0])
    assert job.final_maps["table"][40:48] == (7).to_bytes(8, "little")


HASH_OPS = """
ldxw r2, [r1+0]
ldxb r6, [r2+0]
ldxw r7, [r2+1]
ldxb r8, [r2+5]
ldxdw r9, [r2+6]
stxw [r10-4], r7
stxdw [r10-16], r9
lddw r1, 0
mov r2, r10
add r2, -4
jeq r6, 0, lookup
jeq r6, 1, update
call 3
exit
update:
mov r3, r10
add r3, -16
mov r4, r8
call 2
exit
lookup:
call 1
jeq r0, 0, miss
ldxdw r0, [r0]
exit
miss:
mov r0, 99
exit
"""


@pytest.mark.parametrize("lanes, kind", [(1, MapType.HASH), (4, MapType.HASH), (2, MapType.LRU_HASH)])
def test_hash_map_lookups_updates_and_deletes_are_cycle_exact(lanes, kind):
    """Random lookups, updates (every flag) and deletes of a few keys in a
    small hash map: collisions, deleted slots reused, a full map refusing
    inserts (an LRU map evicting its least recently used key). Results,
    cycles and the map memory (records with their use stamps, values, the
    LRU clock) are the model's."""
    target = Target.with_lanes(lanes)
    flows = MapDef("flows", kind, 4, 8, 6)
    insns = assemble_with_maps(HASH_OPS)
    image = compile_program(Program("hash ops", insns, [flows]), target)
    rng = random.Random(lanes)
    packets = []
    for _ in range(160):
        op = rng.choice([0, 0, 1, 1, 1, 2])
        frame = bytes([op]) + rng.randrange(12).to_bytes(4, "little") + bytes([rng.choice([0, 0, 1, 2, 3])])
        packets.append(frame + rng.getrandbits(64).to_bytes(8, "little") + bytes(50))
    model = ModelEngine(image)
    table = model.maps["flows"].table
    evictions = []
    oldest = table.oldest
    table.oldest = lambda: evictions.append(1) or oldest()      # counts the model's evictions
    placed, = map_layout(image.name, image.maps, target)
    want = [model.run(XdpInput(p)) for p in packets]
    (job,) = simulate(target, [Job(image, [Packet(p) for p in packets])])
    got = [(o.action & 0xFFFF_FFFF, o.cycles, o.fault) for o in job.outcomes]
    assert got == [(w.action, w.cycles, Fault.NONE) for w in want]
    assert job.final_maps["flows"] == map_image(placed, model.maps["flows"])
    results = {w.action for w in want}
    full = -errno.E2BIG & 0xFFFF_FFFF if kind is MapType.HASH else None
    assert {99, 0, -errno.EEXIST & 0xFFFF_FFFF, -errno.ENOENT & 0xFFFF_FFFF, -errno.EINVAL & 0xFFFF_FFFF,
            full} - {None} <= results, "the traffic missed an outcome"
    if kind is MapType.LRU_HASH:
        assert len(evictions) >= 3, "the traffic evicted too few keys"


def test_redirects_through_a_devmap_and_to_an_ifindex_are_the_models():
    """bpf_redirect_map on present, absent and out-of-range entries (the
    flags' action when absent), and bpf_redirect with and without flags:
    verdicts, egress ifindexes, cycles."""
    target = Target.with_lanes(2)
    ports = MapDef("ports", MapType.DEVMAP, 4, 4, 8)
    text = ("ldxw r2, [r1+0]\nldxb r6, [r2+0]\nldxb r7, [r2+1]\nldxb r8, [r2+2]\n"
            "jeq r6, 1, plain\nlddw r1, 0\nmov r2, r7\nmov r3, r8\ncall 51\nexit\n"
            "plain:\nmov r1, r7\nadd r1, 100\nmov r2, r8\ncall 23\nexit")
    insns = assemble_with_maps(text)
    image = compile_program(Program("redirects", insns, [ports]), target)
    model = ModelEngine(image)
    for key, ifindex in ((1, 11), (2, 12), (5, 15)):
        model.update_map("ports", key.to_bytes(4, "little"), ifindex.to_bytes(4, "little"))
    placed, = map_layout(image.name, image.maps, target)
    cases = [(0, key, flags) for key in (0, 1, 2, 5, 7, 9) for flags in (0, 1, 2)] + \
            [(1, key, flags) for key in (3, 4) for flags in (0, 1)]
    packets = [bytes(case) + bytes(61) for case in cases]
    want = [model.run(XdpInput(p)) for p in packets]
    (job,) = simulate(target, [Job(image, [Packet(p) for p in packets],
                                   maps={"ports": map_image(placed, model.maps["ports"])})])
    got = [(o.action, o.cycles, o.egress if o.action == XdpAction.REDIRECT else None) for o in job.outcomes]
    assert got == [(w.action, w.cycles, w.redirect.ifindex if w.redirect else None) for w in want]
    assert {g[2] for g in got} == {None, 11, 12, 15, 103, 104}


BOUNDS = """
ldxw r2, [r1+0]
ldxb r6, [r2+0]
ldxb r7, [r2+1]
ldxb r8, [r2+2]
mov r9, r1
mov r1, r9
lsh r6, 56
arsh r6, 56
mov r2, r6
call 65
jne r0, 0, out
mov r1, r9
lsh r7, 56
arsh r7, 56
mov r2, r7
call 44
jne r0, 0, out
mov r1, r9
lsh r8, 56
arsh r8, 56
mov r2, r8
call 54
out:
mov r0, 3
exit
"""


@pytest.mark.parametrize("frame", (8, 32, 64))
def test_packet_bounds_helpers_send_the_models_bytes(frame):
    """bpf_xdp_adjust_tail (shrinking, growing over the last packet's bytes,
    refused), then adjust_head and adjust_meta by the packet's first three
    bytes: every XDP_TX sends the model's bytes from wherever the head moved
    to, at every frame width, in the model's cycles."""
    target = Target.with_lanes(2, packet_frame_bytes=frame)
    image = compile_program(Program("bounds", assemble(BOUNDS)), target)
    rng = random.Random(frame)
    packets = [rng.randbytes(400)]
    for _ in range(40):
        head = bytes([rng.choice([-40, -17, -8, -1, 0, 3, 14, 31]) & 0xFF,
                      rng.choice([-100, -9, 0, 1, 7, 13, 64, 127]) & 0xFF,
                      rng.choice([-8, -4, -3, 0]) & 0xFF])
        packets.append(head + rng.randbytes(rng.randrange(30, 300)))
    model = ModelEngine(image)
    want = [model.run(XdpInput(p)) for p in packets]
    (job,) = simulate(target, [Job(image, [Packet(p) for p in packets])])
    for i, (w, o) in enumerate(zip(want, job.outcomes)):
        assert (o.action, o.cycles, o.fault) == (w.action, w.cycles, Fault.NONE), i
        assert o.packet == w.packet, i
    lengths = {len(w.packet) - len(p) for w, p in zip(want, packets)}
    assert min(lengths) < 0 < max(lengths), "the traffic neither grew nor shrank a packet"


def test_lpm_lookups_find_the_longest_prefix_in_the_models_cycles():
    """Routes of many lengths (nested, /0 to /32) and random addresses: the
    value found (or none) and the cycles are the model's."""
    target = Target.with_lanes(2)
    routes = MapDef("routes", MapType.LPM_TRIE, 8, 4, 64, flags=1)
    text = ("ldxw r2, [r1+0]\nldxw r6, [r2+0]\nstw [r10-8], 32\nstxw [r10-4], r6\nlddw r1, 0\n"
            "mov r2, r10\nadd r2, -8\ncall 1\njeq r0, 0, none\nldxw r0, [r0]\nexit\nnone:\nmov r0, 99\nexit")
    insns = assemble_with_maps(text)
    image = compile_program(Program("lpm", insns, [routes]), target)
    model = ModelEngine(image)
    rng = random.Random(5)
    for n, length in enumerate([0, 8, 12, 16, 16, 20, 24, 24, 24, 28, 30, 32, 32]):
        address = rng.getrandbits(32).to_bytes(4, "big")
        model.update_map("routes", length.to_bytes(4, "little") + address, (1000 + n).to_bytes(4, "little"))
    stored = [bytes(k) for k in model.maps["routes"].slots]
    packets = []
    for _ in range(60):
        near = rng.choice(stored)[4:]
        flip = rng.randrange(33)
        address = (int.from_bytes(near, "big") ^ (1 << flip if flip < 32 else 0)).to_bytes(4, "big")
        packets.append(address + bytes(60))
    placed, = map_layout(image.name, image.maps, target)
    empty = ModelEngine(image)              # no prefix length to try
    want = [model.run(XdpInput(p)) for p in packets] + [empty.run(XdpInput(p)) for p in packets[:3]]
    jobs = simulate(target, [Job(image, [Packet(p) for p in packets],
                                 maps={"routes": map_image(placed, model.maps["routes"])}),
                             Job(image, [Packet(p) for p in packets[:3]])])
    got = [o for job in jobs for o in job.outcomes]
    assert [(o.action, o.cycles, o.fault) for o in got] == [(w.action, w.cycles, Fault.NONE) for w in want]
    assert len({w.action for w in want}) >= 6 and len({w.cycles for w in want}) >= 3
    assert {w.action for w in want[-3:]} == {99}


@pytest.mark.parametrize("name", ["xdp1", "router_ipv4"])
def test_an_engine_built_with_a_program_runs_it_and_its_maps_from_reset(name):
    """`hxdp verilog --program`: instruction memory, map table and map
    memory hold the program and its maps' first contents from reset."""
    target = Target.with_lanes(2)
    image = compile_program(load_program(EXAMPLES / f"{name}.c"), target)
    model = ModelEngine(image)
    packets = [p for p in load_scenario(EXAMPLES / f"{name}.c").packets]
    want = [model.run(p) for p in packets]
    (job,) = simulate(target, [Job(image, [Packet(p.packet, p.ingress_ifindex, p.rx_queue_index)
                                           for p in packets])], built_in=image)
    assert [(o.action, o.cycles) for o in job.outcomes] == [(w.action, w.cycles) for w in want]
    placed = map_layout(image.name, image.maps, target)
    assert job.final_maps == {p.map.name: map_image(p, model.maps[p.map.name]) for p in placed}


def test_what_the_helper_unit_leaves_to_the_host_ends_the_packet_loudly():
    """An LPM update from a program, and a head move over metadata, are not
    the helper unit's (docs/engine.md): they end the packet with an
    UNSUPPORTED fault, counted, never with a wrong answer."""
    target = Target.with_lanes(2)
    routes = MapDef("routes", MapType.LPM_TRIE, 8, 4, 16, flags=1)
    update = ("stw [r10-8], 24\nstw [r10-4], 10\nstw [r10-12], 1\nlddw r1, 0\nmov r2, r10\nadd r2, -8\n"
              "mov r3, r10\nadd r3, -12\nmov r4, 0\ncall 2\nexit")
    head = "mov r6, r1\nmov r2, -4\ncall 54\nmov r1, r6\nmov r2, 2\ncall 44\nmov r0, 2\nexit"
    jobs = []
    for name, text, maps in (("lpm update", update, [routes]), ("head over metadata", head, [])):
        insns = assemble_with_maps(text)
        jobs.append(Job(compile_program(Program(name, insns, maps), target), [Packet(bytes(64))]))
    simulate(target, jobs)
    assert [job.outcomes[0].fault for job in jobs] == [Fault.UNSUPPORTED, Fault.UNSUPPORTED]
    assert jobs[-1].counters["FAULTS"] == 2


def test_a_branch_to_the_next_row_costs_nothing_the_one_read_ahead_one_cycle_and_others_two():
    """Row 0's branches in lane order: to the next row (decode holds it), the
    row's first elsewhere (its target read ahead), a later one; model and
    gateware alike."""
    target = Target.with_lanes(4)
    rows = [[Slot(Op.BEQI, a=2, imm=1, off=1), Slot(Op.BEQI, a=2, imm=2, off=3),
             Slot(Op.BEQI, a=2, imm=3, off=4), Slot(Op.EXITI, imm=0)],
            [Slot(Op.EXITI, imm=11)], [Slot(Op.EXITI, imm=99)], [Slot(Op.EXITI, imm=22)], [Slot(Op.EXITI, imm=33)]]
    image = Image("lane order", target, rows, context_in_r1=False)
    sizes = (0, 1, 2, 3)
    want = [_model_conformance(image, bytes(n)) for n in sizes]
    lat = target.latency
    assert want == [(0, 1, False), (11, 2, False), (22, 2 + lat.branch_penalty, False),
                    (33, 2 + lat.late_branch_penalty, False)]
    jobs = simulate(target, [Job(image, [Packet(bytes(n))], conformance=True) for n in sizes])
    assert [(o.action, o.cycles, o.fault is not Fault.NONE) for job in jobs for o in job.outcomes] == want
