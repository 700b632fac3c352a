"""Traffic for firewall.c: flows opened from the trusted port (ifindex 1),
replies and strangers on the untrusted ports (ifindex 2 and 3), non-IP
traffic and broken headers. The expected verdicts and maps follow from the rules in
firewall.c's header comment."""
from __future__ import annotations

import struct

from hxdp.ebpf.xdp import MapDump, XdpAction, XdpInput
from hxdp.packets import (ETH_P_ARP, ETH_P_IP, IPPROTO_ICMP, ethernet, icmp, ip4, ipv4, tcp_frame, udp_frame,
                          with_ipv4_options)
from hxdp.scenario import Expect, Scenario, fields, u32

TRUSTED, UNTRUSTED, OTHER_UNTRUSTED = 1, 2, 3
OPENED, ESTABLISHED, BLOCKED, OTHER = range(4)
UDP, TCP, SCTP = 17, 6, 132


def _icmp4(src: str, dst: str, echo_type: int) -> bytes:
    return ethernet(ipv4(src, dst, IPPROTO_ICMP, icmp(echo_type, 0, b"\0\1\0\1", b"hi")), ETH_P_IP)


# (frame, ingress, 5-tuple as the frame carries it or None, counter it lands in)
def traffic() -> list[tuple[bytes, int, tuple | None, int]]:
    dns = ("10.0.0.1", "8.8.8.8", 1000, 53, UDP)
    web = ("10.0.0.2", "1.1.1.1", 40000, 443, TCP)
    ping = ("10.0.0.1", "8.8.8.8", 0, 0, IPPROTO_ICMP)
    rev = lambda t: (t[1], t[0], t[3], t[2], t[4])
    return [
        (udp_frame(*dns[:4], b"q"), TRUSTED, dns, OPENED),
        (udp_frame(*rev(dns)[:4], b"a"), UNTRUSTED, rev(dns), ESTABLISHED),
        (udp_frame("8.8.8.8", "10.0.0.1", 53, 1001, b"a"), UNTRUSTED, ("8.8.8.8", "10.0.0.1", 53, 1001, UDP), BLOCKED),
        (tcp_frame(*web[:4], flags=0x02), TRUSTED, web, OPENED),
        (tcp_frame(*web[:4], b"hello", flags=0x18), TRUSTED, web, OPENED),
        (tcp_frame(*rev(web)[:4], flags=0x12), UNTRUSTED, rev(web), ESTABLISHED),
        (tcp_frame("6.6.6.6", "10.0.0.2", 443, 40000, flags=0x12), UNTRUSTED,
         ("6.6.6.6", "10.0.0.2", 443, 40000, TCP), BLOCKED),
        (ethernet(bytes(28), ETH_P_ARP), UNTRUSTED, None, OTHER),
        (udp_frame("2001:db8::9", "2001:db8::1", 53, 1000), UNTRUSTED, None, OTHER),
        (ethernet(bytes(10), ETH_P_IP), UNTRUSTED, None, BLOCKED),
        (_icmp4("8.8.8.8", "10.0.0.1", 0), UNTRUSTED, rev(ping), BLOCKED),
        (_icmp4("10.0.0.1", "8.8.8.8", 8), TRUSTED, ping, OPENED),
        (_icmp4("8.8.8.8", "10.0.0.1", 0), UNTRUSTED, rev(ping), ESTABLISHED),
        (udp_frame(*rev(dns)[:4], b"a", vlan=5), UNTRUSTED, rev(dns), ESTABLISHED),
        (ethernet(ipv4("8.8.8.8", "10.0.0.1", UDP, bytes(4)), ETH_P_IP), UNTRUSTED, None, BLOCKED),
        (udp_frame(*rev(dns)[:4], b"b"), OTHER_UNTRUSTED, rev(dns), ESTABLISHED),
        (udp_frame(*dns[:4], b"q2"), TRUSTED, dns, OPENED),
        (with_ipv4_options(udp_frame(*rev(dns)[:4], b"a")), UNTRUSTED, None, BLOCKED),
        (ethernet(ipv4("10.0.0.3", "10.0.0.4", SCTP, bytes(12)), ETH_P_IP), TRUSTED,
         ("10.0.0.3", "10.0.0.4", 0, 0, SCTP), OPENED),
        (ethernet(ipv4("10.0.0.4", "10.0.0.3", SCTP, bytes(12)), ETH_P_IP), UNTRUSTED,
         ("10.0.0.4", "10.0.0.3", 0, 0, SCTP), ESTABLISHED),
        (tcp_frame("8.8.8.8", "10.0.0.2", 443, 40000, flags=0x12), UNTRUSTED,
         ("8.8.8.8", "10.0.0.2", 443, 40000, TCP), BLOCKED),
    ]


def flow_key(t: tuple) -> bytes:
    return struct.pack("!4s4sHHB3x", ip4(t[0]), ip4(t[1]), t[2], t[3], t[4])


def check_maps(maps: MapDump) -> list[str]:
    problems = []
    counts = [0] * 4
    flows: dict[bytes, list[int]] = {}
    for frame, ingress, five, counter in traffic():
        counts[counter] += 1
        if counter in (OPENED, ESTABLISHED):
            opened = five if counter == OPENED else (five[1], five[0], five[3], five[2], five[4])
            entry = flows.setdefault(flow_key(opened), [0, 0])
            entry[0] += 1
            entry[1] += len(frame)
    for counter, want in enumerate(counts):
        got = fields(maps, "stats", u32(counter))[0]
        if got != want:
            problems.append(f"stats[{counter}] = {got}, expected {want}")
    got_flows = {k: list(struct.unpack("<QQ", v)) for k, v in maps["flows"].items()}
    if got_flows != flows:
        problems.append(f"flows = {got_flows}, expected {flows}")
    return problems


def scenario() -> Scenario:
    rows = traffic()
    action = {OPENED: XdpAction.PASS, ESTABLISHED: XdpAction.PASS, OTHER: XdpAction.PASS,
              BLOCKED: XdpAction.DROP}
    names = {OPENED: "opens a flow", ESTABLISHED: "reply of a flow", BLOCKED: "blocked", OTHER: "not IPv4"}
    return Scenario([XdpInput(f, ingress_ifindex=i) for f, i, _, _ in rows],
                    [Expect(action[c], why=names[c]) for _, _, _, c in rows],
                    check_maps=check_maps)
