"""The soak run (long: ``python -m pytest -m slow tests/test_soak.py -s``):
a million packets of random sizes over a thousand flows through the
Verilog, tx backpressure drawn anew for every batch, every other batch
from a 10 GbE line into the ingress FIFO. Nothing may be lost (every packet
leaves or is counted as dropped at ingress), doubled, or reordered within
its flow. It prints the figures docs/benchmarks.md records."""

from __future__ import annotations

import random
import time

import pytest

from hxdp.ebpf.load import load_program
from hxdp.errors import ToolMissing
from hxdp.sim import LineRate, SimConfig, simulate_traffic
from hxdp.sim.report import summarize
from hxdp.sim.traffic import flow_traffic, out_of_order, sequence_of
from hxdp.toolchain import find_verilator

from .conftest import EXAMPLES

PACKETS = 1_000_000
BATCH = 50_000


@pytest.mark.slow
@pytest.mark.parametrize("cores", [1, 2])
def test_a_million_packets_lose_double_and_reorder_nothing(cores):
    try:
        find_verilator()
    except ToolMissing as err:
        pytest.skip(f"needs Verilator: {err}")
    program = load_program(EXAMPLES / "xdp_tx.c")
    rng = random.Random(cores)
    sent = dropped = cycles = evaluated = 0
    seconds, began = 0.0, time.perf_counter()
    for batch in range(PACKETS // BATCH):
        packets = flow_traffic(BATCH, flows=1024, sizes=(60, 1514), seed=batch)
        rate = LineRate.GBE10 if batch % 2 else LineRate.MAX
        run = simulate_traffic(program, packets, config=SimConfig(cores=cores, rate=rate, seed=batch,
                                                                  tx_ready=rng.uniform(0.3, 1.0)))
        s = summarize(run)
        left = [sequence_of(data) for data in run.sent_in_order()]
        expected = [sequence_of(r.input.packet) for r in run.records if not r.passage.dropped]
        assert sorted(left) == sorted(expected), f"batch {batch}: packets lost or doubled"
        assert out_of_order(run.sent_in_order()) is None, f"batch {batch}: a flow reordered"
        assert s.processed + s.ingress_drops == BATCH
        sent += len(left)
        dropped += s.ingress_drops
        cycles += run.cycles
        evaluated += run.evaluated
        seconds += run.seconds
    print(f"\nsoak, {cores} core(s): {PACKETS} packets, {sent} sent back, {dropped} dropped at ingress "
          f"(10 GbE batches), {cycles} cycles ({evaluated} evaluated) in {seconds:.0f} s of simulation "
          f"({evaluated / seconds / 1e6:.2f} M cycles/s), {time.perf_counter() - began:.0f} s in all")
