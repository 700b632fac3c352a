"""When packets arrive from an Ethernet line: each frame takes its bytes,
its frame check sequence, preamble and start delimiter and the inter-frame
gap on the wire, and is whole in the ingress FIFO when its last bit is in."""

from __future__ import annotations

import enum
from fractions import Fraction
from typing import Sequence

__all__ = ["DEFAULT_FIFO_BYTES", "LineRate", "MIN_FRAME", "FCS", "PREAMBLE", "IFG", "wire_bytes", "arrivals"]

MIN_FRAME = 60          # bytes before the FCS; shorter frames are padded
FCS = 4
PREAMBLE = 8            # preamble and start-of-frame delimiter
IFG = 12                # the inter-frame gap
# The ingress FIFO in front of the engine when packets come from a line:
# sixteen 1 KiB block RAMs' worth.
DEFAULT_FIFO_BYTES = 16384


class LineRate(enum.Enum):
    """The line packets come in on; ``max`` offers every packet at once and
    lets the engine take them as fast as it can (the source waits)."""
    MAX = "max"
    GBE1 = "1g"
    GBE10 = "10g"
    GBE25 = "25g"

    @property
    def gbps(self) -> int | None:
        return None if self is LineRate.MAX else int(self.value[:-1])

    def line_mpps(self, length: int) -> float | None:
        """Packets a second (millions) the line carries at ``length`` bytes."""
        return None if self.gbps is None else self.gbps * 1e3 / (8 * wire_bytes(length))


def wire_bytes(length: int) -> int:
    """The bytes a frame of ``length`` (without FCS) takes on the wire, gap included."""
    return max(length, MIN_FRAME) + FCS + PREAMBLE + IFG


def arrivals(lengths: Sequence[int], rate: LineRate, clock_mhz: float) -> list[int]:
    """The cycle each frame is whole in the FIFO, the frames back to back on
    the line from cycle 0."""
    if rate.gbps is None:
        return [0] * len(lengths)
    cycles_per_bit = Fraction(str(clock_mhz)) / (1000 * rate.gbps)
    out, bits = [], 0
    for length in lengths:
        last_bit = bits + 8 * (wire_bytes(length) - IFG)
        out.append(-(-last_bit * cycles_per_bit.numerator // cycles_per_bit.denominator))
        bits += 8 * wire_bytes(length)
    return out
