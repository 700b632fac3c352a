"""Traffic for adjust_tail.c: IPv4 frames longer than 600 bytes are answered
with ICMP "fragmentation needed" (built here from RFC 792's layout); shorter
frames and non-IPv4 frames pass."""
from __future__ import annotations

from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.packets import ETH_P_IP, IPPROTO_ICMP, ethernet, icmp, ipv4, tcp_frame, udp_frame, udp_frame
from hxdp.scenario import Expect, Scenario, fields, u32

MAX_PACKET = 600
QUOTED = 48


def icmp_reply(frame: bytes) -> bytes:
    src, dst = frame[26:30], frame[30:34]
    mtu = (MAX_PACKET - 14).to_bytes(2, "big")
    message = icmp(3, 4, b"\0\0" + mtu, frame[14:14 + QUOTED])
    return ethernet(ipv4(dst, src, IPPROTO_ICMP, message, ttl=64, df=False), ETH_P_IP, frame[6:12], frame[0:6])


def scenario() -> Scenario:
    big = [
        udp_frame("198.51.100.1", "10.0.0.1", 4000, 4001, bytes(1000)),
        tcp_frame("198.51.100.2", "10.0.0.1", 5000, 80, bytes(range(256)) * 3, flags=0x18),
        udp_frame("198.51.100.3", "10.0.0.2", 1, 2, bytes(MAX_PACKET - 42 + 1)),   # 601 bytes
    ]
    small = [
        (udp_frame("198.51.100.1", "10.0.0.1", 4000, 4001, bytes(MAX_PACKET - 42)), "exactly 600 bytes"),
        (tcp_frame("198.51.100.2", "10.0.0.1", 5000, 80), "small TCP"),
        (udp_frame("2001:db8::1", "2001:db8::2", 1, 2, bytes(900)), "IPv6 is not handled"),
        (ethernet(bytes(12), ETH_P_IP), "IPv4 header cut short"),
    ]
    packets = [XdpInput(f) for f in big] + [XdpInput(f) for f, _ in small]
    expect = [Expect(XdpAction.TX, icmp_reply(f), "too big") for f in big] + \
        [Expect(XdpAction.PASS, why=why) for _, why in small]

    def check_maps(maps) -> list[str]:
        sent = fields(maps, "icmp_sent", u32(0))[0]
        return [] if sent == len(big) else [f"icmp_sent = {sent}, expected {len(big)}"]

    return Scenario(packets, expect, check_maps=check_maps)
