"""Traffic for load_balancer.c: two VIPs with their rings of real servers,
new flows, repeated flows, a flow already in the connection table, and
traffic that is not for a VIP. The expected real server of each flow is
computed here with the hash documented in load_balancer.c."""
from __future__ import annotations

import struct

from hxdp.ebpf.xdp import MapEntry, XdpAction, XdpInput
from hxdp.packets import (ETH_P_ARP, ETH_P_IP, IPPROTO_ICMP, IPPROTO_IPIP, ethernet, icmp, ip4, ipv4,
                          mac, tcp, tcp_frame, udp_frame)
from hxdp.scenario import Expect, Scenario, fields, u32

RING_SIZE = 64
LB_SOURCE = "10.0.0.254"
GATEWAY_MAC = "02:00:00:00:aa:01"
TCP, UDP = 6, 17
# vip_num -> (address, port, protocol, real server indices on its ring)
VIPS = {0: ("10.100.0.1", 80, TCP, [0, 1, 2]), 1: ("10.100.0.2", 53, UDP, [3, 4])}
REALS = {i: f"192.168.10.{i + 1}" for i in range(5)}
M32 = 0xFFFFFFFF


def flow_key(src: str, dst: str, sport: int, dport: int, proto: int) -> bytes:
    return struct.pack("!4s4sHHB3x", ip4(src), ip4(dst), sport, dport, proto)


def flow_hash(src: str, dst: str, sport: int, dport: int, proto: int) -> int:
    """The hash of load_balancer.c, on the values as the program loads them
    (network-order fields read as little-endian integers)."""
    saddr = int.from_bytes(ip4(src), "little")
    daddr = int.from_bytes(ip4(dst), "little")
    ports = (int.from_bytes(sport.to_bytes(2, "big"), "little") << 16) | \
        int.from_bytes(dport.to_bytes(2, "big"), "little")
    h = saddr * 0x9E3779B1 & M32
    h ^= (daddr + 0x7F4A7C15 + (h << 6) + (h >> 2)) & M32
    h ^= (ports + 0x7F4A7C15 + (h << 6) + (h >> 2)) & M32
    h ^= proto
    h ^= h >> 16
    h = h * 0x85EBCA6B & M32
    h ^= h >> 13
    return h


def ring_choice(vip_num: int, flow: tuple) -> int:
    return _ring(vip_num)[flow_hash(*flow) % RING_SIZE]


def _ring(vip_num: int) -> list[int]:
    reals = VIPS[vip_num][3]
    return [reals[i % len(reals)] for i in range(RING_SIZE)]


def setup(pinned: dict[tuple, int]) -> list[MapEntry]:
    entries = []
    for num, (addr, port, proto, _) in VIPS.items():
        entries.append(MapEntry("vips", struct.pack("!4sHBx", ip4(addr), port, proto), struct.pack("<II", num, 0)))
        for pos, real in enumerate(_ring(num)):
            entries.append(MapEntry("ring", u32(num * RING_SIZE + pos), u32(real)))
    for index, addr in REALS.items():
        entries.append(MapEntry("reals", u32(index), ip4(addr)))
    entries.append(MapEntry("config", u32(0), ip4(LB_SOURCE) + mac(GATEWAY_MAC) + bytes(2)))
    for flow, real in pinned.items():
        entries.append(MapEntry("conns", flow_key(*flow), u32(real)))
    return entries


def encapsulated(frame: bytes, real: int) -> bytes:
    outer = ipv4(ip4(LB_SOURCE), ip4(REALS[real]), IPPROTO_IPIP, frame[14:], ttl=64, df=False)
    return ethernet(outer, ETH_P_IP, GATEWAY_MAC, frame[0:6])


