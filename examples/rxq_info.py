"""Traffic for rxq_info.c: packets on several receive queues (one beyond the
64 the program tracks), configured to go back out with MACs swapped."""
from __future__ import annotations

import struct

from hxdp.ebpf.xdp import MapEntry, XdpAction, XdpInput
from hxdp.packets import mixed_frames, swap_macs
from hxdp.scenario import Expect, Scenario, fields, u32

MAX_RXQ = 64
QUEUES = [0, 1, 0, 3, 70, 0, 1]


def scenario() -> Scenario:
    frames = mixed_frames()
    traffic = [(frames[i % len(frames)], q) for i, q in enumerate(QUEUES)]
    packets = [XdpInput(f, rx_queue_index=q) for f, q in traffic]
    expect = [Expect(XdpAction.TX, swap_macs(f), f"queue {q}") for f, q in traffic]
    setup = [MapEntry("config", u32(0), struct.pack("<II", XdpAction.TX, 0))]

    def check_maps(maps) -> list[str]:
        problems = []
        issues = sum(1 for q in QUEUES if q > MAX_RXQ)
        if fields(maps, "stats", u32(0), "<QQ") != (len(QUEUES), issues):
            problems.append(f"stats = {fields(maps, 'stats', u32(0), '<QQ')}, expected {(len(QUEUES), issues)}")
        for q in range(MAX_RXQ + 1):
            want = sum(1 for x in QUEUES if min(x, MAX_RXQ) == q)
            want_issue = want if q == MAX_RXQ else 0
            got = fields(maps, "rx_queues", u32(q), "<QQ")
            if got != (want, want_issue):
                problems.append(f"rx_queues[{q}] = {got}, expected {(want, want_issue)}")
        return problems

    return Scenario(packets, expect, setup, check_maps=check_maps)
