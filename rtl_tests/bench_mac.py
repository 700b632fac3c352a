"""cocotb tests of an Ethernet port (mac_top.py's loop) against
cocotbext-eth's RGMII model of a PHY: frames sent into the receive pins
come back out of the transmit pins if good, and are counted either way.

The PHY's transmit clock is the port's delayed by 2 ns, as an RGMII-ID PHY
delays it, so the model samples the data between its edges.
"""

from __future__ import annotations

import random
import zlib

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer, with_timeout
from cocotbext.eth import GmiiFrame, RgmiiSink, RgmiiSource

from hxdp.boards.mac import JUMBO_FRAME
from hxdp.boards.port import PORT_COUNTERS

LINE_NS = 8                 # 125 MHz: gigabit RGMII
ENGINE_NS = 10              # the engine's clock, unrelated to the line's


class Phy:
    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.rx_clk, LINE_NS, unit="ns").start())
        cocotb.start_soon(Clock(dut.tx_clk, LINE_NS, unit="ns").start())
        cocotb.start_soon(Clock(dut.clk, ENGINE_NS, unit="ns").start())
        self.source = RgmiiSource(dut.rxd, dut.rx_ctl, dut.rx_clk)
        self.sink = RgmiiSink(dut.txd, dut.tx_ctl, dut.phy_tx_clk)

    async def start(self) -> None:
        dut = self.dut
        dut.rst.value = 1
        dut.tx_rst.value = 1
        await Timer(2, unit="ns")
        cocotb.start_soon(Clock(dut.phy_tx_clk, LINE_NS, unit="ns").start())
        await ClockCycles(dut.clk, 4)
        dut.rst.value = 0
        dut.tx_rst.value = 0
        await ClockCycles(dut.clk, 4)

    def counters(self) -> dict[str, int]:
        return {name: int(getattr(self.dut, name).value) for name in PORT_COUNTERS}

    async def expect(self, payloads: list[bytes]) -> None:
        """The frames that come back are ``payloads``, in order, padded to 60 bytes, FCS right."""
        for i, payload in enumerate(payloads):
            frame = await with_timeout(self.sink.recv(), 2_000_000, "ns")
            got = bytes(frame.get_payload())
            assert frame.check_fcs(), f"frame {i} came back with a bad FCS"
            assert got == payload.ljust(60, b"\0"), f"frame {i}: sent {payload.hex()}, got back {got.hex()}"
        await Timer(20, unit="us")
        assert self.sink.empty(), "more frames came back than were sent good"

    async def settle(self) -> None:
        await self.source.wait()
        await Timer(20, unit="us")


def payload(rng: random.Random, size: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(size))


def bad_fcs(data: bytes) -> GmiiFrame:
    fcs = (zlib.crc32(data) ^ 1).to_bytes(4, "little")
    return GmiiFrame.from_raw_payload(data + fcs)


@cocotb.test()
async def good_frames_come_back_whole(dut):
    phy = Phy(dut)
    await phy.start()
    rng = random.Random(1)
    sizes = [60, 61, 63, 64, 100, 127, 128, 129, 500, 1000, 1514] + [rng.randrange(60, 1515) for _ in range(20)]
    frames = [payload(rng, size) for size in sizes]
    for data in frames:
        await phy.source.send(GmiiFrame.from_payload(data))
    await phy.expect(frames)
    counts = phy.counters()
    assert counts["rx_good"] == counts["tx_sent"] == len(frames), counts
    assert counts["rx_dropped"] == counts["rx_bad_fcs"] == 0, counts


@cocotb.test()
async def back_to_back_minimum_frames_all_pass(dut):
    phy = Phy(dut)
    await phy.start()
    rng = random.Random(2)
    frames = [payload(rng, 60) for _ in range(200)]
    for data in frames:
        phy.source.send_nowait(GmiiFrame.from_payload(data))
    await phy.expect(frames)
    assert phy.counters()["rx_good"] == len(frames)


@cocotb.test()
async def bad_frames_are_dropped_and_counted_by_kind(dut):
    phy = Phy(dut)
    await phy.start()
    rng = random.Random(3)
    good = [payload(rng, 80) for _ in range(4)]
    errored = GmiiFrame.from_payload(payload(rng, 100))
    errored.error = [0] * len(errored.data)
    errored.error[30] = 1
    sends = [GmiiFrame.from_payload(good[0]), bad_fcs(payload(rng, 200)),
             GmiiFrame.from_payload(good[1]), GmiiFrame.from_payload(payload(rng, 40), min_len=40),
             GmiiFrame.from_payload(good[2]), errored,
             GmiiFrame.from_payload(payload(rng, JUMBO_FRAME + 10)), GmiiFrame.from_payload(good[3])]
    for frame in sends:
        phy.source.send_nowait(frame)
    await phy.expect(good)
    counts = phy.counters()
    assert counts == {"rx_good": 4, "rx_bad_fcs": 1, "rx_runts": 1, "rx_too_long": 1, "rx_errors": 1,
                      "rx_dropped": 4, "tx_sent": 4}, counts


@cocotb.test()
async def jumbo_frames_pass(dut):
    phy = Phy(dut)
    await phy.start()
    rng = random.Random(4)
    frames = [payload(rng, JUMBO_FRAME - 4), payload(rng, 9000), payload(rng, 64)]
    for data in frames:
        phy.source.send_nowait(GmiiFrame.from_payload(data))
    await phy.expect(frames)
    assert phy.counters()["rx_good"] == 3
