"""Building and taking apart the packets the examples and tests use.

Ethernet (with optional 802.1Q tag), IPv4 with its header checksum, IPv6,
UDP and TCP with pseudo-header checksums, ICMP, and IP-in-IP. Small on
purpose: enough to write traffic and expectations without scapy.
"""

from __future__ import annotations

import ipaddress
import struct

__all__ = ["ETH_P_IP", "ETH_P_IPV6", "ETH_P_8021Q", "IPPROTO_ICMP", "IPPROTO_IPIP", "IPPROTO_TCP",
           "IPPROTO_UDP", "IPPROTO_IPV6", "IPPROTO_ICMPV6", "mac", "ip4", "ip6", "checksum",
           "swap_macs", "ethernet", "ipv4", "ipv6", "udp", "tcp", "icmp", "udp4", "tcp4", "udp6",
           "ipv4_header_fields", "mixed_frames"]

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_ARP = 0x0806
IPPROTO_ICMP = 1
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ICMPV6 = 58

DEFAULT_SRC_MAC = "02:00:00:00:00:01"
DEFAULT_DST_MAC = "02:00:00:00:00:02"


def mac(text: str | bytes) -> bytes:
    """6 bytes from ``aa:bb:cc:dd:ee:ff``."""
    if isinstance(text, bytes):
        return text
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"{text!r} is not a MAC address")
    return raw


def ip4(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else ipaddress.IPv4Address(text).packed


def ip6(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else ipaddress.IPv6Address(text).packed


def checksum(data: bytes, start: int = 0) -> int:
    """The Internet checksum (RFC 1071) of ``data``, folded and complemented."""
    if len(data) % 2:
        data += b"\0"
    total = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def swap_macs(frame: bytes) -> bytes:
    """``frame`` with its destination and source MAC addresses exchanged."""
    return frame[6:12] + frame[0:6] + frame[12:]


def ethernet(payload: bytes, ethertype: int, dst: str | bytes = DEFAULT_DST_MAC,
             src: str | bytes = DEFAULT_SRC_MAC, vlan: int | None = None) -> bytes:
    header = mac(dst) + mac(src)
    if vlan is not None:
        header += struct.pack("!HH", ETH_P_8021Q, vlan & 0x0FFF)
    return header + struct.pack("!H", ethertype) + payload


def ipv4(src: str | bytes, dst: str | bytes, proto: int, payload: bytes, *, ttl: int = 64,
         ident: int = 0, tos: int = 0, df: bool = True) -> bytes:
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident,
                                   0x4000 if df else 0, ttl, proto, 0, ip4(src), ip4(dst)))
    struct.pack_into("!H", header, 10, checksum(bytes(header)))
    return bytes(header) + payload


def ipv4_header_fields(packet: bytes, offset: int = 14) -> dict[str, int | bytes]:
    """The fields of the IPv4 header at ``offset`` (for expectations)."""
    vihl, tos, total, ident, frag, ttl, proto, csum, src, dst = \
        struct.unpack_from("!BBHHHBBH4s4s", packet, offset)
    return dict(ihl=vihl & 0xF, tos=tos, total=total, ident=ident, frag=frag, ttl=ttl, proto=proto,
                checksum=csum, src=src, dst=dst)


def ipv6(src: str | bytes, dst: str | bytes, next_header: int, payload: bytes, *,
         hop_limit: int = 64) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), next_header, hop_limit,
                       ip6(src), ip6(dst)) + payload


def _l4_checksum(proto: int, segment: bytes, src: bytes, dst: bytes) -> int:
    if len(src) == 4:
        pseudo = struct.pack("!4s4sBBH", src, dst, 0, proto, len(segment))
    else:
        pseudo = struct.pack("!16s16sIxxxB", src, dst, len(segment), proto)
    return checksum(pseudo + segment)


def udp(sport: int, dport: int, payload: bytes, src: bytes, dst: bytes) -> bytes:
    seg = bytearray(struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)
    struct.pack_into("!H", seg, 6, _l4_checksum(IPPROTO_UDP, bytes(seg), src, dst) or 0xFFFF)
    return bytes(seg)


def tcp(sport: int, dport: int, payload: bytes, src: bytes, dst: bytes, *, flags: int = 0x10,
        seq: int = 1, ack: int = 0, window: int = 65535) -> bytes:
    seg = bytearray(struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0)
                    + payload)
    struct.pack_into("!H", seg, 16, _l4_checksum(IPPROTO_TCP, bytes(seg), src, dst))
    return bytes(seg)


def icmp(icmp_type: int, code: int, rest: bytes, payload: bytes = b"") -> bytes:
    msg = bytearray(struct.pack("!BBH", icmp_type, code, 0) + rest[:4].ljust(4, b"\0") + payload)
    struct.pack_into("!H", msg, 2, checksum(bytes(msg)))
    return bytes(msg)


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *, ttl: int = 64,
         smac: str | bytes = DEFAULT_SRC_MAC, dmac: str | bytes = DEFAULT_DST_MAC,
         vlan: int | None = None) -> bytes:
    """A whole Ethernet/IPv4/UDP frame."""
    s, d = ip4(src), ip4(dst)
    return ethernet(ipv4(s, d, IPPROTO_UDP, udp(sport, dport, payload, s, d), ttl=ttl),
                    ETH_P_IP, dmac, smac, vlan)


def tcp4(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *, flags: int = 0x10,
         ttl: int = 64, smac: str | bytes = DEFAULT_SRC_MAC, dmac: str | bytes = DEFAULT_DST_MAC,
         vlan: int | None = None) -> bytes:
    """A whole Ethernet/IPv4/TCP frame."""
    s, d = ip4(src), ip4(dst)
    return ethernet(ipv4(s, d, IPPROTO_TCP, tcp(sport, dport, payload, s, d, flags=flags), ttl=ttl),
                    ETH_P_IP, dmac, smac, vlan)


def udp6(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *,
         smac: str | bytes = DEFAULT_SRC_MAC, dmac: str | bytes = DEFAULT_DST_MAC,
         vlan: int | None = None) -> bytes:
    """A whole Ethernet/IPv6/UDP frame."""
    s, d = ip6(src), ip6(dst)
    return ethernet(ipv6(s, d, IPPROTO_UDP, udp(sport, dport, payload, s, d)), ETH_P_IPV6, dmac, smac, vlan)


def mixed_frames() -> list[bytes]:
    """A small mix of common frames: UDP, TCP, IPv6, ARP, a large UDP frame and
    a bare Ethernet header."""
    return [
        udp4("10.0.0.1", "10.0.0.2", 1000, 53, b"query"),
        tcp4("10.0.0.3", "10.0.0.4", 40000, 80, b"GET / HTTP/1.1\r\n", flags=0x18),
        udp6("2001:db8::1", "2001:db8::2", 5000, 6000, b"v6"),
        ethernet(bytes(28), ETH_P_ARP),
        udp4("192.168.1.1", "192.168.1.2", 1, 2, bytes(1400)),
        ethernet(b"", 0x88B5),
    ]
