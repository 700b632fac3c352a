"""Building and taking apart the packets the examples and tests use.

Ethernet (with 802.1Q tags), IPv4 (options too) with its header checksum,
IPv6, UDP and TCP with pseudo-header checksums, ICMP, and IP-in-IP; IPv4
headers are also parsed back, for expectations derived from input packets.
Small on purpose: enough to write traffic and expectations without scapy.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, replace

from .ebpf.xdp import ETH_HLEN
from .errors import HxdpError

__all__ = ["ETH_P_IP", "ETH_P_IPV6", "ETH_P_8021Q", "ETH_P_ARP", "IPPROTO_ICMP", "IPPROTO_IPIP",
           "IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_IPV6", "IPPROTO_ICMPV6", "ETH_HLEN", "IPV4_HLEN",
           "mac", "ip4", "ip6", "ip_addr", "checksum", "swap_macs", "ethernet", "l3_offset", "Ipv4Header",
           "with_ipv4_options", "ipv4", "ipv6", "udp", "tcp", "icmp", "udp_frame", "tcp_frame",
           "mixed_frames"]

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
VLAN_HLEN = 4
IPV4_HLEN = 20
IP_DF = 0x4000

DEFAULT_SRC_MAC = "02:00:00:00:00:01"
DEFAULT_DST_MAC = "02:00:00:00:00:02"

Mac = str | bytes
Addr = str | bytes


def mac(text: Mac) -> bytes:
    """6 bytes from ``aa:bb:cc:dd:ee:ff``."""
    if isinstance(text, bytes):
        return text
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"{text!r} is not a MAC address")
    return raw


def ip4(text: Addr) -> bytes:
    return text if isinstance(text, bytes) else ipaddress.IPv4Address(text).packed


def ip6(text: Addr) -> bytes:
    return text if isinstance(text, bytes) else ipaddress.IPv6Address(text).packed


def ip_addr(text: Addr) -> bytes:
    """4 or 16 bytes, whichever family ``text`` is written in."""
    return text if isinstance(text, bytes) else ipaddress.ip_address(text).packed


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


Vlan = int | tuple[int, ...] | None


def ethernet(payload: bytes, ethertype: int, dst: Mac = DEFAULT_DST_MAC, src: Mac = DEFAULT_SRC_MAC,
             vlan: Vlan = None) -> bytes:
    """An Ethernet frame; ``vlan`` is one 802.1Q VLAN id or a stack of them, outermost first."""
    header = mac(dst) + mac(src)
    for vid in (vlan,) if isinstance(vlan, int) else vlan or ():
        header += struct.pack("!HH", ETH_P_8021Q, vid & 0x0FFF)
    return header + struct.pack("!H", ethertype) + payload


def l3_offset(frame: bytes) -> int:
    """Where the network header starts: after Ethernet and any 802.1Q tags."""
    offset = ETH_HLEN
    while frame[offset - 2:offset] == ETH_P_8021Q.to_bytes(2, "big"):
        offset += VLAN_HLEN
    return offset


_IPV4 = struct.Struct("!BBHHHBBH4s4s")


@dataclass(frozen=True)
class Ipv4Header:
    """An IPv4 header; `pack` computes the checksum. ``options`` (a multiple
    of 4 bytes) make the header longer than 20 bytes."""
    src: bytes
    dst: bytes
    proto: int
    total_length: int
    ttl: int = 64
    ident: int = 0
    tos: int = 0
    frag: int = IP_DF
    options: bytes = b""

    @classmethod
    def parse(cls, packet: bytes, offset: int = ETH_HLEN) -> Ipv4Header:
        if len(packet) < offset + IPV4_HLEN:
            raise HxdpError(f"packet of {len(packet)} bytes has no IPv4 header at offset {offset}")
        vihl, tos, total, ident, frag, ttl, proto, _, src, dst = _IPV4.unpack_from(packet, offset)
        length = (vihl & 0xF) * 4
        if vihl >> 4 != 4 or length < IPV4_HLEN or len(packet) < offset + length:
            raise HxdpError(f"packet has version/IHL byte {vihl:#04x} at offset {offset}, "
                            f"not a whole IPv4 header")
        return cls(src, dst, proto, total, ttl, ident, tos, frag,
                   packet[offset + IPV4_HLEN:offset + length])

    @property
    def length(self) -> int:
        return IPV4_HLEN + len(self.options)

    def pack(self) -> bytes:
        if len(self.options) % 4 or self.length > 60:
            raise ValueError(f"IPv4 options of {len(self.options)} bytes: give up to 40, a multiple of 4")
        header = bytearray(_IPV4.pack(0x40 | self.length // 4, self.tos, self.total_length, self.ident,
                                      self.frag, self.ttl, self.proto, 0, self.src, self.dst) + self.options)
        struct.pack_into("!H", header, 10, checksum(bytes(header)))
        return bytes(header)

    def forwarded(self) -> Ipv4Header:
        """The header one router hop later."""
        return replace(self, ttl=self.ttl - 1)


def with_ipv4_options(frame: bytes, options: bytes = b"\x01\x01\x01\x00") -> bytes:
    """``frame`` with ``options`` (default: two no-ops and an end of list) added
    to its IPv4 header; the rest of the packet is unchanged."""
    l3 = l3_offset(frame)
    header = Ipv4Header.parse(frame, l3)
    longer = replace(header, options=header.options + options,
                     total_length=header.total_length + len(options))
    return frame[:l3] + longer.pack() + frame[l3 + header.length:]


def ipv4(src: Addr, dst: Addr, proto: int, payload: bytes, *, ttl: int = 64, ident: int = 0,
         tos: int = 0, df: bool = True) -> bytes:
    header = Ipv4Header(ip4(src), ip4(dst), proto, IPV4_HLEN + len(payload), ttl, ident, tos,
                        IP_DF if df else 0)
    return header.pack() + payload


def ipv6(src: Addr, dst: Addr, next_header: int, payload: bytes, *, hop_limit: int = 64) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), next_header, hop_limit,
                       ip6(src), ip6(dst)) + payload


def _l4_checksum(proto: int, segment: bytes, src: bytes, dst: bytes) -> int:
    if len(src) == 4:
        pseudo = struct.pack("!4s4sBBH", src, dst, 0, proto, len(segment))
    else:
        pseudo = struct.pack("!16s16sIxxxB", src, dst, len(segment), proto)
    return checksum(pseudo + segment)


def udp(sport: int, dport: int, payload: bytes, src: bytes, dst: bytes) -> bytes:
    """A UDP datagram; ``src``/``dst`` (4 or 16 bytes) feed the pseudo-header."""
    seg = bytearray(struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)
    struct.pack_into("!H", seg, 6, _l4_checksum(IPPROTO_UDP, bytes(seg), src, dst) or 0xFFFF)
    return bytes(seg)


def tcp(sport: int, dport: int, payload: bytes, src: bytes, dst: bytes, *, flags: int = 0x10,
        seq: int = 1, ack: int = 0, window: int = 65535) -> bytes:
    """A TCP segment without options; ``src``/``dst`` feed the pseudo-header."""
    seg = bytearray(struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0)
                    + payload)
    struct.pack_into("!H", seg, 16, _l4_checksum(IPPROTO_TCP, bytes(seg), src, dst))
    return bytes(seg)


def icmp(icmp_type: int, code: int, rest: bytes, payload: bytes = b"") -> bytes:
    """An ICMP message; ``rest`` is the 4 bytes after the checksum."""
    msg = bytearray(struct.pack("!BBH", icmp_type, code, 0) + rest[:4].ljust(4, b"\0") + payload)
    struct.pack_into("!H", msg, 2, checksum(bytes(msg)))
    return bytes(msg)


def _ip_frame(src: Addr, dst: Addr, proto: int, segment: bytes, ttl: int, smac: Mac, dmac: Mac,
              vlan: Vlan) -> bytes:
    s, d = ip_addr(src), ip_addr(dst)
    if len(s) == 4:
        return ethernet(ipv4(s, d, proto, segment, ttl=ttl), ETH_P_IP, dmac, smac, vlan)
    return ethernet(ipv6(s, d, proto, segment, hop_limit=ttl), ETH_P_IPV6, dmac, smac, vlan)


def udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *, ttl: int = 64,
              smac: Mac = DEFAULT_SRC_MAC, dmac: Mac = DEFAULT_DST_MAC, vlan: Vlan = None) -> bytes:
    """A whole Ethernet/IP/UDP frame, IPv4 or IPv6 as the addresses are written."""
    s, d = ip_addr(src), ip_addr(dst)
    return _ip_frame(s, d, IPPROTO_UDP, udp(sport, dport, payload, s, d), ttl, smac, dmac, vlan)


def tcp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *, flags: int = 0x10,
              ttl: int = 64, smac: Mac = DEFAULT_SRC_MAC, dmac: Mac = DEFAULT_DST_MAC,
              vlan: Vlan = None) -> bytes:
    """A whole Ethernet/IP/TCP frame, IPv4 or IPv6 as the addresses are written."""
    s, d = ip_addr(src), ip_addr(dst)
    return _ip_frame(s, d, IPPROTO_TCP, tcp(sport, dport, payload, s, d, flags=flags), ttl, smac, dmac,
                     vlan)


def mixed_frames() -> list[bytes]:
    """A mix of common frames for programs that treat every frame alike:
    UDP, TCP, ICMP, IPv6, VLAN-tagged, IP-in-IP, ARP, minimum and maximum
    sized frames, and a bare Ethernet header."""
    echo = icmp(8, 0, b"\x00\x01\x00\x01", b"ping")
    inner = ipv4("10.9.0.1", "10.9.0.2", IPPROTO_UDP, udp(1, 2, b"in", ip4("10.9.0.1"), ip4("10.9.0.2")))
    return [
        udp_frame("10.0.0.1", "10.0.0.2", 1000, 53, b"query"),
        tcp_frame("10.0.0.3", "10.0.0.4", 40000, 80, b"GET / HTTP/1.1\r\n", flags=0x18),
        tcp_frame("10.0.0.3", "10.0.0.4", 40001, 443, flags=0x02),
        ethernet(ipv4("10.0.0.5", "10.0.0.6", IPPROTO_ICMP, echo), ETH_P_IP),
        udp_frame("2001:db8::1", "2001:db8::2", 5000, 6000, b"v6"),
        tcp_frame("2001:db8::3", "2001:db8::4", 5001, 22, flags=0x02),
        udp_frame("10.0.0.7", "10.0.0.8", 123, 123, b"ntp", vlan=42),
        ethernet(ipv4("192.0.2.1", "192.0.2.2", IPPROTO_IPIP, inner, df=False), ETH_P_IP),
        ethernet(bytes(28), ETH_P_ARP),
        ethernet(bytes(46), 0x88B5),                                          # 60-byte minimum
        udp_frame("192.168.1.1", "192.168.1.2", 1, 2, bytes(1472)),           # 1514-byte maximum
        ethernet(b"", 0x88B5),                                                # header only
    ]
