"""Traffic for xdp1.c: packets of several IP protocols, plain and behind VLAN
tags, plus non-IP and truncated frames; all are dropped and counted by
protocol (0 for non-IP and truncated)."""
from collections import Counter

from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.packets import (ETH_P_ARP, ETH_P_IP, IPPROTO_ICMP, ethernet, icmp, ip4, ipv4, tcp4, udp4,
                          udp6)
from hxdp.scenario import Expect, Scenario, fields, u32

ICMP_ECHO = icmp(8, 0, b"\x12\x34\x00\x01", b"ping")


def traffic() -> list[tuple[bytes, int]]:
    """(frame, the protocol number xdp1 counts it under)."""
    return [
        (udp4("10.0.0.1", "10.0.0.2", 1234, 53), 17),
        (udp4("10.0.0.1", "10.0.0.2", 1234, 53, vlan=100), 17),
        (tcp4("10.0.0.5", "10.0.0.6", 4321, 443), 6),
        (tcp4("10.0.0.5", "10.0.0.6", 4321, 443, vlan=7), 6),
        (ethernet(ipv4(ip4("10.1.1.1"), ip4("10.1.1.2"), IPPROTO_ICMP, ICMP_ECHO), ETH_P_IP), 1),
        (udp6("2001:db8::1", "2001:db8::2", 1, 2), 17),
        (ethernet(bytes(28), ETH_P_ARP), 0),
        (ethernet(bytes(10), ETH_P_IP), 0),          # IPv4 header cut short
        (ethernet(ipv4(ip4("10.2.0.1"), ip4("10.2.0.2"), 47, bytes(8)), ETH_P_IP), 47),  # GRE
        (udp4("10.0.0.9", "10.0.0.8", 9, 9, bytes(900)), 17),
    ]


def expected_counts() -> Counter:
    return Counter(proto for _, proto in traffic())


def check_counts(maps) -> list[str]:
    problems = []
    for proto, count in expected_counts().items():
        got = fields(maps, "rxcnt", u32(proto))[0]
        if got != count:
            problems.append(f"rxcnt[{proto}] = {got}, expected {count}")
    return problems


def scenario() -> Scenario:
    frames = [f for f, _ in traffic()]
    return Scenario([XdpInput(f) for f in frames], [Expect(XdpAction.DROP) for _ in frames],
                    check_maps=check_counts)
