"""Classic libpcap files (LINKTYPE_ETHERNET), read and written here.

These are the files Wireshark and tcpdump open; hxdp reads its input traffic
from them and writes the packets a program lets out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import HxdpError
from .files import read_bytes, write_file

__all__ = ["PcapRecord", "read_pcap", "write_pcap", "LINKTYPE_ETHERNET"]

LINKTYPE_ETHERNET = 1
MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
SNAPLEN = 65535


@dataclass(frozen=True)
class PcapRecord:
    data: bytes
    timestamp: float = 0.0
    orig_len: int | None = None


def read_pcap(path: Path) -> list[PcapRecord]:
    """Every frame of a pcap file; errors name the file and the record."""
    raw = read_bytes(path)
    if len(raw) < 24:
        raise HxdpError(f"{path}: too short for a pcap file header")
    for order in "<>":
        magic = struct.unpack_from(order + "I", raw)[0]
        if magic in (MAGIC_US, MAGIC_NS):
            break
    else:
        raise HxdpError(f"{path}: not a pcap file (pcapng is not supported: convert with "
                        "'editcap -F pcap in.pcapng out.pcap')")
    scale = 1e-9 if magic == MAGIC_NS else 1e-6
    linktype = struct.unpack_from(order + "I", raw, 20)[0]
    if linktype != LINKTYPE_ETHERNET:
        raise HxdpError(f"{path}: link type {linktype}, only Ethernet (1) is supported")
    records, pos, n = [], 24, 0
    while pos < len(raw):
        if pos + 16 > len(raw):
            raise HxdpError(f"{path}: record {n} has a truncated header")
        sec, frac, incl, orig = struct.unpack_from(order + "IIII", raw, pos)
        pos += 16
        if pos + incl > len(raw):
            raise HxdpError(f"{path}: record {n} is cut short ({incl} bytes announced)")
        records.append(PcapRecord(raw[pos:pos + incl], sec + frac * scale, orig))
        pos += incl
        n += 1
    return records


def write_pcap(path: Path, frames: Iterable[bytes | PcapRecord]) -> int:
    """Write frames (microsecond timestamps); returns how many."""
    out = bytearray(struct.pack("<IHHiIII", MAGIC_US, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
    count = 0
    for i, frame in enumerate(frames):
        rec = frame if isinstance(frame, PcapRecord) else PcapRecord(frame, i * 1e-6)
        sec = int(rec.timestamp)
        usec = int(round((rec.timestamp - sec) * 1e6))
        out += struct.pack("<IIII", sec, usec, len(rec.data), rec.orig_len or len(rec.data)) + rec.data
        count += 1
    write_file(path, bytes(out))
    return count
