"""cocotb tests of the engine's Verilog under Verilator; test_engine.py runs
each in its own simulation. Each starts from a reset and loads its programs
over the control bus, as a host would."""

from __future__ import annotations

import random

import cocotb

from hxdp.compiler.driver import compile_program
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import Program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import LEAVING, XdpAction, XdpInput
from hxdp.gateware.core import Fault
from hxdp.gateware.host import Job, Packet
from hxdp.gateware.registers import ID_MAGIC
from hxdp.maplayout import map_layout
from hxdp.packets import ETH_P_IP
from hxdp.scenario import load_scenario
from hxdp.target import MAX_CYCLES

from .bench import EXAMPLES, EngineBench, Gaps, example


@cocotb.test
async def registers_read_back(dut):
    bench = EngineBench(dut)
    await bench.reset()
    t = bench.target
    assert await bench.read("ID") == ID_MAGIC
    assert await bench.read("PARAMS") == t.lanes | t.packet_frame_bytes << 8 | t.registers << 16
    assert await bench.read("IMEM_ROWS") == t.imem_rows
    assert await bench.read("CTRL") == 0           # no program: packets are refused
    assert await bench.read("MAX_CYCLES") == MAX_CYCLES
    assert not dut.rx__ready.value
    image = example("xdp_drop")
    await bench.load(Job(image, [], max_cycles=5000))
    assert (await bench.read("CTRL"), await bench.read("MAX_CYCLES")) == (1, 5000)
    assert await bench.read("PROGRAM_ROWS") == len(image.rows)
    assert dut.rx__ready.value


@cocotb.test
async def a_second_program_loaded_into_the_running_engine_takes_over(dut):
    bench = EngineBench(dut)
    await bench.reset()
    frames = [Packet(bytes(range(60))), Packet(bytes(200), port=3, queue=1)]
    await bench.load(Job(example("xdp_drop"), []))
    dropped = await bench.exchange(frames)
    assert [(o.action, o.packet) for o in dropped] == [(XdpAction.DROP, None)] * 2
    await bench.load(Job(example("xdp_pass"), []))
    passed = await bench.exchange(frames)
    assert [(o.action, o.packet) for o in passed] == [(XdpAction.PASS, f.data) for f in frames]
    assert (await bench.read("VERDICT_DROP"), await bench.read("VERDICT_PASS"),
            await bench.read("PACKETS")) == (2, 2, 4)


def _interpreted(name: str, packets: list[Packet]) -> list[tuple[int, bytes | None]]:
    runtime = XdpRuntime(load_program(EXAMPLES / f"{name}.c"))
    results = [runtime.run(XdpInput(p.data, p.port, p.queue)) for p in packets]
    return [(r.action, r.packet if r.action in LEAVING else None) for r in results]


@cocotb.test
async def packets_survive_random_gaps_on_every_stream(dut):
    """Random idle cycles on rx, verdict and tx lose, duplicate and reorder
    nothing: every verdict and byte is the interpreter's."""
    bench = EngineBench(dut)
    await bench.reset()
    for name in ("xdp_tx", "xdp_pass", "xdp_drop"):
        await bench.load(Job(example(name), []))
        scenario = load_scenario(EXAMPLES / f"{name}.c")
        for seed, gaps in enumerate([Gaps(0.5, 0.5, 0.5), Gaps(0.9, 0.0, 0.7), Gaps(0.0, 0.8, 0.9)]):
            rng = random.Random(seed)
            packets = [Packet(p.packet, p.ingress_ifindex, p.rx_queue_index) for p in scenario.packets]
            packets += [Packet(rng.randbytes(rng.randrange(14, 400)), rng.randrange(1, 8), rng.randrange(4))
                        for _ in range(6)]
            rng.shuffle(packets)
            outcomes = await bench.exchange(packets, gaps, rng)
            got = [(o.action & 0xFFFF_FFFF, o.packet) for o in outcomes]
            assert got == _interpreted(name, packets), f"{name}, seed {seed}, {gaps}"


@cocotb.test
async def faults_end_packets_as_aborted_and_are_counted(dut):
    bench = EngineBench(dut)
    await bench.reset()
    spin = compile_program(Program("spin", assemble("loop:\nja loop\nexit")), bench.target, arity={})
    stray = compile_program(Program("stray", assemble("ldxdw r0, [r1+4000]\nexit")), bench.target,
                            context_in_r1=False, arity={})
    await bench.load(Job(spin, [], max_cycles=300))
    runaway, = await bench.exchange([Packet(bytes(60))])
    assert (runaway.fault, runaway.cycles, runaway.action, runaway.packet) == (Fault.WATCHDOG, 301, 0, None)
    await bench.load(Job(stray, [], conformance=True))
    outside, = await bench.exchange([Packet(bytes(20))])
    assert (outside.fault, outside.action, outside.packet) == (Fault.MEMORY, 0, None)
    counters = {name: await bench.read(name) for name in
                ("FAULTS", "VERDICT_ABORTED", "PACKETS", "LAST_FAULT", "LAST_CYCLES")}
    assert counters == {"FAULTS": 2, "VERDICT_ABORTED": 2, "PACKETS": 2, "LAST_FAULT": Fault.MEMORY,
                        "LAST_CYCLES": outside.cycles}


def _ipv4(protocol: int, size: int) -> bytes:
    """An Ethernet frame holding an IPv4 header (all but the fields xdp1 reads zero)."""
    frame = bytearray(size)
    frame[12:14] = ETH_P_IP.to_bytes(2, "big")
    frame[14] = 0x45
    frame[23] = protocol
    return bytes(frame)


@cocotb.test
async def the_host_reads_and_writes_maps_while_packets_flow(dut):
    """xdp1 counts packets per IP protocol in its map while the host polls a
    counter and writes entries no packet touches: every program store and
    every host write lands (the final map is the interpreter's with the
    host's writes), and the counter the host polls grows while it polls."""
    bench = EngineBench(dut)
    await bench.reset()
    image = example("xdp1")
    placed, = map_layout(image.name, image.maps, bench.target)
    await bench.load(Job(image, []))
    rng = random.Random(7)
    protocols = [6, 17, 1]
    packets = [Packet(_ipv4(rng.choice(protocols), rng.randrange(34, 300))) for _ in range(60)]
    host_entries = {index: rng.getrandbits(64) for index in range(100, 140)}
    polled: list[int] = []

    async def host() -> None:
        for index, value in host_entries.items():
            await bench.map_write(placed.offset + 8 * index, value)
            polled.append(await bench.map_read(placed.offset + 8 * 6))

    task = cocotb.start_soon(host())
    outcomes = await bench.exchange(packets, Gaps(0.3, 0.3, 0.0), rng)
    await task
    assert [o.action for o in outcomes] == [XdpAction.DROP] * len(packets)
    runtime = XdpRuntime(load_program(EXAMPLES / "xdp1.c"))
    for p in packets:
        runtime.run(XdpInput(p.data))
    want = bytearray(runtime.maps["rxcnt"].store[0])
    for index, value in host_entries.items():
        want[8 * index:8 * index + 8] = value.to_bytes(8, "little")
    assert await bench.map_area(placed) == bytes(want)
    final = int.from_bytes(want[48:56], "little")
    assert polled == sorted(polled) and 0 < polled[-1] and polled[0] < final, (polled, final)
