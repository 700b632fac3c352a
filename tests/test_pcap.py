"""Classic pcap files: what hxdp writes scapy reads, what scapy (or another
byte order or resolution) writes hxdp reads, and broken files are named."""

from __future__ import annotations

import struct

import pytest

from hxdp.errors import HxdpError
from hxdp.packets import mixed_frames, udp_frame
from hxdp.pcap import PcapRecord, read_pcap, write_pcap

scapy = pytest.importorskip("scapy.all")


def test_round_trip_and_scapy_reads_it(tmp_path):
    frames = mixed_frames()
    path = tmp_path / "t.pcap"
    assert write_pcap(path, frames) == len(frames)
    assert [r.data for r in read_pcap(path)] == frames
    read_back = scapy.rdpcap(str(path))
    assert [bytes(p) for p in read_back] == frames
    assert read_back[0].__class__ is scapy.Ether


def test_timestamps_survive_in_microseconds(tmp_path):
    path = tmp_path / "ts.pcap"
    write_pcap(path, [PcapRecord(bytes(60), 1700000000.25), PcapRecord(bytes(60), 1700000001.000007)])
    assert [r.timestamp for r in read_pcap(path)] == pytest.approx([1700000000.25, 1700000001.000007], abs=1e-6)
    assert [float(p.time) for p in scapy.rdpcap(str(path))] == pytest.approx([1700000000.25, 1700000001.000007],
                                                                            abs=1e-6)


def test_scapy_written_file_is_read(tmp_path):
    path = tmp_path / "s.pcap"
    sent = [scapy.Ether() / scapy.IP(dst="10.0.0.1") / scapy.UDP(dport=53) / b"q", scapy.Ether() / scapy.ARP()]
    scapy.wrpcap(str(path), sent)
    assert [r.data for r in read_pcap(path)] == [bytes(p) for p in sent]


def test_nanosecond_and_big_endian_files_are_read(tmp_path):
    frame = udp_frame("10.0.0.1", "10.0.0.2", 1, 2)
    for order, magic, frac, want in (("<", 0xA1B23C4D, 500_000_000, 7.5), (">", 0xA1B2C3D4, 250_000, 7.25)):
        path = tmp_path / f"{order}{magic:x}.pcap"
        path.write_bytes(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
                         + struct.pack(order + "IIII", 7, frac, len(frame), len(frame)) + frame)
        (record,) = read_pcap(path)
        assert record.data == frame and record.timestamp == pytest.approx(want)


def test_empty_file_has_no_records(tmp_path):
    path = tmp_path / "empty.pcap"
    assert write_pcap(path, []) == 0
    assert read_pcap(path) == []


@pytest.mark.parametrize("content, message", [
    (b"", "too short for a pcap file header"),
    (b"\x0a\x0d\x0d\x0a" + bytes(40), "not a pcap file .pcapng is not supported"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105), "link type 105, only Ethernet"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + bytes(10), "record 0 has a truncated header"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + struct.pack("<IIII", 0, 0, 60, 60) + bytes(59),
     "record 0 is cut short"),
])
def test_broken_files_are_named_with_the_problem(tmp_path, content, message):
    path = tmp_path / "broken.pcap"
    path.write_bytes(content)
    with pytest.raises(HxdpError, match=f"broken.pcap: {message}"):
        read_pcap(path)


def test_missing_and_unwritable_files_are_named(tmp_path):
    with pytest.raises(HxdpError, match="cannot read .*nowhere.pcap"):
        read_pcap(tmp_path / "nowhere.pcap")
    with pytest.raises(HxdpError, match="cannot write .*no-such-dir"):
        write_pcap(tmp_path / "no-such-dir" / "out.pcap", [bytes(60)])
