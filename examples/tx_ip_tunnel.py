"""Traffic for tx_ip_tunnel.c: packets to tunnelled VIPs are encapsulated
toward their tunnel endpoint, IPv4 in IPv4 and IPv6 in IPv6; everything
else passes, and a VIP packet whose TCP header is cut short drops."""
from __future__ import annotations

import ipaddress
import struct
from collections import Counter

from hxdp.ebpf.xdp import MapDump, MapEntry, XdpAction, XdpInput
from hxdp.packets import (ETH_HLEN, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_IPV6,
                          ethernet, icmp, ip4, ip_addr, ipv4, ipv6, mac, tcp, tcp_frame, udp_frame,
                          with_ipv4_options)
from hxdp.scenario import Expect, Scenario, fields, u32

TCP, UDP = 6, 17
OUTER_TTL = 64
Vip = tuple[str, int, int]           # address, port, protocol
# VIP -> (outer source, outer destination, next-hop MAC)
TUNNELS: dict[Vip, tuple[str, str, str]] = {
    ("10.200.0.1", 80, TCP): ("10.0.0.1", "172.31.0.1", "02:00:00:00:bb:01"),
    ("10.200.0.1", 53, UDP): ("10.0.0.1", "172.31.0.2", "02:00:00:00:bb:02"),
    ("10.200.0.9", 443, TCP): ("10.0.0.2", "172.31.0.3", "02:00:00:00:bb:03"),
    ("2001:db8:200::1", 80, TCP): ("2001:db8::a", "2001:db8:31::1", "02:00:00:00:bb:04"),
    ("2001:db8:200::1", 53, UDP): ("2001:db8::a", "2001:db8:31::2", "02:00:00:00:bb:05"),
}


def family(address: str) -> int:
    return ipaddress.ip_address(address).version


def setup() -> list[MapEntry]:
    """struct vip {16-byte address, port, protocol, family} -> struct tunnel
    {16-byte source, 16-byte destination, MAC, 2 bytes padding}."""
    return [MapEntry("vip2tnl", struct.pack("!16sHBB", ip_addr(vip), port, proto, family(vip)),
                     ip_addr(src).ljust(16, b"\0") + ip_addr(dst).ljust(16, b"\0") + mac(dmac) + bytes(2))
            for (vip, port, proto), (src, dst, dmac) in TUNNELS.items()]


def tunnelled(frame: bytes, vip: Vip) -> bytes:
    src, dst, dmac = TUNNELS[vip]
    inner = frame[ETH_HLEN:]
    if family(vip[0]) == 4:
        return ethernet(ipv4(src, dst, IPPROTO_IPIP, inner, ttl=OUTER_TTL, df=False), ETH_P_IP, dmac, frame[0:6])
    return ethernet(ipv6(src, dst, IPPROTO_IPV6, inner, hop_limit=OUTER_TTL), ETH_P_IPV6, dmac, frame[0:6])


def scenario() -> Scenario:
    hits: list[tuple[bytes, Vip]] = [
        (tcp_frame("192.0.2.1", "10.200.0.1", 1234, 80, flags=0x02), ("10.200.0.1", 80, TCP)),
        (udp_frame("192.0.2.2", "10.200.0.1", 5353, 53, b"query"), ("10.200.0.1", 53, UDP)),
        (tcp_frame("192.0.2.3", "10.200.0.9", 999, 443, bytes(600), flags=0x18), ("10.200.0.9", 443, TCP)),
        (tcp_frame("192.0.2.1", "10.200.0.1", 1235, 80, flags=0x02), ("10.200.0.1", 80, TCP)),
        (tcp_frame("2001:db8:1::1", "2001:db8:200::1", 4000, 80, flags=0x02), ("2001:db8:200::1", 80, TCP)),
        (udp_frame("2001:db8:1::2", "2001:db8:200::1", 4001, 53, b"v6 query"), ("2001:db8:200::1", 53, UDP)),
        (tcp_frame("2001:db8:1::3", "2001:db8:200::1", 4002, 80, bytes(1200), flags=0x18),
         ("2001:db8:200::1", 80, TCP)),
    ]
    misses = [
        (tcp_frame("192.0.2.1", "10.200.0.1", 1234, 8080), "no tunnel for the port"),
        (udp_frame("192.0.2.1", "10.200.0.1", 1234, 80), "no tunnel for the protocol"),
        (udp_frame("192.0.2.1", "10.200.0.2", 1234, 53), "no tunnel for the address"),
        (udp_frame("2001:db8:1::1", "2001:db8:200::2", 1, 53), "no tunnel for the IPv6 address"),
        (udp_frame("2001:db8:1::1", "2001:db8:200::1", 1, 443), "no tunnel for the IPv6 port"),
        (ethernet(ipv4("192.0.2.1", "10.200.0.1", IPPROTO_ICMP, icmp(8, 0, bytes(4))), ETH_P_IP), "ICMP"),
        (ethernet(bytes(28), ETH_P_ARP), "ARP"),
        (udp_frame("192.0.2.2", "10.200.0.1", 5353, 53, vlan=4), "VLAN tagged"),
        (with_ipv4_options(udp_frame("192.0.2.2", "10.200.0.1", 5353, 53)), "IPv4 options"),
        (ethernet(bytes(30), ETH_P_IPV6), "IPv6 header cut short"),
    ]
    cut_short = ethernet(ipv4("192.0.2.1", "10.200.0.1", TCP,
                              tcp(1, 80, b"", ip4("192.0.2.1"), ip4("10.200.0.1"))[:12]), ETH_P_IP)
    packets = [XdpInput(f) for f, _ in hits] + [XdpInput(f) for f, _ in misses] + [XdpInput(cut_short)]
    expect = [Expect(XdpAction.TX, tunnelled(f, vip), f"tunnel to {TUNNELS[vip][1]}") for f, vip in hits] + \
        [Expect(XdpAction.PASS, why=why) for _, why in misses] + \
        [Expect(XdpAction.DROP, why="TCP header cut short")]
    per_proto = Counter(vip[2] for _, vip in hits)

    def check_maps(maps: MapDump) -> list[str]:
        return [f"rxcnt[{p}] = {fields(maps, 'rxcnt', u32(p))[0]}, expected {per_proto[p]}"
                for p in range(256) if fields(maps, "rxcnt", u32(p))[0] != per_proto[p]]

    return Scenario(packets, expect, setup(), check_maps=check_maps)
