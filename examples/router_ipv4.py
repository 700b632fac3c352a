"""Traffic for router_ipv4.c: routed packets (longest prefix wins), packets
without a route or with an expiring TTL, and traffic the router passes up.
Expected frames are rebuilt here: new MACs, TTL - 1, header checksum
recomputed from scratch."""
from __future__ import annotations

import struct

from hxdp.ebpf.xdp import MapDump, MapEntry, XdpAction, XdpInput
from hxdp.packets import (ETH_P_ARP, ETH_P_IP, Ipv4Header, ethernet, ip4, l3_offset, mac, tcp_frame, udp_frame,
                          with_ipv4_options)
from hxdp.scenario import Expect, Scenario, fields, u32

# prefix -> (route id, port, next hop MAC, our MAC on that port)
ROUTES = {
    "10.1.0.0/16": (0, 1, "02:00:00:00:01:01", "02:00:00:00:01:00"),
    "10.1.2.0/24": (1, 2, "02:00:00:00:02:01", "02:00:00:00:02:00"),
    "192.168.0.0/16": (2, 3, "02:00:00:00:03:01", "02:00:00:00:03:00"),
    "10.1.2.3/32": (3, 1, "02:00:00:00:01:03", "02:00:00:00:01:00"),
    "172.20.0.0/14": (4, 7, "02:00:00:00:07:01", "02:00:00:00:07:00"),
}
PORT_IFINDEX = 1   # every port leaves through loopback, which exists on every machine
UNPLUGGED_PORT = 7  # a route's port with no device in tx_ports: bpf_redirect_map aborts
DROP_TTL, DROP_NO_ROUTE = 0, 1


def setup() -> list[MapEntry]:
    entries = []
    for prefix, (rid, port, dmac, smac) in ROUTES.items():
        addr, length = prefix.split("/")
        entries.append(MapEntry("routes", struct.pack("<I4s", int(length), ip4(addr)),
                                struct.pack("<II6s6s", rid, port, mac(dmac), mac(smac))))
        if port != UNPLUGGED_PORT:
            entries.append(MapEntry("tx_ports", u32(port), u32(PORT_IFINDEX)))
    return entries


def routed(frame: bytes, prefix: str) -> bytes:
    """``frame`` as the router forwards it along ``prefix``'s route."""
    _, _, dmac, smac = ROUTES[prefix]
    l3 = l3_offset(frame)
    header = Ipv4Header.parse(frame, l3).forwarded()
    return mac(dmac) + mac(smac) + frame[12:l3] + header.pack() + frame[l3 + header.length:]


def scenario() -> Scenario:
    forwarded = [
        (udp_frame("172.16.0.1", "10.1.5.5", 1000, 2000, b"x"), "10.1.0.0/16"),
        (udp_frame("172.16.0.1", "10.1.2.9", 1000, 2000, b"y"), "10.1.2.0/24"),
        (tcp_frame("172.16.0.2", "192.168.3.3", 3000, 22), "192.168.0.0/16"),
        (udp_frame("172.16.0.1", "10.1.5.5", 1000, 2000, b"v", vlan=10), "10.1.0.0/16"),
        (tcp_frame("172.16.0.3", "10.1.2.200", 5000, 80, bytes(1200)), "10.1.2.0/24"),
        (udp_frame("172.16.0.1", "10.1.5.6", 1, 2, ttl=2), "10.1.0.0/16"),
        (udp_frame("172.16.0.9", "10.1.255.255", 1, 2, ttl=255), "10.1.0.0/16"),
        (udp_frame("172.16.0.1", "10.1.2.3", 1000, 2000, b"h"), "10.1.2.3/32"),
        (udp_frame("172.16.0.1", "10.1.2.4", 1000, 2000, b"h"), "10.1.2.0/24"),
        (tcp_frame("172.16.0.4", "192.168.9.9", 3001, 22, vlan=(20, 30)), "192.168.0.0/16"),
        (udp_frame("172.16.126.0", "10.1.7.7", 1, 2), "10.1.0.0/16"),    # checksum update carries
    ]
    dropped = [
        (udp_frame("172.16.0.1", "8.8.8.8", 1000, 53), DROP_NO_ROUTE, "no route"),
        (udp_frame("172.16.0.1", "10.1.5.5", 1000, 2000, ttl=1), DROP_TTL, "TTL 1"),
        (udp_frame("172.16.0.1", "10.1.5.5", 1000, 2000, ttl=0), DROP_TTL, "TTL 0"),
        (udp_frame("172.16.0.1", "11.0.0.1", 1000, 2000), DROP_NO_ROUTE, "no route"),
    ]
    passed = [
        (udp_frame("2001:db8::1", "2001:db8::2", 1, 2), "IPv6"),
        (ethernet(bytes(28), ETH_P_ARP), "ARP"),
        (ethernet(bytes(12), ETH_P_IP), "IPv4 header cut short"),
        (with_ipv4_options(udp_frame("172.16.0.1", "10.1.5.5", 1, 2)), "IPv4 options"),
    ]
    unplugged = udp_frame("172.16.0.1", "172.21.0.1", 1, 2)
    packets, expect = [], []
    route_counts = [0] * len(ROUTES)
    drop_counts = [0, 0]
    for frame, prefix in forwarded:
        rid, port = ROUTES[prefix][:2]
        route_counts[rid] += 1
        packets.append(XdpInput(frame))
        expect.append(Expect(XdpAction.REDIRECT, routed(frame, prefix), f"via {prefix}", redirect=port))
    for frame, reason, why in dropped:
        drop_counts[reason] += 1
        packets.append(XdpInput(frame))
        expect.append(Expect(XdpAction.DROP, why=why))
    for frame, why in passed:
        packets.append(XdpInput(frame))
        expect.append(Expect(XdpAction.PASS, why=why))
    route_counts[ROUTES["172.20.0.0/14"][0]] += 1
    packets.append(XdpInput(unplugged))
    expect.append(Expect(XdpAction.ABORTED, why="route to a port without a device"))

    def check_maps(maps: MapDump) -> list[str]:
        problems = [f"route_stats[{rid}] = {fields(maps, 'route_stats', u32(rid))[0]}, expected {n}"
                    for rid, n in enumerate(route_counts) if fields(maps, "route_stats", u32(rid))[0] != n]
        problems += [f"drops[{r}] = {fields(maps, 'drops', u32(r))[0]}, expected {n}"
                     for r, n in enumerate(drop_counts) if fields(maps, "drops", u32(r))[0] != n]
        return problems

    return Scenario(packets, expect, setup(), check_maps=check_maps)
