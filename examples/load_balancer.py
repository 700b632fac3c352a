"""Traffic for load_balancer.c: two VIPs with their Maglev rings of real
servers, new flows, repeated flows, a flow already in the connection table
(it sticks to its server whatever the ring says), and traffic that is not
for a VIP. The expected real server of each flow is computed here with the
hash documented in load_balancer.c."""
from __future__ import annotations

import struct

from dataclasses import replace
import hashlib

from hxdp.ebpf.xdp import MapDump, MapEntry, XdpAction, XdpInput
from hxdp.packets import (ETH_HLEN, ETH_P_ARP, ETH_P_IP, IPPROTO_ICMP, IPPROTO_IPIP, Ipv4Header, ethernet, icmp,
                          ip4, ipv4, mac, tcp, tcp_frame, udp_frame, with_ipv4_options)
from hxdp.scenario import Expect, Scenario, fields, u32

RING_SIZE = 67    # prime, as Maglev wants
LB_SOURCE = "10.0.0.254"
GATEWAY_MAC = "02:00:00:00:aa:01"
TCP, UDP = 6, 17
SYN, ACK, PSH_ACK = 0x02, 0x10, 0x18
# vip_num -> (address, port, protocol, real server indices on its ring)
VIPS = {0: ("10.100.0.1", 80, TCP, [0, 1, 2]), 1: ("10.100.0.2", 53, UDP, [3, 4])}
Flow = tuple[str, str, int, int, int]   # source, destination, ports, protocol
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


def maglev_ring(reals: list[int], size: int = RING_SIZE) -> list[int]:
    """The lookup table of Maglev hashing (Eisenbud et al., NSDI 2016): each
    real server walks its own permutation of the slots, and the servers take
    turns claiming their next free slot, so that every server gets an equal
    share and removing one moves only its own slots."""
    walks = []
    for real in reals:
        digest = hashlib.sha256(REALS[real].encode()).digest()
        walks.append((int.from_bytes(digest[:4], "big") % size, int.from_bytes(digest[4:8], "big") % (size - 1) + 1))
    ring: list[int | None] = [None] * size
    steps = [0] * len(reals)
    filled = 0
    while True:
        for i, (offset, skip) in enumerate(walks):
            while ring[(offset + steps[i] * skip) % size] is not None:
                steps[i] += 1
            ring[(offset + steps[i] * skip) % size] = reals[i]
            filled += 1
            if filled == size:
                return ring


def ring_choice(vip_num: int, flow: Flow) -> int:
    return maglev_ring(VIPS[vip_num][3])[flow_hash(*flow) % RING_SIZE]


def setup(pinned: dict[Flow, int]) -> list[MapEntry]:
    entries = []
    for num, (addr, port, proto, reals) in VIPS.items():
        entries.append(MapEntry("vips", struct.pack("!4sHBx", ip4(addr), port, proto), struct.pack("<II", num, 0)))
        for pos, real in enumerate(maglev_ring(reals)):
            entries.append(MapEntry("ring", u32(num * RING_SIZE + pos), u32(real)))
    for index, addr in REALS.items():
        entries.append(MapEntry("reals", u32(index), ip4(addr)))
    entries.append(MapEntry("config", u32(0), ip4(LB_SOURCE) + mac(GATEWAY_MAC) + bytes(2)))
    for flow, real in pinned.items():
        entries.append(MapEntry("conns", flow_key(*flow), u32(real)))
    return entries


def frame_of(flow: Flow, payload: bytes = b"", flags: int = ACK, vlan: int | None = None) -> bytes:
    """A frame of ``flow``; ``flags`` are the TCP flags of a TCP flow."""
    src, dst, sport, dport, proto = flow
    if proto == TCP:
        return tcp_frame(src, dst, sport, dport, payload, flags=flags, vlan=vlan)
    return udp_frame(src, dst, sport, dport, payload, vlan=vlan)


