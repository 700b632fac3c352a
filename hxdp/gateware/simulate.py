"""The engine in Amaranth's simulator: programs loaded over the control bus,
packets sent beat by beat without gaps, verdicts and packets collected.

One simulation runs any number of programs one after another, as the
hardware does: a new program is loaded, never built in.
"""

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from amaranth.sim import Simulator

from ..image import Image
from ..target import MAX_CYCLES, Target, encode_row
from .core import Fault
from .engine import Engine, row_words
from .registers import ADDR, CTRL_CONFORMANCE, CTRL_ENABLE, IMEM_DATA_BASE, REGISTERS, Access

__all__ = ["Packet", "Outcome", "Job", "simulate"]


@dataclass
class Packet:
    data: bytes
    port: int = 0
    queue: int = 0


@dataclass
class Outcome:
    action: int
    cycles: int
    fault: Fault
    packet: bytes | None          # the bytes sent on tx, if it sent any


@dataclass
class Job:
    """A program and the packets (or conformance memories) to run it on."""
    image: Image
    packets: Sequence[Packet]
    conformance: bool = False
    max_cycles: int = MAX_CYCLES
    outcomes: list[Outcome] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)   # the status registers after it


def simulate(target: Target, jobs: Iterable[Job], vcd: str | None = None) -> list[Job]:
    """Run every job on one engine; fills each job's ``outcomes``."""
    jobs = list(jobs)
    dut = Engine(target)
    fb = target.packet_frame_bytes
    words = row_words(target)

    async def write(ctx, name_or_addr, value: int) -> None:
        addr = ADDR[name_or_addr] if isinstance(name_or_addr, str) else name_or_addr
        ctx.set(dut.bus.addr, addr)
        ctx.set(dut.bus.w_data, value & 0xFFFF_FFFF)
        ctx.set(dut.bus.w_en, 1)
        await ctx.tick()
        ctx.set(dut.bus.w_en, 0)

    async def read(ctx, name: str) -> int:
        ctx.set(dut.bus.addr, ADDR[name])
        ctx.set(dut.bus.r_en, 1)
        await ctx.tick()
        ctx.set(dut.bus.r_en, 0)
        return ctx.get(dut.bus.r_data)

    async def load(ctx, job: Job) -> None:
        await write(ctx, "CTRL", 0)
        await write(ctx, "IMEM_ROW", 0)
        for row in job.image.rows:
            word = encode_row(row, target.lanes)
            for i in range(words):
                await write(ctx, IMEM_DATA_BASE + i, word >> (32 * i))
            await write(ctx, "IMEM_COMMIT", 0)
        await write(ctx, "PROGRAM_ROWS", len(job.image.rows))
        await write(ctx, "MAX_CYCLES", job.max_cycles)
        await write(ctx, "CTRL", CTRL_ENABLE | (CTRL_CONFORMANCE if job.conformance else 0))

    async def send(ctx, packet: Packet) -> None:
        chunks = [packet.data[i:i + fb] for i in range(0, len(packet.data), fb)] or [b""]
        for i, chunk in enumerate(chunks):
            ctx.set(dut.rx.payload, {"data": int.from_bytes(chunk, "little"), "keep": (1 << len(chunk)) - 1,
                                     "last": i == len(chunks) - 1, "port": packet.port,
                                     "queue": packet.queue})
            ctx.set(dut.rx.valid, 1)
            while not ctx.get(dut.rx.ready):
                await ctx.tick()
            await ctx.tick()
        ctx.set(dut.rx.valid, 0)

    async def receive(ctx) -> Outcome:
        ctx.set(dut.verdict.ready, 1)
        while not ctx.get(dut.verdict.valid):
            await ctx.tick()
        v = ctx.get(dut.verdict.payload)
        await ctx.tick()
        ctx.set(dut.verdict.ready, 0)
        outcome = Outcome(v.action, v.cycles, Fault(v.fault), None)
        if v.sends:
            data = bytearray()
            ctx.set(dut.tx.ready, 1)
            last = False
            while not last:
                if ctx.get(dut.tx.valid):
                    beat = ctx.get(dut.tx.payload)
                    data += beat.data.to_bytes(fb, "little")[:bin(beat.keep).count("1")]
                    last = beat.last
                await ctx.tick()
            ctx.set(dut.tx.ready, 0)
            outcome.packet = bytes(data)
        return outcome

    async def bench(ctx) -> None:
        for job in jobs:
            await load(ctx, job)
            for packet in job.packets:
                await send(ctx, packet)
                job.outcomes.append(await receive(ctx))
            for register in REGISTERS:
                if register.access is Access.RO:
                    job.counters[register.name] = await read(ctx, register.name)

    sim = Simulator(dut)
    sim.add_clock(1 / 156.25e6)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return jobs
