"""Traffic for adjust_tail.c: untagged IPv4 frames longer than 600 bytes are
answered with ICMP "fragmentation needed" (built here from RFC 792's
layout); shorter frames, tagged frames and other protocols pass."""
from __future__ import annotations

from hxdp.ebpf.xdp import MapDump, XdpAction, XdpInput
from hxdp.packets import (ETH_HLEN, ETH_P_ARP, ETH_P_IP, IPPROTO_ICMP, Ipv4Header, ethernet, icmp, ipv4,
                          tcp_frame, udp_frame)
from hxdp.scenario import Expect, Scenario, fields, u32

MAX_PACKET = 600
QUOTED = 48
ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED = 3, 4
UDP_OVERHEAD = 42     # Ethernet, IPv4 and UDP headers


def icmp_reply(frame: bytes) -> bytes:
    """The reply adjust_tail.c makes of ``frame``: back to its sender, quoting
    the first QUOTED bytes of its IP packet, announcing the largest IP packet
    that fits."""
    offender = Ipv4Header.parse(frame)
    mtu = (MAX_PACKET - ETH_HLEN).to_bytes(2, "big")
    message = icmp(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, b"\0\0" + mtu, frame[ETH_HLEN:ETH_HLEN + QUOTED])
    return ethernet(ipv4(offender.dst, offender.src, IPPROTO_ICMP, message, df=False), ETH_P_IP,
                    frame[6:12], frame[0:6])


def scenario() -> Scenario:
    big = [
        (udp_frame("198.51.100.1", "10.0.0.1", 4000, 4001, bytes(1000)), "large UDP"),
        (tcp_frame("198.51.100.2", "10.0.0.1", 5000, 80, bytes(range(256)) * 3, flags=0x18), "large TCP"),
        (udp_frame("198.51.100.3", "10.0.0.2", 1, 2, bytes(MAX_PACKET - UDP_OVERHEAD + 1)), "601 bytes"),
        (udp_frame("198.51.100.4", "10.0.0.3", 7, 7, bytes(1472)), "1514 bytes"),
        (ethernet(ipv4("198.51.100.5", "10.0.0.4", IPPROTO_ICMP, icmp(8, 0, b"\0\1\0\1", bytes(1200))),
                  ETH_P_IP), "large ping"),
    ]
    small = [
        (udp_frame("198.51.100.1", "10.0.0.1", 4000, 4001, bytes(MAX_PACKET - UDP_OVERHEAD)), "exactly 600 bytes"),
        (tcp_frame("198.51.100.2", "10.0.0.1", 5000, 80), "small TCP"),
        (udp_frame("2001:db8::1", "2001:db8::2", 1, 2, bytes(900)), "IPv6 is not handled"),
        (udp_frame("198.51.100.1", "10.0.0.1", 4000, 4001, bytes(1000), vlan=3), "VLAN tagged"),
        (ethernet(bytes(1000), ETH_P_ARP), "large non-IP frame"),
        (ethernet(bytes(12), ETH_P_IP), "IPv4 header cut short"),
    ]
    packets = [XdpInput(f) for f, _ in big + small]
    expect = [Expect(XdpAction.TX, icmp_reply(f), why) for f, why in big] + \
        [Expect(XdpAction.PASS, why=why) for _, why in small]

    def check_maps(maps: MapDump) -> list[str]:
        sent = fields(maps, "icmp_sent", u32(0))[0]
        return [] if sent == len(big) else [f"icmp_sent = {sent}, expected {len(big)}"]

    return Scenario(packets, expect, check_maps=check_maps)