def encapsulated(frame: bytes, real: int) -> bytes:
    """``frame`` as the balancer sends it to ``real``: IP-in-IP from LB_SOURCE,
    to the gateway, from the MAC the frame was addressed to."""
    outer = ipv4(LB_SOURCE, REALS[real], IPPROTO_IPIP, frame[ETH_HLEN:], ttl=64, df=False)
    return ethernet(outer, ETH_P_IP, GATEWAY_MAC, frame[0:6])


def fragment_of(frame: bytes) -> bytes:
    """``frame`` marked as the first fragment of a larger datagram."""
    header = Ipv4Header.parse(frame)
    return frame[:ETH_HLEN] + replace(header, frag=0x2000).pack() + frame[ETH_HLEN + header.length:]


def scenario() -> Scenario:
    web, dns = VIPS[0][0], VIPS[1][0]
    pinned = ("198.51.100.9", web, 5555, 80, TCP)
    pinned_real = next(r for r in VIPS[0][3] if r != ring_choice(0, pinned))
    client = ("203.0.113.5", web, 33000, 80, TCP)
    balanced: list[tuple[Flow, int, bytes, int]] = [   # (flow, vip number, payload, TCP flags)
        (client, 0, b"", SYN),
        (client, 0, b"GET / HTTP/1.1\r\n", PSH_ACK),
        (("203.0.113.6", web, 33001, 80, TCP), 0, b"", SYN),
        (("203.0.113.7", web, 40000, 80, TCP), 0, b"", SYN),
        (("203.0.113.8", dns, 5353, 53, UDP), 1, b"dns", 0),
        (("203.0.113.9", dns, 6000, 53, UDP), 1, b"dns", 0),
        (pinned, 0, b"", ACK),
        (("203.0.113.10", web, 41000, 80, TCP), 0, bytes(1000), PSH_ACK),
        (client[:2] + (33002, 80, TCP), 0, b"", SYN),
        (("203.0.113.8", dns, 5353, 53, UDP), 1, b"again", 0),
        (pinned, 0, b"more", PSH_ACK),
    ] + [((f"198.18.0.{n}", dns, 1024 + n, 53, UDP), 1, b"q", 0) for n in range(1, 7)]
    conns = {pinned: pinned_real}
    packets, expect, stats = [], [], {0: [0, 0], 1: [0, 0]}
    for flow, num, payload, flags in balanced:
        frame = frame_of(flow, payload, flags)
        real = conns.setdefault(flow, ring_choice(num, flow))
        packets.append(XdpInput(frame))
        expect.append(Expect(XdpAction.TX, encapsulated(frame, real), f"to real {real}"))
        stats[num][0] += 1
        stats[num][1] += len(frame)

    passing = [
        (frame_of(client[:3] + (81, TCP)), "not a VIP port"),
        (frame_of(client[:4] + (UDP,)), "VIP address, other protocol"),
        (frame_of(("203.0.113.5", "10.100.0.3", 33000, 80, TCP)), "not a VIP address"),
        (ethernet(ipv4("203.0.113.5", web, IPPROTO_ICMP, icmp(8, 0, bytes(4))), ETH_P_IP), "ICMP"),
        (ethernet(bytes(28), ETH_P_ARP), "ARP"),
        (frame_of(client, vlan=3), "VLAN tagged"),
        (fragment_of(frame_of(("203.0.113.11", dns, 7000, 53, UDP), b"frag")), "IP fragment"),
        (with_ipv4_options(frame_of(client)), "IPv4 options"),
        (frame_of(("2001:db8::5", "2001:db8::80", 33000, 80, TCP)), "IPv6"),
    ]
    for frame, why in passing:
        packets.append(XdpInput(frame))
        expect.append(Expect(XdpAction.PASS, why=why))
    truncated = ethernet(ipv4("203.0.113.12", web, TCP, tcp(1, 80, b"", ip4("203.0.113.12"), ip4(web))[:10]),
                         ETH_P_IP)
    packets.append(XdpInput(truncated))
    expect.append(Expect(XdpAction.DROP, why="TCP header cut short"))

    def check_maps(maps: MapDump) -> list[str]:
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

    return Scenario(packets, expect, setup({pinned: pinned_real}), check_maps=check_maps)
