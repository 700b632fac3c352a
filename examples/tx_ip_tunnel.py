"""Traffic for tx_ip_tunnel.c: packets to tunnelled VIPs are encapsulated
IP-in-IP toward their tunnel endpoint; everything else passes."""
from __future__ import annotations

import struct

from hxdp.ebpf.xdp import MapEntry, XdpAction, XdpInput
from hxdp.packets import ETH_P_ARP, ETH_P_IP, IPPROTO_IPIP, ethernet, ip4, ipv4, mac, tcp_frame, udp_frame, udp_frame
from hxdp.scenario import Expect, Scenario, fields, u32

TCP, UDP = 6, 17
# (vip, port, protocol) -> (outer source, outer destination, next-hop MAC)
TUNNELS = {
    ("10.200.0.1", 80, TCP): ("10.0.0.1", "172.31.0.1", "02:00:00:00:bb:01"),
    ("10.200.0.1", 53, UDP): ("10.0.0.1", "172.31.0.2", "02:00:00:00:bb:02"),
    ("10.200.0.9", 443, TCP): ("10.0.0.2", "172.31.0.3", "02:00:00:00:bb:03"),
}


def setup() -> list[MapEntry]:
    return [MapEntry("vip2tnl", struct.pack("!4sHBx", ip4(vip), port, proto),
                     ip4(src) + ip4(dst) + mac(dmac) + bytes(2))
            for (vip, port, proto), (src, dst, dmac) in TUNNELS.items()]


def tunnelled(frame: bytes, tunnel: tuple) -> bytes:
    src, dst, dmac = tunnel
    return ethernet(ipv4(ip4(src), ip4(dst), IPPROTO_IPIP, frame[14:], df=False), ETH_P_IP, dmac, frame[0:6])


def scenario() -> Scenario:
    hits = [
        (tcp_frame("192.0.2.1", "10.200.0.1", 1234, 80, flags=0x02), ("10.200.0.1", 80, TCP)),
        (udp_frame("192.0.2.2", "10.200.0.1", 5353, 53, b"query"), ("10.200.0.1", 53, UDP)),
        (tcp_frame("192.0.2.3", "10.200.0.9", 999, 443, bytes(600), flags=0x18), ("10.200.0.9", 443, TCP)),
        (tcp_frame("192.0.2.1", "10.200.0.1", 1235, 80, flags=0x02), ("10.200.0.1", 80, TCP)),
    ]
    misses = [
        (tcp_frame("192.0.2.1", "10.200.0.1", 1234, 8080), "no tunnel for the port"),
        (udp_frame("192.0.2.1", "10.200.0.1", 1234, 80), "no tunnel for the protocol"),
        (udp_frame("192.0.2.1", "10.200.0.2", 1234, 53), "no tunnel for the address"),
        (udp_frame("2001:db8::1", "2001:db8::2", 1, 53), "IPv6"),
        (ethernet(bytes(28), ETH_P_ARP), "ARP"),
        (udp_frame("192.0.2.2", "10.200.0.1", 5353, 53, vlan=4), "VLAN tagged"),
    ]
    packets = [XdpInput(f) for f, _ in hits] + [XdpInput(f) for f, _ in misses]
    expect = [Expect(XdpAction.TX, tunnelled(f, TUNNELS[key]), f"tunnel to {TUNNELS[key][1]}")
              for f, key in hits] + [Expect(XdpAction.PASS, why=why) for _, why in misses]
    per_proto = {TCP: sum(1 for _, k in hits if k[2] == TCP), UDP: sum(1 for _, k in hits if k[2] == UDP)}

    def check_maps(maps) -> list[str]:
        return [f"rxcnt[{p}] = {fields(maps, 'rxcnt', u32(p))[0]}, expected {n}"
                for p, n in per_proto.items() if fields(maps, "rxcnt", u32(p))[0] != n]

    return Scenario(packets, expect, setup(), check_maps=check_maps)
