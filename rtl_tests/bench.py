"""The engine's ports as a cocotb test drives them: the control bus, and
packets through ``rx``, ``verdict`` and ``tx`` with random idle cycles on
either side of each stream.

Inputs are driven at the falling edge and outputs sampled once they have
settled (ReadOnly), so the beats that move at a rising edge are known
before it, as in the engine's Amaranth testbench.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from hxdp.compiler.driver import compile_program
from hxdp.ebpf.load import load_program
from hxdp.gateware.core import Fault
from hxdp.gateware.engine import beat_layout, verdict_layout
from hxdp.gateware.host import BusRead, Job, Outcome, Packet, beats, load_writes, map_reads, map_area_bytes
from hxdp.gateware.registers import ADDR, STATUS_MAP_READ, STATUS_MAP_WRITE
from hxdp.maplayout import MapPlacement
from hxdp.image import Image
from hxdp.target import Target

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LANES_ENV = "HXDP_RTL_LANES"          # the target's lanes, set by the pytest side


def target() -> Target:
    return Target.with_lanes(int(os.environ[LANES_ENV]))


def example(name: str) -> Image:
    return compile_program(load_program(EXAMPLES / f"{name}.c"), target())


@dataclass(frozen=True)
class Gaps:
    """The chance that a side of a stream idles in a cycle: the sender
    holding back a beat (``rx``) or the receiver not ready (``verdict``, ``tx``)."""
    rx: float = 0.0
    verdict: float = 0.0
    tx: float = 0.0


class EngineBench:
    """The engine under test, between cycles (at a falling edge of its clock)."""

    def __init__(self, dut):
        self.dut = dut
        self.target = target()
        self.frame_bytes = self.target.packet_frame_bytes
        self.beat = beat_layout(self.frame_bytes)
        self.verdict = verdict_layout()

    async def reset(self) -> None:
        Clock(self.dut.clk, 10, "ns").start(start_high=False)
        self._idle()
        self.dut.rst.value = 1
        await self.cycle()
        await self.cycle()
        self.dut.rst.value = 0

    async def cycle(self) -> None:
        await FallingEdge(self.dut.clk)

    def _idle(self) -> None:
        for port in ("rx__valid", "verdict__ready", "tx__ready", "bus__w_en", "bus__r_en"):
            getattr(self.dut, port).value = 0

    async def write(self, addr: int, value: int) -> None:
        self.dut.bus__addr.value = addr
        self.dut.bus__w_data.value = value
        self.dut.bus__w_en.value = 1
        await self.cycle()
        self.dut.bus__w_en.value = 0

    async def read(self, name: str) -> int:
        self.dut.bus__addr.value = ADDR[name]
        self.dut.bus__r_en.value = 1
        await self.cycle()
        self.dut.bus__r_en.value = 0
        return self.dut.bus__r_data.value.to_unsigned()

    async def load(self, job: Job) -> None:
        for addr, value in load_writes(self.target, job):
            await self.write(addr, value)

    async def map_write(self, offset: int, value: int) -> None:
        """8 bytes into the map memory, waiting (as a host must, while
        packets run) until the engine has stored them."""
        for name, word in (("MAP_ADDR", offset), ("MAP_WDATA_LO", value & 0xFFFF_FFFF),
                           ("MAP_WDATA_HI", value >> 32), ("MAP_WRITE", 0)):
            await self.write(ADDR[name], word)
        while await self.read("STATUS") & STATUS_MAP_WRITE:
            pass

    async def map_read(self, offset: int) -> int:
        """8 bytes of the map memory, waiting (as a host must, while packets
        run) until the engine has read them."""
        await self.write(ADDR["MAP_ADDR"], offset)
        await self.write(ADDR["MAP_READ"], 0)
        while await self.read("STATUS") & STATUS_MAP_READ:
            pass
        return await self.read("MAP_RDATA_LO") | await self.read("MAP_RDATA_HI") << 32

    async def map_area(self, p: MapPlacement) -> bytes:
        values = []
        for step in map_reads(p):
            if isinstance(step, BusRead):
                self.dut.bus__addr.value = step.addr
                self.dut.bus__r_en.value = 1
                await self.cycle()
                self.dut.bus__r_en.value = 0
                values.append(self.dut.bus__r_data.value.to_unsigned())
            else:
                await self.write(*step)
        return map_area_bytes(p, values)

    def _rx_beats(self, packets: Sequence[Packet]) -> list[int]:
        out = []
        for packet in packets:
            chunks = beats(packet.data, self.frame_bytes)
            out += [self.beat.const({"data": int.from_bytes(c, "little"), "keep": (1 << len(c)) - 1,
                                     "last": i == len(chunks) - 1, "port": packet.port,
                                     "queue": packet.queue}).as_bits()
                    for i, c in enumerate(chunks)]
        return out

    async def exchange(self, packets: Sequence[Packet], gaps: Gaps = Gaps(), rng: random.Random | None = None,
                       max_cycles: int = 100_000) -> list[Outcome]:
        """Send ``packets`` back to back and take every verdict and byte that
        comes out, idling as ``gaps`` says; then watch a while for anything
        more (a duplicate) to come out."""
        rng = rng or random.Random(0)
        pending = self._rx_beats(packets)
        sent, offering = 0, False
        outcomes: list[Outcome] = []
        awaiting_bytes: list[Outcome] = []         # verdicts whose bytes follow on tx
        received = bytearray()
        quiet = 0
        for _ in range(max_cycles):
            offering = sent < len(pending) and (offering or rng.random() >= gaps.rx)
            self.dut.rx__valid.value = offering
            if offering:
                self.dut.rx__payload.value = pending[sent]
            verdict_ready = rng.random() >= gaps.verdict
            tx_ready = rng.random() >= gaps.tx
            self.dut.verdict__ready.value = verdict_ready
            self.dut.tx__ready.value = tx_ready
            await ReadOnly()
            if offering and self.dut.rx__ready.value:
                sent += 1
                offering = False
            if verdict_ready and self.dut.verdict__valid.value:
                v = self.verdict.from_bits(self.dut.verdict__payload.value.to_unsigned())
                outcome = Outcome(int(v.action), int(v.cycles), Fault(int(v.fault)), None, int(v.egress))
                outcomes.append(outcome)
                if v.sends:
                    awaiting_bytes.append(outcome)
            if tx_ready and self.dut.tx__valid.value:
                b = self.beat.from_bits(self.dut.tx__payload.value.to_unsigned())
                received += int(b.data).to_bytes(self.frame_bytes, "little")[:bin(int(b.keep)).count("1")]
                if b.last:
                    assert awaiting_bytes, "bytes on tx that no verdict announced"
                    awaiting_bytes.pop(0).packet = bytes(received)
                    received = bytearray()
            await self.cycle()
            finished = sent == len(pending) and len(outcomes) >= len(packets) and not awaiting_bytes
            quiet = quiet + 1 if finished else 0
            if quiet > 32:
                break
        else:
            raise AssertionError(f"after {max_cycles} cycles: {sent} of {len(pending)} beats sent, "
                                 f"{len(outcomes)} of {len(packets)} verdicts")
        self._idle()
        assert len(outcomes) == len(packets), f"{len(outcomes)} verdicts for {len(packets)} packets"
        return outcomes
