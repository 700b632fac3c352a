"""The GMII MAC (hxdp.boards.mac) in Amaranth simulation: frames on the
wire as IEEE 802.3 puts them (preamble, delimiter, FCS from
hxdp.boards.crc32, checked against zlib), received without FCS and judged
good or bad by kind, and sent with padding, FCS and the inter-frame gap;
sent frames come back through receive unchanged; received frames cross
into the engine's clock whole, a beat a cycle (hxdp.boards.framefifo)."""

from __future__ import annotations

import random
import zlib

import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hxdp.boards.crc32 import RESIDUE, crc32_step, fcs
from hxdp.boards.framefifo import BeatPacker, BeatUnpacker, FrameFifo
from hxdp.boards.mac import IFG, JUMBO_FRAME, MAX_FRAME, PREAMBLE, SFD, MacRx, MacTx


# A bound on the cycles a test watches the line: a lost frame fails it, never hangs it.
LINE_CYCLES = 50_000


def _wire(frame: bytes, fcs_bytes: bytes | None = None) -> bytes:
    return bytes([PREAMBLE] * 7 + [SFD]) + frame + (fcs(frame) if fcs_bytes is None else fcs_bytes)


def test_fcs_is_zlibs_crc32_and_leaves_the_residue():
    rng = random.Random(1)
    for size in (0, 1, 14, 60, 1514):
        frame = bytes(rng.getrandbits(8) for _ in range(size))
        assert fcs(frame) == zlib.crc32(frame).to_bytes(4, "little")
        crc = 0xFFFF_FFFF
        for byte in frame + fcs(frame):
            crc = crc32_step(crc, byte)
        assert crc == RESIDUE


