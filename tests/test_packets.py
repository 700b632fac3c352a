"""The packet builder, checked with scapy as an independent parser and builder."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from hxdp.errors import HxdpError
from hxdp.packets import (ETH_P_IP, IPPROTO_ICMP, IPPROTO_IPIP, Ipv4Header, checksum, ethernet, icmp, ip4, ipv4,
                          l3_offset, mixed_frames, swap_macs, tcp_frame, udp_frame, with_ipv4_options)

scapy = pytest.importorskip("scapy.all")


def _recomputed(frame: bytes) -> bytes:
    """``frame`` rebuilt by scapy with every checksum it knows recomputed."""
    pkt = scapy.Ether(frame)
    layer = pkt
    while layer and not isinstance(layer, scapy.NoPayload):
        if isinstance(layer, (scapy.IP, scapy.TCP, scapy.UDP, scapy.ICMP)):
            del layer.chksum
        layer = layer.payload
    return bytes(pkt)


@given(st.integers(1, 65535), st.integers(1, 65535), st.binary(max_size=64), st.integers(1, 255))
def test_udp4_matches_scapy(sport, dport, payload, ttl):
    frame = udp_frame("10.1.2.3", "192.168.0.9", sport, dport, payload, ttl=ttl)
    built = (scapy.Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
             / scapy.IP(src="10.1.2.3", dst="192.168.0.9", ttl=ttl, id=0, flags="DF")
             / scapy.UDP(sport=sport, dport=dport) / payload)
    assert frame == bytes(built)


@given(st.integers(0, 255), st.binary(max_size=40), st.sampled_from(["10.0.0.1", "2001:db8::1"]))
def test_tcp_matches_scapy_in_both_families(flags, payload, src):
    dst = "10.0.0.2" if ":" not in src else "2001:db8::2"
    frame = tcp_frame(src, dst, 1234, 80, payload, flags=flags)
    ip = scapy.IP(src=src, dst=dst, id=0, flags="DF") if ":" not in src else scapy.IPv6(src=src, dst=dst)
    built = (scapy.Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / ip
             / scapy.TCP(sport=1234, dport=80, seq=1, ack=0, flags=flags, window=65535) / payload)
    assert frame == bytes(built)


def test_udp6_checksum_matches_scapy():
    frame = udp_frame("2001:db8::1", "2001:db8::2", 53, 53, b"v6")
    assert scapy.Ether(frame)[scapy.IPv6].nh == 17
    assert _recomputed(frame) == frame


def test_vlan_stacks_match_scapy():
    frame = udp_frame("10.0.0.1", "10.0.0.2", 1, 2, vlan=(100, 200))
    pkt = scapy.Ether(frame)
    assert [pkt[scapy.Dot1Q].vlan, pkt[scapy.Dot1Q].payload.vlan] == [100, 200]
    assert pkt[scapy.UDP].dport == 2
    assert l3_offset(frame) == 22 and l3_offset(udp_frame("10.0.0.1", "10.0.0.2", 1, 2)) == 14


def test_icmp_and_ip_in_ip_match_scapy():
    inner = ipv4("10.9.0.1", "10.9.0.2", IPPROTO_ICMP, icmp(8, 0, b"\x00\x07\x00\x01", b"ping"))
    frame = ethernet(ipv4("192.0.2.1", "192.0.2.2", IPPROTO_IPIP, inner, df=False), ETH_P_IP)
    pkt = scapy.Ether(frame)
    assert pkt[scapy.IP].proto == 4 and pkt[scapy.IP].payload[scapy.ICMP].id == 7
    assert _recomputed(frame) == frame


def test_ipv4_header_parses_what_it_packs_and_forwards():
    frame = udp_frame("10.0.0.1", "10.0.0.2", 1, 2, b"x", ttl=9)
    header = Ipv4Header.parse(frame)
    assert (header.src, header.dst, header.ttl, header.total_length) == (ip4("10.0.0.1"), ip4("10.0.0.2"), 9, 29)
    assert header.pack() == frame[14:34]
    hop = header.forwarded().pack()
    assert scapy.IP(hop + frame[34:]).ttl == 8
    assert checksum(hop) == 0


def test_ipv4_options_are_added_whole():
    frame = with_ipv4_options(tcp_frame("10.0.0.1", "10.0.0.2", 5, 6, b"data"))
    pkt = scapy.Ether(frame)
    assert pkt[scapy.IP].ihl == 6 and pkt[scapy.IP].len == 20 + 4 + 20 + 4
    assert bytes(pkt[scapy.TCP].payload) == b"data"
    assert _recomputed(frame) == frame
    assert Ipv4Header.parse(frame).options == b"\x01\x01\x01\x00"


def test_ipv4_header_refuses_what_is_not_one():
    with pytest.raises(HxdpError, match="no IPv4 header"):
        Ipv4Header.parse(bytes(20))
    with pytest.raises(HxdpError, match="not a whole IPv4 header"):
        Ipv4Header.parse(udp_frame("2001:db8::1", "2001:db8::2", 1, 2))


def test_checksum_of_rfc1071_example():
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF


@given(st.binary(min_size=2, max_size=200).filter(lambda b: len(b) % 2 == 0))
def test_checksum_verifies_to_zero(data):
    """A block with its own checksum appended sums to zero, as receivers check."""
    assert checksum(data + struct.pack("!H", checksum(data))) == 0


def test_swap_macs_exchanges_the_addresses():
    frame = udp_frame("10.0.0.1", "10.0.0.2", 1, 2, smac="02:00:00:00:00:aa", dmac="02:00:00:00:00:bb")
    swapped = scapy.Ether(swap_macs(frame))
    assert (swapped.src, swapped.dst) == ("02:00:00:00:00:bb", "02:00:00:00:00:aa")


def test_mixed_frames_are_well_formed():
    frames = mixed_frames()
    assert len(frames) >= 10 and len(set(frames)) == len(frames)
    assert min(map(len, frames)) == 14 and max(map(len, frames)) == 1514
    for frame in frames:
        assert _recomputed(frame) == frame, scapy.Ether(frame).summary()
