"""Traffic for xdp1.c: packets of several IP protocols, plain and behind one
or two VLAN tags, plus non-IP, over-tagged and truncated frames; all are
dropped and counted by protocol (0 for non-IP and truncated)."""
from collections import Counter

from hxdp.ebpf.xdp import MapDump, XdpAction, XdpInput
from hxdp.packets import (ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IPIP,
                          ethernet, icmp, ipv4, ipv6, tcp_frame, udp_frame)
from hxdp.scenario import Expect, Scenario, fields, u32

ICMP_ECHO = icmp(8, 0, b"\x12\x34\x00\x01", b"ping")
GRE = 47


def traffic() -> list[tuple[bytes, int]]:
    """(frame, the protocol number xdp1 counts it under)."""
    return [
        (udp_frame("10.0.0.1", "10.0.0.2", 1234, 53), 17),
        (udp_frame("10.0.0.1", "10.0.0.2", 1234, 53, vlan=100), 17),
        (udp_frame("10.0.0.1", "10.0.0.2", 1234, 53, vlan=(100, 200)), 17),
        (udp_frame("10.0.0.1", "10.0.0.2", 1234, 53, vlan=(1, 2, 3)), 0),    # more tags than parsed
        (tcp_frame("10.0.0.5", "10.0.0.6", 4321, 443), 6),
        (tcp_frame("10.0.0.5", "10.0.0.6", 4321, 443, vlan=7), 6),
        (ethernet(ipv4("10.1.1.1", "10.1.1.2", IPPROTO_ICMP, ICMP_ECHO), ETH_P_IP), 1),
        (ethernet(ipv4("10.2.0.1", "10.2.0.2", GRE, bytes(8)), ETH_P_IP), GRE),
        (ethernet(ipv4("10.3.0.1", "10.3.0.2", IPPROTO_IPIP, ipv4("10.4.0.1", "10.4.0.2", GRE, b""), df=False),
                  ETH_P_IP), IPPROTO_IPIP),
        (udp_frame("2001:db8::1", "2001:db8::2", 1, 2), 17),
        (tcp_frame("2001:db8::1", "2001:db8::2", 3, 4, vlan=9), 6),
        (ethernet(ipv6("fe80::1", "ff02::1", IPPROTO_ICMPV6, bytes(8)), ETH_P_IPV6), IPPROTO_ICMPV6),
        (ethernet(bytes(28), ETH_P_ARP), 0),
        (ethernet(bytes(10), ETH_P_IP), 0),          # IPv4 header cut short
        (ethernet(bytes(30), ETH_P_IPV6), 0),        # IPv6 header cut short
        (udp_frame("10.0.0.1", "10.0.0.2", 1234, 53, vlan=100)[:16], 0),    # VLAN tag cut short
        (udp_frame("10.0.0.9", "10.0.0.8", 9, 9, bytes(900)), 17),
    ]


def check_counts(maps: MapDump) -> list[str]:
    problems = []
    counts = Counter(proto for _, proto in traffic())
    for proto in range(256):
        got, count = fields(maps, "rxcnt", u32(proto))[0], counts[proto]
        if got != count:
            problems.append(f"rxcnt[{proto}] = {got}, expected {count}")
    return problems


def scenario() -> Scenario:
    frames = [f for f, _ in traffic()]
    return Scenario([XdpInput(f) for f in frames], [Expect(XdpAction.DROP) for _ in frames],
                    check_maps=check_counts)