def _receive(wire: list[tuple[bytes, bool]], max_frame: int = MAX_FRAME):
    """Drive (bytes, rx_er) bursts with 12 idle cycles between them; gives
    the frames passed on (bytes, good) and the counters."""
    m = Module()
    m.domains.rx = ClockDomain()
    m.submodules.mac = mac = MacRx(max_frame)
    out: list[tuple[bytes, bool]] = []
    counts = {}

    async def bench(ctx):
        current = bytearray()
        ctx.set(mac.frames.ready, 1)

        async def cycle():
            """Take what the MAC offers with this cycle's inputs, then clock."""
            nonlocal current
            if ctx.get(mac.frames.valid):
                current.append(ctx.get(mac.frames.payload.data))
                if ctx.get(mac.frames.payload.last):
                    out.append((bytes(current), bool(ctx.get(mac.frames.payload.good))))
                    current = bytearray()
            await ctx.tick("rx")

        for burst, error in wire:
            for i, byte in enumerate(burst):
                ctx.set(mac.rx_dv, 1)
                ctx.set(mac.rxd, byte)
                ctx.set(mac.rx_er, error and i == len(burst) // 2)
                await cycle()
            ctx.set(mac.rx_dv, 0)
            ctx.set(mac.rx_er, 0)
            for _ in range(IFG):
                await cycle()
        for name in ("good", "bad_fcs", "runts", "too_long", "errors"):
            counts[name] = ctx.get(getattr(mac, name))

    sim = Simulator(m)
    sim.add_clock(8e-9, domain="rx")
    sim.add_testbench(bench)
    sim.run()
    return out, counts


def test_receive_passes_good_frames_without_fcs_and_counts_the_bad():
    rng = random.Random(2)
    good = [bytes(rng.getrandbits(8) for _ in range(size)) for size in (60, 61, 100, 1514, 60)]
    bad_fcs = bytes(rng.getrandbits(8) for _ in range(80))
    runt = bytes(rng.getrandbits(8) for _ in range(40))
    too_long = bytes(rng.getrandbits(8) for _ in range(MAX_FRAME))     # 1522 with its FCS
    errored = bytes(rng.getrandbits(8) for _ in range(70))
    wire = [(_wire(good[0]), False), (_wire(bad_fcs, b"\0\0\0\0"), False), (_wire(good[1]), False),
            (_wire(runt), False), (_wire(good[2]), False), (_wire(too_long), False), (_wire(good[3]), False),
            (_wire(errored), True), (_wire(good[4]), False)]
    out, counts = _receive(wire)
    assert [data for data, ok in out if ok] == good
    assert [data for data, ok in out if not ok] == [bad_fcs, runt, too_long, errored]
    assert counts == {"good": 5, "bad_fcs": 1, "runts": 1, "too_long": 1, "errors": 1}


def test_jumbo_frames_pass_when_allowed():
    frame = bytes(range(256)) * 35                  # 8960 bytes
    out, counts = _receive([(_wire(frame), False)], max_frame=JUMBO_FRAME)
    assert out == [(frame, True)] and counts["good"] == 1
    out, counts = _receive([(_wire(frame), False)])
    assert out == [(frame, False)] and counts["too_long"] == 1


def _line_watch(mac: MacTx, count: int, bursts: list[tuple[int, bytes]]):
    """A testbench that collects ``count`` bursts from the MAC's line, each
    with the idle cycles before it."""
    async def watch(ctx):
        idle, burst = 0, bytearray()
        for _ in range(LINE_CYCLES):
            if len(bursts) == count:
                break
            await ctx.tick("tx")
            if ctx.get(mac.tx_en):
                burst.append(ctx.get(mac.txd))
            elif burst:
                bursts.append((idle, bytes(burst)))
                idle, burst = 1, bytearray()
            else:
                idle += 1
    return watch


def _transmit(frames: list[bytes]) -> list[tuple[int, bytes]]:
    """Send ``frames`` back to back; gives each burst on the line with the
    idle cycles before it."""
    m = Module()
    m.domains.tx = ClockDomain()
    m.submodules.mac = mac = MacTx()
    bursts: list[tuple[int, bytes]] = []

    async def source(ctx):
        for frame in frames:
            for i, byte in enumerate(frame):
                ctx.set(mac.frames.valid, 1)
                ctx.set(mac.frames.payload, {"data": byte, "last": i == len(frame) - 1, "good": 1})
                await ctx.tick("tx").until(mac.frames.ready)
            ctx.set(mac.frames.valid, 0)

    sim = Simulator(m)
    sim.add_clock(8e-9, domain="tx")
    sim.add_testbench(source, background=True)
    sim.add_testbench(_line_watch(mac, len(frames), bursts))
    sim.run()
    return bursts


def test_transmit_pads_adds_fcs_and_keeps_the_gap():
    rng = random.Random(3)
    frames = [bytes(rng.getrandbits(8) for _ in range(size)) for size in (14, 59, 60, 61, 1514, 42)]
    bursts = _transmit(frames)
    for frame, (idle, burst) in zip(frames, bursts):
        padded = frame + bytes(max(0, 60 - len(frame)))
        assert burst == _wire(padded)
    assert all(idle >= IFG for idle, _ in bursts[1:])
    assert min(idle for idle, _ in bursts[1:]) == IFG


@pytest.mark.parametrize("seed", [4, 5])
def test_sent_frames_come_back_through_receive(seed):
    rng = random.Random(seed)
    frames = [bytes(rng.getrandbits(8) for _ in range(rng.randint(60, 600))) for _ in range(6)]
    bursts = _transmit(frames)
    out, counts = _receive([(burst, False) for _, burst in bursts])
    assert out == [(frame, True) for frame in frames] and counts["good"] == len(frames)


# -- into the engine's clock domain -----------------------------------------------------------

def _receive_into_engine(wire: list[bytes], depth: int, frame_bytes: int = 32, ready: float = 1.0, seed: int = 0,
                         paced: bool = False):
    """MAC, packer and frame FIFO, the line at 125 MHz and the engine at
    156.25 MHz; gives the frames the engine side took (with whether each
    came a beat a cycle), the FIFO's counters and the MAC's."""
    m = Module()
    m.domains.rx = ClockDomain()
    m.domains.sync = ClockDomain()
    m.submodules.mac = mac = MacRx()
    m.submodules.packer = packer = BeatPacker(frame_bytes)
    m.submodules.fifo = fifo = FrameFifo(frame_bytes, depth, paced=paced)
    wiring.connect(m, mac.frames, packer.bytes)
    wiring.connect(m, packer.beats, fifo.w)
    got: list[tuple[bytes, bool]] = []
    counts = {}

    async def line(ctx):
        for burst in wire:
            for byte in burst:
                ctx.set(mac.rx_dv, 1)
                ctx.set(mac.rxd, byte)
                await ctx.tick("rx")
            ctx.set(mac.rx_dv, 0)
            for _ in range(IFG):
                await ctx.tick("rx")
        for _ in range(4 * IFG):
            await ctx.tick("rx")
        counts.update(stored=ctx.get(fifo.stored), dropped=ctx.get(fifo.dropped), good=ctx.get(mac.good))

    async def engine(ctx):
        rng = random.Random(seed)
        frame, steady, last_cycle, cycle = bytearray(), True, None, 0
        while True:
            want = rng.random() < ready
            ctx.set(fifo.r.ready, want)
            if want and ctx.get(fifo.r.valid):
                beat = ctx.get(fifo.r.payload)
                keep = beat.keep
                frame += beat.data.to_bytes(frame_bytes, "little")[:bin(keep).count("1")]
                steady &= last_cycle is None or last_cycle == cycle - 1
                last_cycle = cycle
                if beat.last:
                    got.append((bytes(frame), steady))
                    frame, steady, last_cycle = bytearray(), True, None
            await ctx.tick("sync")
            cycle += 1

    sim = Simulator(m)
    sim.add_clock(8e-9, domain="rx")
    sim.add_clock(6.4e-9, domain="sync")
    sim.add_testbench(line)
    sim.add_testbench(engine, background=True)
    sim.run()
    return got, counts


@pytest.mark.parametrize("paced", [False, True])
def test_frames_reach_the_engine_whole_and_bad_ones_are_dropped(paced):
    rng = random.Random(6)
    good = [bytes(rng.getrandbits(8) for _ in range(size)) for size in (60, 100, 333, 64, 1514, 61)]
    bad = bytes(rng.getrandbits(8) for _ in range(90))
    wire = [_wire(good[0]), _wire(good[1]), _wire(bad, b"1234"), _wire(good[2]), _wire(good[3]),
            _wire(good[4]), _wire(good[5])]
    got, counts = _receive_into_engine(wire, depth=64, paced=paced)
    assert [frame for frame, _ in got] == good
    assert paced or all(steady for _, steady in got), "a frame's beats came with gaps"
    assert counts == {"stored": 6, "dropped": 1, "good": 6}


@pytest.mark.parametrize("paced", [False, True])
def test_a_frame_too_big_for_the_room_left_is_dropped_and_counted(paced):
    rng = random.Random(7)
    frames = [bytes(rng.getrandbits(8) for _ in range(size)) for size in (100, 900, 200)]
    got, counts = _receive_into_engine([_wire(f) for f in frames], depth=16, ready=0.3, seed=1, paced=paced)
    assert [frame for frame, _ in got] == [frames[0], frames[2]]
    assert counts == {"stored": 2, "dropped": 1, "good": 3}


@pytest.mark.parametrize("fb", [8, 32])
def test_the_engines_frames_leave_the_mac_whole_despite_a_halting_source(fb):
    """Beats from the engine's side (156.25 MHz, with gaps) through a
    waiting frame FIFO and the unpacker to the MAC (125 MHz): every frame
    on the line is the padded frame with its FCS, never cut short."""
    rng = random.Random(8)
    frames = [bytes(rng.getrandbits(8) for _ in range(size)) for size in (60, 14, 500, 1514, 64, 33)]
    m = Module()
    m.domains.tx = ClockDomain()
    m.domains.sync = ClockDomain()
    m.submodules.fifo = fifo = FrameFifo(fb, 2048 // fb, w_domain="sync", r_domain="tx", backpressure=True, paced=True)
    m.submodules.unpacker = unpacker = BeatUnpacker(fb)
    m.submodules.mac = mac = MacTx()
    wiring.connect(m, fifo.r, unpacker.beats)
    wiring.connect(m, unpacker.bytes, mac.frames)
    bursts: list[tuple[int, bytes]] = []

    async def engine(ctx):
        for frame in frames:
            chunks = [frame[i:i + fb] for i in range(0, len(frame), fb)]
            for i, chunk in enumerate(chunks):
                while rng.random() < 0.3:                     # the engine's side pauses
                    ctx.set(fifo.w.valid, 0)
                    await ctx.tick("sync")
                ctx.set(fifo.w.payload, {"data": int.from_bytes(chunk, "little"), "keep": (1 << len(chunk)) - 1,
                                         "last": i == len(chunks) - 1, "good": 1})
                ctx.set(fifo.w.valid, 1)
                await ctx.tick("sync").until(fifo.w.ready)
            ctx.set(fifo.w.valid, 0)

    sim = Simulator(m)
    sim.add_clock(8e-9, domain="tx")
    sim.add_clock(6.4e-9, domain="sync")
    sim.add_testbench(engine, background=True)
    sim.add_testbench(_line_watch(mac, len(frames), bursts))
    sim.run()
    assert [burst for _, burst in bursts] == [_wire(f + bytes(max(0, 60 - len(f)))) for f in frames]
