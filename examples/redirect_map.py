"""Traffic for redirect_map.c: packets from ports with an egress entry are
redirected to it with MACs swapped; a port without an entry, and an entry
pointing at an empty devmap slot, drop."""
from __future__ import annotations

from hxdp.ebpf.xdp import MapEntry, XdpAction, XdpInput
from hxdp.packets import tcp_frame, udp_frame, swap_macs
from hxdp.scenario import Expect, Scenario, fields, u32

EGRESS = {1: 5, 2: 6, 4: 9}      # ingress ifindex -> devmap key
TX_PORTS = {5: 1, 6: 1}          # devmap key -> ifindex (loopback exists everywhere)


def scenario() -> Scenario:
    traffic = [(udp_frame("10.0.0.1", "10.0.0.2", 1, 2, b"a"), 1), (tcp_frame("10.0.0.3", "10.0.0.4", 3, 4), 2),
               (udp_frame("10.0.0.5", "10.0.0.6", 5, 6), 3), (udp_frame("10.0.0.7", "10.0.0.8", 7, 8), 4),
               (udp_frame("10.0.0.1", "10.0.0.2", 1, 2, bytes(500)), 1)]
    packets, expect, counted = [], [], 0
    for frame, ingress in traffic:
        packets.append(XdpInput(frame, ingress_ifindex=ingress))
        port = EGRESS.get(ingress)
        if port is not None:
            counted += 1
        if port in TX_PORTS:
            expect.append(Expect(XdpAction.REDIRECT, swap_macs(frame), f"to port {port}", redirect=port))
        else:
            expect.append(Expect(XdpAction.DROP, why="no egress port" if port is None else "empty devmap slot"))
    setup = [MapEntry("egress", u32(i), u32(p)) for i, p in EGRESS.items()] + \
        [MapEntry("tx_ports", u32(p), u32(ifindex)) for p, ifindex in TX_PORTS.items()]

    def check_maps(maps) -> list[str]:
        got = fields(maps, "rxcnt", u32(0))[0]
        return [] if got == counted else [f"rxcnt = {got}, expected {counted}"]

    return Scenario(packets, expect, setup, check_maps=check_maps)
