"""Traffic for redirect_map.c: frames from ports with an egress entry are
redirected there with MACs swapped; a port without an entry, and an entry
pointing at an empty devmap slot, drop."""
from __future__ import annotations

from hxdp.ebpf.xdp import MapDump, MapEntry, XdpAction, XdpInput
from hxdp.packets import mixed_frames, swap_macs
from hxdp.scenario import Expect, Scenario, fields, u32

EGRESS = {1: 5, 2: 6, 4: 9}      # ingress ifindex -> devmap key (9 has no device)
TX_PORTS = {5: 1, 6: 1}          # devmap key -> ifindex (loopback exists everywhere)
INGRESS = [1, 2, 3, 4, 1, 1, 2, 3, 2, 1, 4, 1, 2, 1]


def expect(frame: bytes, ingress: int) -> Expect:
    port = EGRESS.get(ingress)
    if port is None:
        return Expect(XdpAction.DROP, why=f"port {ingress} has no egress entry")
    if port not in TX_PORTS:
        return Expect(XdpAction.DROP, why=f"devmap slot {port} is empty")
    return Expect(XdpAction.REDIRECT, swap_macs(frame), f"to devmap slot {port}", redirect=port)


def scenario() -> Scenario:
    frames = mixed_frames()
    traffic = [(frames[n % len(frames)], ingress) for n, ingress in enumerate(INGRESS)]
    counted = sum(1 for ingress in INGRESS if ingress in EGRESS)
    setup = [MapEntry("egress", u32(i), u32(p)) for i, p in EGRESS.items()] + \
        [MapEntry("tx_ports", u32(p), u32(ifindex)) for p, ifindex in TX_PORTS.items()]

    def check_maps(maps: MapDump) -> list[str]:
        got = fields(maps, "rxcnt", u32(0))[0]
        return [] if got == counted else [f"rxcnt = {got}, expected {counted}"]

    return Scenario([XdpInput(f, ingress_ifindex=i) for f, i in traffic],
                    [expect(f, i) for f, i in traffic], setup, check_maps=check_maps)
