"""Traffic for rxq_info.c: packets on several receive queues (some beyond
the 64 the program tracks one by one) and on ports configured to pass, drop,
send back, or with an invalid action; a port without an entry follows the
default (entry 0)."""
from __future__ import annotations

from collections import Counter

from hxdp.ebpf.xdp import MapDump, MapEntry, XdpAction, XdpInput
from hxdp.packets import mixed_frames, swap_macs
from hxdp.scenario import Expect, Scenario, fields, u32

MAX_RXQ = 64
DEFAULT = 0
INVALID_ACTION = 7
# ingress ifindex -> configured action
CONFIG = {DEFAULT: XdpAction.TX, 2: XdpAction.PASS, 3: XdpAction.DROP, 4: INVALID_ACTION}
# (ingress ifindex, rx queue) of each packet
ARRIVALS = [(1, 0), (1, 1), (1, 0), (1, 3), (1, 70), (1, 64), (1, 63), (2, 0), (2, 5), (3, 0),
            (3, 0), (4, 0), (5, 0), (5, 2), (1, 0)]


def expect(frame: bytes, ingress: int) -> Expect:
    action = CONFIG.get(ingress, CONFIG[DEFAULT])
    if action == XdpAction.TX:
        return Expect(XdpAction.TX, swap_macs(frame), f"port {ingress}: sent back")
    if action in (XdpAction.PASS, XdpAction.DROP):
        return Expect(XdpAction(action), why=f"port {ingress}: configured {XdpAction.name_of(action)}")
    return Expect(XdpAction.ABORTED, why=f"port {ingress}: invalid action {action}")


def slot(queue: int) -> int:
    return min(queue, MAX_RXQ)


def check_maps(maps: MapDump) -> list[str]:
    problems = []
    issues = sum(1 for i, q in ARRIVALS if slot(q) == MAX_RXQ) + \
        sum(1 for i, q in ARRIVALS if CONFIG.get(i, CONFIG[DEFAULT]) == INVALID_ACTION)
    total = fields(maps, "stats", u32(0), "<QQ")
    if total != (len(ARRIVALS), issues):
        problems.append(f"stats = {total}, expected {(len(ARRIVALS), issues)}")
    per_slot = Counter(slot(q) for _, q in ARRIVALS)
    for q in range(MAX_RXQ + 1):
        want = (per_slot[q], per_slot[q] if q == MAX_RXQ else 0)
        got = fields(maps, "rx_queues", u32(q), "<QQ")
        if got != want:
            problems.append(f"rx_queues[{q}] = {got}, expected {want}")
    return problems


def scenario() -> Scenario:
    frames = mixed_frames()
    traffic = [(frames[n % len(frames)], ingress, queue) for n, (ingress, queue) in enumerate(ARRIVALS)]
    packets = [XdpInput(f, ingress_ifindex=i, rx_queue_index=q) for f, i, q in traffic]
    setup = [MapEntry("config", u32(port), u32(action)) for port, action in CONFIG.items()]
    return Scenario(packets, [expect(f, i) for f, i, _ in traffic], setup, check_maps=check_maps)
