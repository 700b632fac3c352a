"""The UART and the control bridge in Amaranth simulation: bytes on the
line as 8N1 puts them, and a program loaded and its maps read back
through the bridge exactly as over the engine's bus directly."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hxdp.boards.link import COUNTER, board_counters, replies, requests
from hxdp.boards.uart import BIT_TIMES, ControlBridge, UartRx, UartTx
from hxdp.compiler.driver import compile_program
from hxdp.ebpf.load import load_program
from hxdp.gateware.engine import Engine
from hxdp.gateware.host import BusRead, Job, Packet, beats, load_writes, readback_steps, take_readback
from hxdp.gateware.registers import ADDR, ID_MAGIC
from hxdp.gateware.simulate import simulate
from hxdp.target import Target

from .conftest import EXAMPLES

DIVISOR = 4


async def send_line(ctx, line, data: bytes, divisor: int = DIVISOR, gap: int = 0) -> None:
    """Drive ``line`` with ``data`` as 8N1, ``gap`` idle bits between bytes."""
    for byte in data:
        for bit in [0, *(byte >> i & 1 for i in range(8)), 1, *[1] * gap]:
            ctx.set(line, bit)
            await ctx.tick().repeat(divisor)


async def read_line(ctx, line, count: int, divisor: int = DIVISOR, patience: int = 200_000) -> bytes:
    """``count`` bytes from ``line``, checking each bit lasts ``divisor``
    clocks; fails if the line stays idle ``patience`` clocks."""
    out = bytearray()
    while len(out) < count:
        idle = 0
        while ctx.get(line):
            await ctx.tick()
            idle += 1
            assert idle < patience, f"the line fell silent after {len(out)} of {count} bytes"
        bits = []
        for _ in range(BIT_TIMES):
            values = []
            for _ in range(divisor):
                values.append(ctx.get(line))
                await ctx.tick()
            assert len(set(values)) == 1, f"a bit of byte {len(out)} changed within its time: {values}"
            bits.append(values[0])
        assert bits[0] == 0 and bits[-1] == 1, f"byte {len(out)}: start and stop bits {bits[0]}, {bits[-1]}"
        out.append(sum(b << i for i, b in enumerate(bits[1:9])))
    return bytes(out)


def test_bytes_cross_the_line_unchanged_and_on_time():
    m = Module()
    m.submodules.tx = tx = UartTx(DIVISOR)
    m.submodules.rx = rx = UartRx(DIVISOR)
    m.d.comb += rx.rx.eq(tx.tx)
    data = bytes(random.Random(5).getrandbits(8) for _ in range(40)) + b"\x00\xff"
    got = bytearray()
    seen = bytearray()

    async def source(ctx):
        for byte in data:
            ctx.set(tx.bytes.payload, byte)
            ctx.set(tx.bytes.valid, 1)
            await ctx.tick().until(tx.bytes.ready)
        ctx.set(tx.bytes.valid, 0)

    async def sink(ctx):
        while len(got) < len(data):
            await ctx.tick()
            if ctx.get(rx.bytes.valid):
                got.append(ctx.get(rx.bytes.payload))

    async def watch(ctx):
        seen.extend(await read_line(ctx, tx.tx, len(data)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    for bench in (source, sink, watch):
        sim.add_testbench(bench)
    sim.run()
    assert bytes(seen) == data
    assert bytes(got) == data


def test_a_program_loaded_over_the_bridge_runs_as_over_the_bus():
    """xdp1 counts packets by IP protocol in a map: load it, send packets,
    read the counters and the map back, over the UART, and compare with the
    same job on the engine's bus."""
    target = Target.with_lanes(1, map_bytes=4096)
    image = compile_program(load_program(EXAMPLES / "xdp1.c"), target)
    rng = random.Random(9)
    packets = [Packet(bytes.fromhex("ffffffffffff0000000000010800"
                                    f"4500003c00000000400{proto:01x}0000c0a80001c0a80002") + bytes(40))
               for proto in (1, 6, 1, 0x11 & 0xF)] + [Packet(bytes(rng.getrandbits(8) for _ in range(70)))]
    direct = simulate(target, [Job(image, packets)])[0]

    job = Job(image, packets)
    dut = Module()
    dut.submodules.engine = engine = Engine(target)
    dut.submodules.bridge = bridge = ControlBridge(counters=2, divisor=DIVISOR)
    wiring.connect(dut, bridge.bus, engine.bus)
    dut.d.comb += [bridge.counters[0].eq(1234), bridge.counters[1].eq(ID_MAGIC)]
    fb = target.packet_frame_bytes
    answers = bytearray()
    steps = readback_steps(target, job)
    expected = 4 * sum(isinstance(s, BusRead) for s in steps) + 12

    async def host(ctx):
        await send_line(ctx, bridge.rx, requests(load_writes(target, job)), gap=1)
        for packet in packets:
            for i, chunk in enumerate(beats(packet.data, fb)):
                ctx.set(engine.rx.payload, {"data": int.from_bytes(chunk, "little"),
                                            "keep": (1 << len(chunk)) - 1, "last": i == len(beats(packet.data, fb)) - 1})
                ctx.set(engine.rx.valid, 1)
                await ctx.tick().until(engine.rx.ready)
            ctx.set(engine.rx.valid, 0)
            await ctx.tick().repeat(2000)
        await send_line(ctx, bridge.rx, requests(steps) + bytes((COUNTER, 0, COUNTER, 1, COUNTER, 9)))

    async def listen(ctx):
        answers.extend(await read_line(ctx, bridge.tx, expected))

    async def drain(ctx):
        ctx.set(engine.verdict.ready, 1)
        ctx.set(engine.tx.ready, 1)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for bench in (host, listen, drain):
        sim.add_testbench(bench)
    sim.run()
    assert len(answers) == expected, f"{len(answers)} of {expected} answer bytes"
    values = replies(bytes(answers))
    take_readback(target, job, values[:-3])
    assert values[-3:] == [1234, ID_MAGIC, 0]          # counter 9 of 2 reads 0
    assert job.final_maps == direct.final_maps
    assert job.counters == direct.counters
    assert job.counters["PACKETS"] == len(packets)
    assert board_counters(1)[0] == "port0.rx_good"


def test_a_request_left_unfinished_is_forgotten():
    m = Module()
    m.submodules.bridge = bridge = ControlBridge(counters=1, divisor=DIVISOR)
    m.d.comb += [bridge.counters[0].eq(77), bridge.bus.r_data.eq(ID_MAGIC)]
    got = bytearray()

    async def host(ctx):
        await send_line(ctx, bridge.rx, bytes((b"W"[0], ADDR["CTRL"], 1)))       # given up half-way
        await ctx.tick().repeat(DIVISOR * BIT_TIMES * 70)
        await send_line(ctx, bridge.rx, bytes((COUNTER, 0, b"R"[0], ADDR["ID"])))

    async def listen(ctx):
        got.extend(await read_line(ctx, bridge.tx, 8))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(listen)
    sim.run()
    assert replies(bytes(got)) == [77, ID_MAGIC]


@pytest.mark.parametrize("ports", [1, 2])
def test_counter_names_cover_every_port(ports):
    names = board_counters(ports)
    assert len(names) == len(set(names)) == 7 * ports
