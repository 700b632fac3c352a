"""The packet builder and pcap files, checked with scapy as an independent parser."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from hxdp.errors import HxdpError
from hxdp.packets import checksum, tcp_frame, udp_frame
from hxdp.pcap import PcapRecord, read_pcap, write_pcap

scapy_all = pytest.importorskip("scapy.all")


@given(st.integers(1, 65535), st.integers(1, 65535), st.binary(max_size=64), st.integers(1, 255))
def test_udp4_checksums_match_scapy(sport, dport, payload, ttl):
    frame = udp_frame("10.1.2.3", "192.168.0.9", sport, dport, payload, ttl=ttl)
    parsed = scapy_all.Ether(frame)
    rebuilt = scapy_all.Ether(parsed.build())
    del rebuilt["IP"].chksum, rebuilt["UDP"].chksum
    assert bytes(rebuilt) == frame


def test_tcp_and_ipv6_checksums_match_scapy():
    for frame in (tcp_frame("1.2.3.4", "5.6.7.8", 80, 9000, b"data", flags=0x18),
                  udp_frame("2001:db8::1", "2001:db8::2", 53, 53, b"v6")):
        again = scapy_all.Ether(frame)
        for layer in ("IP", "TCP", "UDP"):
            if layer in again:
                del again[layer].chksum
        assert bytes(scapy_all.Ether(bytes(again))) == frame


def test_checksum_of_rfc1071_example():
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF


def test_pcap_round_trip_and_scapy_reads_it(tmp_path):
    frames = [udp_frame("10.0.0.1", "10.0.0.2", 1, 2, bytes(n)) for n in (0, 10, 1000)]
    path = tmp_path / "t.pcap"
    assert write_pcap(path, frames) == 3
    assert [r.data for r in read_pcap(path)] == frames
    assert [bytes(p) for p in scapy_all.rdpcap(str(path))] == frames


def test_pcap_written_by_scapy_is_read(tmp_path):
    path = tmp_path / "s.pcap"
    scapy_all.wrpcap(str(path), [scapy_all.Ether() / scapy_all.IP() / scapy_all.UDP()])
    assert len(read_pcap(path)) == 1


def test_bad_pcaps_name_the_file(tmp_path):
    path = tmp_path / "bad.pcap"
    path.write_bytes(b"not a pcap file at all, no")
    with pytest.raises(HxdpError, match="bad.pcap: not a pcap"):
        read_pcap(path)
    write_pcap(path, [PcapRecord(bytes(60))])
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(HxdpError, match="record 0 is cut short"):
        read_pcap(path)
