"""What a host does with the engine, whatever simulates it (Amaranth's
simulator, Verilator, cocotb): the jobs it runs, the bus writes that load a
program, the beats a packet is sent as, and the counters it reads back.

One definition here keeps every backend loading programs and framing
packets the same way as docs/engine.md describes.
"""

from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

from ..ebpf.interp import CONFORMANCE_IDENTITY
from ..ebpf.kernel_helpers import helper_name
from ..ebpf.program import Program
from ..ebpf.xdp import MapEntry
from ..errors import HxdpError
from ..image import Image
from ..maplayout import CLOCK_BYTES, MapPlacement, map_image, map_layout, restore_map, use_clock, used_entries
from ..target import MAX_CYCLES, Op, Target, encode_row
from .core import Fault
from .engine import row_words
from .helper import HELPERS_IN_HARDWARE
from .maptable import map_entry
from .registers import (ADDR, CTRL_CONFORMANCE, CTRL_ENABLE, IMEM_DATA_BASE, MAP_FLAG_LPM, MAP_FLAG_LRU,
                        MAP_FLAG_READONLY, REGISTERS, Access)

__all__ = ["Packet", "Outcome", "Job", "BusWrite", "BusRead", "load_writes", "map_reads", "map_area_bytes",
           "readback_steps", "take_readback", "maps_from_runtime", "maps_to_runtime", "starting_maps",
           "beats", "COUNTERS", "check_supported"]


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
    egress: int = 0               # the ifindex of the last redirect helper


@dataclass
class Job:
    """A program and the packets (or conformance memories) to run it on."""
    image: Image
    packets: Sequence[Packet]
    conformance: bool = False
    max_cycles: int = MAX_CYCLES
    # Each map's area of the map memory before the first packet, by name
    # (`maplayout.map_image`); a map not named starts as the image defines it.
    maps: dict[str, bytes] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)   # the status registers after it
    final_maps: dict[str, bytes] = field(default_factory=dict)   # each map's area after it


class BusWrite(NamedTuple):
    addr: int
    value: int


class BusRead(NamedTuple):
    addr: int


# The read-only registers a job reads back when its packets are done.
COUNTERS: tuple[str, ...] = tuple(r.name for r in REGISTERS
                                  if r.access is Access.RO and not r.name.startswith("MAP_"))


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
    writes += _map_writes(target, job)
    writes += [BusWrite(ADDR["PROGRAM_ROWS"], len(rows)), BusWrite(ADDR["MAX_CYCLES"], job.max_cycles),
               BusWrite(ADDR["CTRL"], CTRL_ENABLE | (CTRL_CONFORMANCE if job.conformance else 0))]
    return writes


def _map_writes(target: Target, job: Job) -> list[BusWrite]:
    """The map table of ``job``'s program, and every map's first contents
    (written while no packet runs, so no MAP_WRITE waits)."""
    placed = map_layout(job.image.name, job.image.maps, target)
    writes = [BusWrite(ADDR["MAP_COUNT"], 0)]
    staged: dict[str, int | None] = {"MAP_WDATA_LO": None, "MAP_WDATA_HI": None}   # skip repeats
    for p in placed:
        image = job.maps.get(p.map.name) or map_image(p)
        if len(image) != p.area:
            raise HxdpError(f"map {p.map.name}: {len(image)} bytes given for its {p.area}-byte area")
        e = map_entry(p, image)
        flags = (e["kind"] | MAP_FLAG_READONLY * e["readonly"] | MAP_FLAG_LRU * e["lru"] |
                 MAP_FLAG_LPM * e["lpm"])
        fields = {"MAP_SLOT": p.index, "MAP_OFFSET": e["offset"], "MAP_BYTES": e["size"],
                  "MAP_KEY_SIZE": e["key_size"], "MAP_VALUE_SIZE": e["value_size"], "MAP_ENTRIES": e["entries"],
                  "MAP_FLAGS": flags, "MAP_KEYS": e["keys"], "MAP_SHAPE": e["slot_bits"] | e["record_bits"] << 8,
                  "MAP_USED": used_entries(p, image), "MAP_CLOCK": use_clock(p, image),
                  "MAP_LENGTHS_LO": e["lengths"] & 0xFFFF_FFFF, "MAP_LENGTHS_HI": e["lengths"] >> 32,
                  "MAP_CPU_STRIDE": e["cpu_stride"],
                  "MAP_ADDR": p.offset}
        writes += [BusWrite(ADDR[name], value) for name, value in fields.items()]
        for i in range(0, len(image), 8):
            word = int.from_bytes(image[i:i + 8], "little")
            for name, half in (("MAP_WDATA_LO", word & 0xFFFF_FFFF), ("MAP_WDATA_HI", word >> 32)):
                if staged[name] != half:
                    writes.append(BusWrite(ADDR[name], half))
                    staged[name] = half
            writes.append(BusWrite(ADDR["MAP_WRITE"], 0))
    writes.append(BusWrite(ADDR["MAP_COUNT"], len(placed)))
    return writes