def scenario() -> Scenario:
    vip0, vip1 = VIPS[0][:3], VIPS[1][:3]
    pinned_flow = ("198.51.100.9", vip0[0], 5555, 80, TCP)
    pinned_real = (ring_choice(0, pinned_flow) + 1) % 3
    balanced = [  # (frame, flow, vip_num)
        (tcp_frame("203.0.113.5", vip0[0], 33000, 80, flags=0x02), 0),
        (tcp_frame("203.0.113.5", vip0[0], 33000, 80, b"GET /", flags=0x18), 0),
        (tcp_frame("203.0.113.6", vip0[0], 33001, 80, flags=0x02), 0),
        (tcp_frame("203.0.113.7", vip0[0], 40000, 80, flags=0x02), 0),
        (udp_frame("203.0.113.8", vip1[0], 5353, 53, b"dns"), 1),
        (udp_frame("203.0.113.9", vip1[0], 6000, 53, b"dns"), 1),
        (tcp_frame(pinned_flow[0], vip0[0], 5555, 80, flags=0x10), 0),
        (tcp_frame("203.0.113.10", vip0[0], 41000, 80, bytes(1000), flags=0x18), 0),
    ]
    flows = [("203.0.113.5", vip0[0], 33000, 80, TCP), ("203.0.113.5", vip0[0], 33000, 80, TCP),
             ("203.0.113.6", vip0[0], 33001, 80, TCP), ("203.0.113.7", vip0[0], 40000, 80, TCP),
             ("203.0.113.8", vip1[0], 5353, 53, UDP), ("203.0.113.9", vip1[0], 6000, 53, UDP),
             pinned_flow, ("203.0.113.10", vip0[0], 41000, 80, TCP)]
    conns = {pinned_flow: pinned_real}
    packets, expect, stats = [], [], {0: [0, 0], 1: [0, 0]}
    for (frame, num), flow in zip(balanced, flows):
        real = conns.setdefault(flow, ring_choice(num, flow))
        packets.append(XdpInput(frame))
        expect.append(Expect(XdpAction.TX, encapsulated(frame, real), f"to real {real}"))
        stats[num][0] += 1
        stats[num][1] += len(frame)
    fragment = bytearray(udp_frame("203.0.113.11", vip1[0], 7000, 53, b"frag"))
    fragment[20] |= 0x20  # more fragments
    truncated = ethernet(ipv4(ip4("203.0.113.12"), ip4(vip0[0]), TCP,
                              tcp(1, 80, b"", ip4("203.0.113.12"), ip4(vip0[0]))[:10]), ETH_P_IP)
    passing = [
        (tcp_frame("203.0.113.5", vip0[0], 33000, 81), "not a VIP port"),
        (udp_frame("203.0.113.5", vip0[0], 33000, 80), "VIP address, other protocol"),
        (ethernet(ipv4(ip4("203.0.113.5"), ip4(vip0[0]), IPPROTO_ICMP, icmp(8, 0, bytes(4))), ETH_P_IP), "ICMP"),
        (ethernet(bytes(28), ETH_P_ARP), "ARP"),
        (tcp_frame("203.0.113.5", vip0[0], 33000, 80, vlan=3), "VLAN tagged"),
        (bytes(fragment), "IP fragment"),
    ]
    for frame, why in passing:
        packets.append(XdpInput(frame))
        expect.append(Expect(XdpAction.PASS, why=why))
    packets.append(XdpInput(truncated))
    expect.append(Expect(XdpAction.DROP, why="TCP header cut short"))

    def check_maps(maps) -> list[str]:
        problems = []
        for num, (pkts, nbytes) in stats.items():
            got = fields(maps, "vip_stats", u32(num), "<QQ")
            if got != (pkts, nbytes):
                problems.append(f"vip_stats[{num}] = {got}, expected {(pkts, nbytes)}")
        want = {flow_key(*f): u32(r) for f, r in conns.items()}
        if maps["conns"] != want:
            problems.append(f"conns has {len(maps['conns'])} flows, expected {len(want)}: "
                            f"{sorted(k.hex() for k in maps['conns'])} vs {sorted(k.hex() for k in want)}")
        return problems

    return Scenario(packets, expect, setup({pinned_flow: pinned_real}), check_maps=check_maps)
