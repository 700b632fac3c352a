"""Where an image's maps live in the engine's map memory.

One definition for the gateware's map table, the host drivers that load
and read maps, and the checks that refuse what the engine cannot hold. Map
n (in the image's order) has handle ``map_handle(n)``; a program sees its
values at ``map_region_base(n)``, as the interpreter and the model place
them. In the map memory a map's area is, 8-byte aligned, a hash map's key
records (`hxdp.ebpf.hashtable`; an LRU map's after a word for its use
clock, which the engine keeps in a register) and then its values, one a
slot; a
devmap's entries, a word each (the ifindex, and bit 32 set when present),
which programs reach only through bpf_redirect_map.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .ebpf.hashtable import HEADER_BYTES, HashGeometry, SlotState
from .ebpf.maps import ArrayMap, BpfMap, HashMap, LpmTrieMap, map_handle
from .ebpf.memory import map_region_base
from .ebpf.program import PER_CPU_TYPES, MapDef, MapType
from .errors import HxdpError
from .target import Target

__all__ = ["MapKind", "MapPlacement", "map_layout", "map_image", "restore_map", "used_entries", "use_clock", "KINDS",
           "MAX_KEY_BYTES", "MAX_LPM_KEY_BYTES", "DEVMAP_PRESENT", "CLOCK_BYTES", "prefix_lengths"]


class MapKind(enum.IntEnum):
    """What the helper unit does to find a key's value."""
    ARRAY = 0           # index arithmetic: the key is the entry number
    HASH = 1            # probes the key records (`hxdp.ebpf.hashtable`)
    DEVMAP = 2          # redirect targets: a word an entry


# Map types the engine holds, by how its helper unit looks them up. A
# per-CPU map is one map on a one-core engine.
KINDS: dict[MapType, MapKind] = {MapType.ARRAY: MapKind.ARRAY, MapType.PERCPU_ARRAY: MapKind.ARRAY,
                                 MapType.HASH: MapKind.HASH, MapType.PERCPU_HASH: MapKind.HASH,
                                 MapType.LRU_HASH: MapKind.HASH, MapType.LRU_PERCPU_HASH: MapKind.HASH,
                                 MapType.LPM_TRIE: MapKind.HASH,
                                 MapType.DEVMAP: MapKind.DEVMAP}
LRU_TYPES = frozenset({MapType.LRU_HASH, MapType.LRU_PERCPU_HASH})
CLOCK_BYTES = 8

# A devmap entry's word: the ifindex, and this bit when the entry is present.
DEVMAP_PRESENT = 1 << 32

# The helper unit holds a hash key in registers, 8 bytes each; an LPM key
# in one (a prefix length and up to 32 bits of address: IPv4).
MAX_KEY_BYTES = 64
MAX_LPM_KEY_BYTES = 8