def map_reads(p: MapPlacement) -> list[BusWrite | BusRead]:
    """The bus steps that read map ``p``'s area while no packet runs (so no
    MAP_READ waits): the reads' results, in order, are what `map_area_bytes`
    takes."""
    steps: list[BusWrite | BusRead] = [BusWrite(ADDR["MAP_ADDR"], p.offset)]
    for _ in range(p.area // 8):
        steps += [BusWrite(ADDR["MAP_READ"], 0), BusRead(ADDR["MAP_RDATA_LO"]), BusRead(ADDR["MAP_RDATA_HI"])]
    if p.lru:
        steps += [BusWrite(ADDR["MAP_SLOT"], p.index), BusRead(ADDR["MAP_CLOCK"])]
    return steps


def map_area_bytes(p: MapPlacement, reads: list[int]) -> bytes:
    """The area, with an LRU map's use clock in its first word (the engine
    keeps it in MAP_CLOCK)."""
    area = b"".join(v.to_bytes(4, "little") for v in reads[:p.area // 4])
    if p.lru:
        area = reads[-1].to_bytes(CLOCK_BYTES, "little") + area[CLOCK_BYTES:]
    return area


def readback_steps(target: Target, job: Job) -> list[BusWrite | BusRead]:
    """The bus steps that read back what a job left, once its packets are
    done: the counters, then every map's area (`take_readback` takes the
    reads' results)."""
    steps: list[BusWrite | BusRead] = [BusRead(ADDR[name]) for name in COUNTERS]
    for p in map_layout(job.image.name, job.image.maps, target):
        steps += map_reads(p)
    return steps


def take_readback(target: Target, job: Job, reads: list[int]) -> None:
    """Fill ``job.counters`` and ``job.final_maps`` from the results of the
    reads of `readback_steps`, in order."""
    job.counters.update(zip(COUNTERS, reads))
    reads = reads[len(COUNTERS):]
    for p in map_layout(job.image.name, job.image.maps, target):
        count = sum(isinstance(step, BusRead) for step in map_reads(p))
        job.final_maps[p.map.name] = map_area_bytes(p, reads[:count])
        reads = reads[count:]


def maps_from_runtime(target: Target, image: Image, maps) -> dict[str, bytes]:
    """Each of ``image``'s map areas holding what the runtime's maps
    (an interpreter's `MapSet`) hold: a `Job`'s ``maps``."""
    return {p.map.name: map_image(p, maps[p.map.name]) for p in map_layout(image.name, image.maps, target)}


def starting_maps(target: Target, image: Image, program: Program, setup: Iterable[MapEntry]) -> dict[str, bytes]:
    """Each of ``image``'s map areas holding what ``program``'s maps hold
    once ``setup`` is installed: the maps a board starts or loads with."""
    from ..ebpf.runtime import XdpRuntime
    runtime = XdpRuntime(program)
    for entry in setup:
        runtime.update_map(entry.map, entry.key, entry.value)
    return maps_from_runtime(target, image, runtime.maps)


def maps_to_runtime(target: Target, job: Job, maps) -> None:
    """Make the runtime's maps hold what ``job`` left (its ``final_maps``)."""
    for p in map_layout(job.image.name, job.image.maps, target):
        restore_map(p, maps[p.map.name], job.final_maps[p.map.name])


def beats(data: bytes, frame_bytes: int) -> list[bytes]:
    """A packet's bytes as ``rx`` beats, one frame each; an empty packet is
    one beat with no bytes kept (its ``last`` still ends it)."""
    return [data[i:i + frame_bytes] for i in range(0, len(data), frame_bytes)] or [b""]


def check_supported(image: Image, target: Target, conformance: bool = False) -> None:
    """Refuse, before it runs, a program calling a helper the gateware does
    not have (it would only end in an UNSUPPORTED fault) or with maps it
    cannot hold. In ``conformance`` mode the suite's own helper is there."""
    have = HELPERS_IN_HARDWARE | ({CONFORMANCE_IDENTITY} if conformance else set())
    missing = sorted({s.imm for row in image.rows for s in row if s.op is Op.CALL and s.imm not in have})
    if missing:
        raise HxdpError(f"{image.name}: the gateware does not run "
                        f"{', '.join(f'{helper_name(h)} ({h})' for h in missing)}; run it on the model "
                        "(--engine model)")
    map_layout(image.name, image.maps, target)
