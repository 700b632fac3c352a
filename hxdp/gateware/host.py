"""What a host does with the engine, whatever simulates it (Amaranth's
simulator, Verilator, cocotb): the jobs it runs, the bus writes that load a
program, the beats a packet is sent as, and the counters it reads back.

One definition here keeps every backend loading programs and framing
packets the same way as docs/engine.md describes.
"""

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from ..errors import HxdpError
from ..image import Image
from ..target import MAX_CYCLES, Target, encode_row
from .core import Fault
from .decode import supported
from .engine import row_words
from .registers import ADDR, CTRL_CONFORMANCE, CTRL_ENABLE, IMEM_DATA_BASE, REGISTERS, Access

__all__ = ["Packet", "Outcome", "Job", "BusWrite", "load_writes", "beats", "COUNTERS", "check_supported"]


@dataclass
class Packet:
    data: bytes
    port: int = 0
    queue: int = 0


@dataclass
class Outcome:
    action: int
    cycles: int
    fault: Fault
    packet: bytes | None          # the bytes sent on tx, if it sent any


@dataclass
class Job:
    """A program and the packets (or conformance memories) to run it on."""
    image: Image
    packets: Sequence[Packet]
    conformance: bool = False
    max_cycles: int = MAX_CYCLES
    outcomes: list[Outcome] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)   # the status registers after it


class BusWrite(NamedTuple):
    addr: int
    value: int


# The read-only registers a job reads back when its packets are done.
COUNTERS: tuple[str, ...] = tuple(r.name for r in REGISTERS if r.access is Access.RO)


def load_writes(target: Target, job: Job) -> list[BusWrite]:
    """The control-bus writes that load ``job``'s program and start the
    engine in its mode: stop, stream the rows in, set the row count and the
    watchdog, start."""
    rows = job.image.rows
    if len(rows) > target.imem_rows:
        raise HxdpError(f"{job.image.name}: {len(rows)} rows do not fit the engine's "
                        f"{target.imem_rows}-row instruction memory")
    if not 0 < job.max_cycles < 1 << 32:
        raise HxdpError(f"max_cycles {job.max_cycles} does not fit the 32-bit MAX_CYCLES register")
    words = row_words(target)
    writes = [BusWrite(ADDR["CTRL"], 0), BusWrite(ADDR["IMEM_ROW"], 0)]
    for row in rows:
        bits = encode_row(row, target.lanes)
        writes += [BusWrite(IMEM_DATA_BASE + i, bits >> (32 * i) & 0xFFFF_FFFF) for i in range(words)]
        writes.append(BusWrite(ADDR["IMEM_COMMIT"], 0))
    writes += [BusWrite(ADDR["PROGRAM_ROWS"], len(rows)), BusWrite(ADDR["MAX_CYCLES"], job.max_cycles),
               BusWrite(ADDR["CTRL"], CTRL_ENABLE | (CTRL_CONFORMANCE if job.conformance else 0))]
    return writes


def beats(data: bytes, frame_bytes: int) -> list[bytes]:
    """A packet's bytes as ``rx`` beats, one frame each; an empty packet is
    one beat with no bytes kept (its ``last`` still ends it)."""
    return [data[i:i + frame_bytes] for i in range(0, len(data), frame_bytes)] or [b""]


def check_supported(image: Image) -> None:
    """Refuse, before it runs, a program using operations the gateware does
    not run yet: it would only end in an UNSUPPORTED fault."""
    missing = sorted({s.op.name.lower() for row in image.rows for s in row if not supported(s.op)})
    if missing:
        raise HxdpError(f"{image.name}: the gateware does not run {', '.join(missing)} yet "
                        "(helper calls and map references need the helper unit and map memories); "
                        "run it on the model (--engine model)")