def _aligned(n: int) -> int:
    return -(-n // 8) * 8


@dataclass(frozen=True)
class MapPlacement:
    index: int
    map: MapDef
    kind: MapKind
    offset: int          # bytes into the map memory: the map's area
    keys: int            # bytes of key records at its start (hash maps)
    values: int          # bytes of values after them
    copies: int = 1      # per-CPU maps: one copy of the values a core, one after another

    @property
    def handle(self) -> int:
        return map_handle(self.index)

    @property
    def region_base(self) -> int:
        return map_region_base(self.index)

    @property
    def lru(self) -> bool:
        return self.map.type in LRU_TYPES

    @property
    def lpm(self) -> bool:
        return self.map.type is MapType.LPM_TRIE

    @property
    def records_offset(self) -> int:
        return self.offset + (CLOCK_BYTES if self.lru else 0)

    @property
    def values_offset(self) -> int:
        return self.offset + self.keys

    @property
    def area(self) -> int:
        return self.keys + self.copies * _aligned(self.values)

    @property
    def cpu_stride(self) -> int:
        """Bytes from one core's copy of the values to the next (0: one
        copy, shared). A per-CPU hash map's cores share its key records."""
        return _aligned(self.values) if self.copies > 1 else 0

    @property
    def geometry(self) -> HashGeometry:
        return HashGeometry(self.map.key_size, self.map.max_entries)


def map_layout(name: str, maps: list[MapDef], target: Target) -> list[MapPlacement]:
    """Place ``maps`` (of the program ``name``) one after another, or say why
    the engine of ``target`` cannot hold them."""
    if len(maps) > target.map_slots:
        raise HxdpError(f"{name}: {len(maps)} maps; the engine holds {target.map_slots} "
                        "(Target.map_slots)")
    placed, offset = [], 0
    for n, m in enumerate(maps):
        kind = KINDS.get(m.type)
        copies = target.cores if m.type in PER_CPU_TYPES else 1
        if kind is None:
            raise HxdpError(f"{name}: map {m.name} is a {m.type.name.lower()} map; the engine's map "
                            f"memories hold {', '.join(t.name.lower() for t in KINDS)} maps so far "
                            "(run it on the model: --engine model)")
        if kind is MapKind.HASH:
            if m.key_size > MAX_KEY_BYTES:
                raise HxdpError(f"{name}: map {m.name} has {m.key_size}-byte keys; the engine's hash "
                                f"maps take keys up to {MAX_KEY_BYTES} bytes")
            if m.type is MapType.LPM_TRIE and m.key_size > MAX_LPM_KEY_BYTES:
                raise HxdpError(f"{name}: map {m.name} has {m.key_size}-byte keys; the engine's LPM maps "
                                f"take keys up to {MAX_LPM_KEY_BYTES} bytes (IPv4 prefixes)")
            g = HashGeometry(m.key_size, m.max_entries)
            clock = CLOCK_BYTES if m.type in LRU_TYPES else 0
            p = MapPlacement(n, m, kind, offset, clock + g.table_bytes, g.slots * m.value_size, copies)
        elif kind is MapKind.DEVMAP:
            p = MapPlacement(n, m, kind, offset, 0, m.max_entries * 8)
        else:
            p = MapPlacement(n, m, kind, offset, 0, m.max_entries * m.value_size, copies)
        placed.append(p)
        offset += p.area
    if offset > target.map_bytes:
        raise HxdpError(f"{name}: its maps need {offset} bytes; the engine's map memory has "
                        f"{target.map_bytes} (Target.map_bytes)")
    return placed


def map_image(p: MapPlacement, m: BpfMap | None = None) -> bytes:
    """The bytes of ``p``'s area as the map memory holds them: those of the
    runtime map ``m`` (a per-CPU map's copies of the values hold its CPUs
    0, 1, ...), or the program's first contents."""
    if p.kind is MapKind.DEVMAP:
        present = m.present if isinstance(m, ArrayMap) and m.present is not None else set()
        keys, copies = b"", [b"".join(
            (int.from_bytes(m.value(i)[:4], "little") | DEVMAP_PRESENT if i in present else 0).to_bytes(8, "little")
            for i in range(p.map.max_entries))]
    elif m is None:
        keys, copies = bytes(p.keys), [bytes(p.map.initial or b"")] * p.copies
    else:
        if m.nr_cpus < p.copies:
            raise HxdpError(f"map {p.map.name}: {m.nr_cpus} CPUs' values for a {p.copies}-core engine")
        keys = bytes(m.table.records) if isinstance(m, HashMap) and m.table is not None else b""
        if p.lru:
            keys = m.clock.to_bytes(CLOCK_BYTES, "little") + keys
        copies = [bytes(m.store[c]) for c in range(p.copies)]
    if len(keys) != p.keys or any(len(values) > p.values for values in copies):
        raise HxdpError(f"map {p.map.name}: its contents do not fit its place in the map memory")
    return keys + b"".join(values + bytes(_aligned(p.values) - len(values)) for values in copies)


def restore_map(p: MapPlacement, m: BpfMap, image: bytes) -> None:
    """Make the runtime map ``m`` hold what the area ``image`` holds (the
    inverse of `map_image`): how the maps an engine left are read."""
    if len(image) != p.area:
        raise HxdpError(f"map {p.map.name}: {len(image)} bytes read for its {p.area}-byte area")
    if p.kind is MapKind.DEVMAP:
        words = [int.from_bytes(image[i:i + 8], "little") for i in range(p.keys, p.keys + p.values, 8)]
        m.present = {i for i, w in enumerate(words) if w & DEVMAP_PRESENT}
        for i in m.present:
            m.write(i, (words[i] & 0xFFFF_FFFF).to_bytes(4, "little") + m.value(i)[4:], 0)
        return
    for c in range(p.copies):
        at = p.keys + c * _aligned(p.values)
        m.store[c][:] = image[at:at + len(m.store[c])]
    if isinstance(m, HashMap) and m.table is not None:
        records = image[CLOCK_BYTES:p.keys] if p.lru else image[:p.keys]
        m.table.records[:] = records
        if p.lru:
            m.clock = use_clock(p, image)
        m.slots.clear()
        for slot, key in m.table.used(p.map.key_size):
            m.slots[key] = slot


def used_entries(p: MapPlacement, image: bytes) -> int:
    """Keys a hash map's image holds (0 for arrays)."""
    if p.kind is not MapKind.HASH:
        return 0
    start = p.records_offset - p.offset
    return sum(image[i] & 3 == SlotState.USED for i in range(start, p.keys, p.geometry.record_bytes))


def prefix_lengths(p: MapPlacement, image: bytes) -> int:
    """An LPM map's prefix lengths present, bit n for length n (0 for other maps)."""
    if not p.lpm:
        return 0
    lengths = 0
    for i in range(p.records_offset - p.offset, p.keys, p.geometry.record_bytes):
        if image[i] & 3 == SlotState.USED:
            lengths |= 1 << LpmTrieMap.prefix(image[i + HEADER_BYTES:])
    return lengths


def use_clock(p: MapPlacement, image: bytes) -> int:
    """An LRU map's use clock, from its image (0 for other maps)."""
    return int.from_bytes(image[:CLOCK_BYTES], "little") if p.lru else 0
