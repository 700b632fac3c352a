"""The engine in Amaranth's simulator: programs loaded over the control bus,
packets sent beat by beat without gaps, verdicts and packets collected.

One simulation runs any number of programs one after another, as the
hardware does: a new program is loaded, never built in.
"""

from typing import Iterable

from amaranth.sim import Simulator

from ..image import Image
from ..target import Target
from .core import Fault
from .engine import Engine
from .host import BusRead, Job, Outcome, Packet, beats, load_writes, readback_steps, take_readback

__all__ = ["Packet", "Outcome", "Job", "simulate"]


def simulate(target: Target, jobs: Iterable[Job], vcd: str | None = None,
             built_in: Image | None = None) -> list[Job]:
    """Run every job on one engine; fills each job's ``outcomes``. With
    ``built_in``, the engine is built with that program (and its maps) and
    runs it from reset: a job of it is not loaded over the bus."""
    jobs = list(jobs)
    dut = Engine(target, built_in)
    fb = target.packet_frame_bytes

    async def write(ctx, addr: int, value: int) -> None:
        ctx.set(dut.bus.addr, addr)
        ctx.set(dut.bus.w_data, value)
        ctx.set(dut.bus.w_en, 1)
        await ctx.tick()
        ctx.set(dut.bus.w_en, 0)

    async def read(ctx, addr: int) -> int:
        ctx.set(dut.bus.addr, addr)
        ctx.set(dut.bus.r_en, 1)
        await ctx.tick()
        ctx.set(dut.bus.r_en, 0)
        return ctx.get(dut.bus.r_data)

    async def load(ctx, job: Job) -> None:
        for addr, value in load_writes(target, job):
            await write(ctx, addr, value)

    async def send(ctx, packet: Packet) -> None:
        chunks = beats(packet.data, fb)
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
        outcome = Outcome(v.action, v.cycles, Fault(v.fault), None, v.egress)
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
            if job.image is not built_in:
                await load(ctx, job)
            for packet in job.packets:
                await send(ctx, packet)
                job.outcomes.append(await receive(ctx))
            reads = []
            for step in readback_steps(target, job):
                if isinstance(step, BusRead):
                    reads.append(await read(ctx, step.addr))
                else:
                    await write(ctx, *step)
            take_readback(target, job, reads)

    sim = Simulator(dut)
    sim.add_clock(1 / 156.25e6)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return jobs
