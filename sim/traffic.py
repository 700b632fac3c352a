"""Synthetic traffic for throughput and soak runs: UDP packets over many
flows, each packet numbered in its payload so that losses, duplicates and
reordering within a flow show."""

from __future__ import annotations

import random
import struct
from typing import Iterable

from ..ebpf.runtime import MAX_PACKET
from ..ebpf.xdp import XdpInput
from ..errors import HxdpError
from ..packets import udp_frame

__all__ = ["flow_traffic", "sequence_of", "out_of_order", "SEQUENCE"]

SEQUENCE = struct.Struct("!IQ")       # the flow's number and the packet's number in the whole run
_UDP_PAYLOAD_AT = 14 + 20 + 8
SMALLEST_FRAME = _UDP_PAYLOAD_AT + SEQUENCE.size


def flow_traffic(count: int, *, flows: int = 256, sizes: tuple[int, int] = (60, 60), ingress: int = 1,
                 seed: int = 0) -> list[XdpInput]:
    """``count`` UDP frames of ``flows`` random flows (random addresses and
    ports), each of a size in ``sizes`` (bytes before the FCS; 60 is a
    64-byte frame), from ``ingress``."""
    if flows < 1 or count < 0:
        raise HxdpError(f"generated traffic: {count} packets of {flows} flows; give at least one flow "
                        "and no fewer than 0 packets")
    if not SMALLEST_FRAME <= sizes[0] <= sizes[1] <= MAX_PACKET:
        raise HxdpError(f"generated traffic: frame sizes {sizes[0]}:{sizes[1]}; give sizes from {SMALLEST_FRAME} "
                        f"(the headers and the packet's numbers) to {MAX_PACKET} bytes (an XDP frame's most)")
    rng = random.Random(seed)
    tuples = [(f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
               f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}", rng.randrange(1024, 65536),
               rng.choice((53, 80, 443, 4789))) for _ in range(flows)]
    out = []
    for n in range(count):
        flow = rng.randrange(flows)
        size = rng.randint(*sizes)
        payload = SEQUENCE.pack(flow, n)
        payload += bytes(size - SMALLEST_FRAME)
        out.append(XdpInput(udp_frame(*tuples[flow], payload), ingress))
    return out


def sequence_of(frame: bytes) -> tuple[int, int]:
    """The flow and packet numbers `flow_traffic` put in ``frame``."""
    return SEQUENCE.unpack_from(frame, _UDP_PAYLOAD_AT)


def out_of_order(frames: Iterable[bytes]) -> tuple[int, int] | None:
    """The flow and packet numbers of the first of ``frames`` (`flow_traffic`'s,
    in the order they left) that left after a later packet of its flow; None
    when every flow kept its order."""
    last: dict[int, int] = {}
    for flow, number in map(sequence_of, frames):
        if number < last.get(flow, -1):
            return flow, number
        last[flow] = number
    return None
