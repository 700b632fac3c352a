"""Maps with the kernel's semantics, for the reference interpreter.

Each map keeps its values in one bytearray per CPU (``max_entries`` slots of
``value_size`` bytes), mapped into the interpreter's `Memory`: a pointer that
map_lookup_elem returns is a real address into those bytes, so a program's
writes through it change the map, as in the kernel and in the hardware.

Keyed maps keep their keys in a dictionary; the types differ only in how a
key finds its slot (array index, exact key, LRU order, longest prefix). Hash
maps place their keys as the engine's hardware does (`hashtable`), in as
many value slots as its table has.
LRU model: lookups and updates make an entry the most recently used; a full
LRU map evicts the least recently used entry to make room.
"""

from __future__ import annotations

import errno
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Iterator

from ..errors import HxdpError
from .hashtable import HashGeometry, HashTable
from .memory import Memory, Region, map_region_base
from .program import MapDef, MapType, Program
from .xdp import MapDump

__all__ = ["BpfMap", "ArrayMap", "HashMap", "LpmTrieMap", "ProgArray", "QueueMap", "RingBufMap", "MapOfMaps",
           "MapSet", "UpdateFlag", "make_map", "BPF_F_NO_PREALLOC", "HANDLE_BASE", "HANDLE_STEP", "map_handle"]

BPF_F_NO_PREALLOC = 1 << 0

# The largest map the interpreter makes: its keys and values are allocated
# at once (a CPU's values in one bytearray) and its free slots listed.
MAX_ENTRIES = 1 << 24
MAX_MAP_BYTES = 1 << 30

# Handles are the values ``lddw rX, map`` gives a program: opaque numbers
# that helpers turn back into maps, not addresses of any memory. The n-th
# map made has handle HANDLE_BASE + n * HANDLE_STEP (the hardware decodes it).
HANDLE_BASE = 0xFFFF_8000_0000_0000
HANDLE_STEP = 0x100


def map_handle(n: int) -> int:
    return HANDLE_BASE + n * HANDLE_STEP


class UpdateFlag:
    ANY = 0
    NOEXIST = 1
    EXIST = 2
    LOCK = 4


class BpfMap:
    """Common storage and host-side API of every map type."""

    per_cpu = False

    def __init__(self, d: MapDef, nr_cpus: int = 1, slots: int | None = None):
        """``slots``: values the store holds (max_entries unless given)."""
        self.d = d
        self.nr_cpus = nr_cpus if self.per_cpu else 1
        self.store = [bytearray((slots or d.max_entries) * d.value_size) for _ in range(self.nr_cpus)]
        self.regions: list[Region] = []

    @property
    def name(self) -> str:
        return self.d.name

    def attach(self, memory: Memory, first_region: int) -> None:
        """Map the value store into ``memory`` (once per interpreter memory),
        one CPU's values a region from map region ``first_region`` on."""
        self.regions = [memory.allocate(f"map {self.name}" + (f" (CPU {cpu})" if self.per_cpu else ""),
                                        self.store[cpu], writable=not self.d.readonly,
                                        base=map_region_base(first_region + cpu))
                        for cpu in range(self.nr_cpus)]

    def address(self, slot: int, cpu: int = 0) -> int:
        return self.regions[cpu if self.per_cpu else 0].base + slot * self.d.value_size

    def value(self, slot: int, cpu: int = 0) -> bytes:
        vs = self.d.value_size
        return bytes(self.store[cpu][slot * vs:(slot + 1) * vs])

    def all_cpus(self, slot: int) -> bytes:
        return b"".join(self.value(slot, cpu) for cpu in range(self.nr_cpus))

    def write(self, slot: int, value: bytes, cpu: int | None) -> None:
        """Write ``value`` to one CPU's slot, or to every CPU's when cpu is None
        (a host update gives all CPUs' values, or one value for all)."""
        vs = self.d.value_size
        cpus = range(self.nr_cpus) if cpu is None else [cpu if self.per_cpu else 0]
        for i, c in enumerate(cpus):
            part = value[i * vs:(i + 1) * vs] if len(value) == vs * self.nr_cpus and cpu is None \
                else value[:vs]
            self.store[c][slot * vs:(slot + 1) * vs] = part

    def check_sizes(self, key: bytes, value: bytes | None = None) -> None:
        if len(key) != self.d.key_size:
            raise HxdpError(f"map {self.name}: key has {len(key)} bytes, the map's key_size is "
                            f"{self.d.key_size}")
        if value is not None and len(value) not in (self.d.value_size,
                                                    self.d.value_size * self.nr_cpus):
            raise HxdpError(f"map {self.name}: value has {len(value)} bytes, the map's value_size "
                            f"is {self.d.value_size}")

    # The per-type part: key -> slot.
    def find(self, key: bytes) -> int | None:
        raise NotImplementedError

    def update(self, key: bytes, value: bytes, flags: int = 0, cpu: int | None = None) -> int:
        raise NotImplementedError

    def delete(self, key: bytes) -> int:
        raise NotImplementedError

    def keys(self) -> Iterator[bytes]:
        raise NotImplementedError

    def dump(self) -> dict[bytes, bytes]:
        return {key: self.all_cpus(self.find(key)) for key in list(self.keys())}


def _check_flags(name: str, flags: int) -> int | None:
    if flags & UpdateFlag.LOCK:
        raise HxdpError(f"map {name}: BPF_F_LOCK (spin-locked values) is not supported")
    if flags not in (UpdateFlag.ANY, UpdateFlag.NOEXIST, UpdateFlag.EXIST):
        return -errno.EINVAL
    return None


class ArrayMap(BpfMap):
    """array, percpu_array, and the array-shaped redirect maps (devmap, cpumap, xskmap)."""

    def __init__(self, d: MapDef, nr_cpus: int = 1, per_cpu: bool = False):
        self.per_cpu = per_cpu
        if d.key_size != 4:
            raise HxdpError(f"map {d.name}: {d.type.name.lower()} maps need a 4-byte key, not {d.key_size}")
        super().__init__(d, nr_cpus)
        if d.initial is not None:
            self.store[0][:len(d.initial)] = d.initial
        # Redirect maps start empty; plain arrays have every index present.
        self.present = None if d.type in (MapType.ARRAY, MapType.PERCPU_ARRAY) else set()

    def find(self, key: bytes) -> int | None:
        index = int.from_bytes(key, "little")
        if index >= self.d.max_entries:
            return None
        if self.present is not None and index not in self.present:
            return None
        return index

    def update(self, key: bytes, value: bytes, flags: int = 0, cpu: int | None = None) -> int:
        bad = _check_flags(self.name, flags)
        if bad:
            return bad
        index = int.from_bytes(key, "little")
        if index >= self.d.max_entries:
            return -errno.E2BIG
        exists = self.present is None or index in self.present
        if flags == UpdateFlag.NOEXIST and exists:
            return -errno.EEXIST
        if flags == UpdateFlag.EXIST and not exists:
            return -errno.ENOENT
        if self.present is not None:
            self.present.add(index)
        self.write(index, value, cpu)
        return 0

    def delete(self, key: bytes) -> int:
        if self.present is None:
            return -errno.EINVAL
        index = int.from_bytes(key, "little")
        if index not in self.present:
            return -errno.ENOENT
        self.present.discard(index)
        return 0

    def keys(self) -> Iterator[bytes]:
        indices = range(self.d.max_entries) if self.present is None else sorted(self.present)
        return (i.to_bytes(4, "little") for i in indices)


class HashMap(BpfMap):
    """hash, percpu_hash, lru_hash, lru_percpu_hash, devmap_hash. With
    ``placed``, keys go where the hardware's table puts them (`table`)."""

    def __init__(self, d: MapDef, nr_cpus: int = 1, per_cpu: bool = False, lru: bool = False,
                 placed: bool = False):
        self.per_cpu = per_cpu
        self.table = HashTable(HashGeometry(d.key_size, d.max_entries)) if placed else None
        super().__init__(d, nr_cpus, self.table.geometry.slots if placed else None)
        self.lru = lru
        self.clock = 0                  # an LRU map's use clock (`hashtable`)
        self.slots: OrderedDict[bytes, int] = OrderedDict()
        self.free = list(range(d.max_entries - 1, -1, -1))

    def _use(self, key: bytes, slot: int) -> None:
        """An LRU map's key was found or updated: it is the most recent."""
        self.slots.move_to_end(key)
        if self.table is not None:
            self.table.touch(slot, self.clock)
            self.clock += 1

    def find(self, key: bytes) -> int | None:
        slot = self.slots.get(bytes(key))
        if slot is not None and self.lru:
            self._use(bytes(key), slot)
        return slot

    def update(self, key: bytes, value: bytes, flags: int = 0, cpu: int | None = None) -> int:
        bad = _check_flags(self.name, flags)
        if bad:
            return bad
        key = bytes(key)
        slot = self.slots.get(key)
        if slot is not None:
            if flags == UpdateFlag.NOEXIST:
                return -errno.EEXIST
            if self.lru:
                self._use(key, slot)
        else:
            if flags == UpdateFlag.EXIST:
                return -errno.ENOENT
            free = self.table.probe(key).free if self.table is not None else None
            if len(self.slots) >= self.d.max_entries:
                if not self.lru:
                    return -errno.E2BIG
                if self.table is not None:
                    victim = self.table.oldest()
                    self.table.remove(victim)
                    del self.slots[next(k for k, s in self.slots.items() if s == victim)]
                    free = victim if free is None else free
                else:
                    _, victim = self.slots.popitem(last=False)
                    self.free.append(victim)
            if self.table is not None:
                slot = free
                self.table.put(slot, key, self.clock)
                self.clock += self.lru
            else:
                slot = self.free.pop()
            self.slots[key] = slot
            for c in range(self.nr_cpus):
                self.write(slot, bytes(self.d.value_size), c)
        self.write(slot, value, cpu)
        return 0

    def delete(self, key: bytes) -> int:
        slot = self.slots.pop(bytes(key), None)
        if slot is None:
            return -errno.ENOENT
        if self.table is not None:
            self.table.remove(slot)
        else:
            self.free.append(slot)
        return 0

    def keys(self) -> Iterator[bytes]:
        return iter(list(self.slots))

    def dump(self) -> dict[bytes, bytes]:
        # Not through find(): a dump must not refresh LRU order.
        return {key: self.all_cpus(slot) for key, slot in self.slots.items()}


class LpmTrieMap(HashMap):
    """lpm_trie: keys are a u32 prefix length then the address bytes;
    lookups find the longest stored prefix that covers the key. Keys are
    stored with the address masked to their prefix, placed as a hash map's
    (the engine probes the prefix lengths the map holds, longest first)."""

    def __init__(self, d: MapDef, nr_cpus: int = 1):
        if not d.flags & BPF_F_NO_PREALLOC:
            raise HxdpError(f"map {d.name}: lpm_trie maps need map_flags BPF_F_NO_PREALLOC, "
                            "as in the kernel")
        if d.key_size <= 4:
            raise HxdpError(f"map {d.name}: lpm_trie key must be a u32 prefix length plus data")
        super().__init__(d, nr_cpus, placed=True)
        self.data_bits = 8 * (d.key_size - 4)

    def masked(self, key: bytes, prefix: int) -> bytes:
        """``key``'s address cut to ``prefix`` bits, with that prefix length."""
        data = int.from_bytes(key[4:], "big")
        mask = ((1 << prefix) - 1) << (self.data_bits - prefix)
        return prefix.to_bytes(4, "little") + (data & mask).to_bytes(len(key) - 4, "big")

    @staticmethod
    def prefix(key: bytes) -> int:
        """The prefix length a key gives."""
        return int.from_bytes(key[:4], "little")

    def limit(self, key: bytes) -> int:
        return min(self.prefix(key), self.data_bits)

    def lengths(self) -> list[int]:
        """The prefix lengths stored, longest first."""
        return sorted({self.prefix(k) for k in self.slots}, reverse=True)

    def find(self, key: bytes) -> int | None:
        key = bytes(key)
        for prefix in self.lengths():
            if prefix <= self.limit(key):
                slot = self.slots.get(self.masked(key, prefix))
                if slot is not None:
                    return slot
        return None

    def update(self, key: bytes, value: bytes, flags: int = 0, cpu: int | None = None) -> int:
        if self.prefix(key) > self.data_bits:
            return -errno.EINVAL
        return super().update(self.masked(bytes(key), self.prefix(key)), value, flags, cpu)

    def delete(self, key: bytes) -> int:
        if self.prefix(key) > self.data_bits:
            return -errno.EINVAL
        return super().delete(self.masked(bytes(key), self.prefix(key)))


class ProgArray(ArrayMap):
    """prog_array: slots hold programs for bpf_tail_call."""

    def __init__(self, d: MapDef, nr_cpus: int = 1):
        super().__init__(d, nr_cpus)
        self.programs: dict[int, Program] = {}

    def set_program(self, index: int, program: Program) -> None:
        if index >= self.d.max_entries:
            raise HxdpError(f"map {self.name}: index {index} is beyond max_entries {self.d.max_entries}")
        self.programs[index] = program
        self.present.add(index)
        self.write(index, index.to_bytes(4, "little")[:self.d.value_size], None)


class QueueMap(BpfMap):
    """queue and stack maps: values without keys, reached through push, pop
    and peek (a host update pushes, a host lookup peeks), oldest first in
    ``items``; a full map refuses a push unless BPF_EXIST lets it drop the
    oldest, as the kernel's do. A dump keys the values by their place,
    oldest first, the order that pushes them back."""

    def __init__(self, d: MapDef, nr_cpus: int = 1):
        if d.key_size:
            raise HxdpError(f"map {d.name}: {d.type.name.lower()} maps have no key: key_size 0, not {d.key_size}")
        super().__init__(d, nr_cpus)
        self.items: deque[bytes] = deque()

    def push(self, value: bytes, flags: int) -> int:
        if flags not in (UpdateFlag.ANY, UpdateFlag.EXIST):
            return -errno.EINVAL
        if len(self.items) >= self.d.max_entries:
            if flags != UpdateFlag.EXIST:
                return -errno.E2BIG
            self.items.popleft()
        self.items.append(bytes(value))
        return 0

    def take(self, remove: bool) -> bytes | None:
        """The value pop (``remove``) or peek gives: the oldest of a queue, the newest of a stack."""
        if not self.items:
            return None
        if not remove:
            return self.items[0] if self.d.type is MapType.QUEUE else self.items[-1]
        return self.items.popleft() if self.d.type is MapType.QUEUE else self.items.pop()

    def find(self, key: bytes) -> int | None:
        return 0 if self.items else None

    def all_cpus(self, slot: int) -> bytes:
        return self.take(remove=False)

    def update(self, key: bytes, value: bytes, flags: int = 0, cpu: int | None = None) -> int:
        return self.push(value, flags)

    def delete(self, key: bytes) -> int:
        return -errno.EINVAL

    def keys(self) -> Iterator[bytes]:
        return (i.to_bytes(4, "little") for i in range(len(self.items)))

    def dump(self) -> dict[bytes, bytes]:
        return dict(zip(self.keys(), self.items))


# A ring buffer record's header: its length and flags, and a page offset.
RINGBUF_HEADER = 8
PAGE_SIZE = 4096


class RingBufMap(BpfMap):
    """A ring buffer (bpf_ringbuf_output): ``max_entries`` bytes, a power
    of 2 and a whole number of pages, as the kernel asks; a record takes
    its length and an 8-byte header, rounded up to 8 bytes, and is refused
    (-EAGAIN) when the records not yet taken would reach the size. The
    host takes the records (`drain`) after every packet."""

    def __init__(self, d: MapDef, nr_cpus: int = 1):
        size = d.max_entries
        if d.key_size or d.value_size or size < PAGE_SIZE or size & (size - 1):
            raise HxdpError(f"map {d.name}: a ringbuf map has no key or value size and max_entries a power of 2 "
                            f"of at least {PAGE_SIZE} bytes (its size), not key {d.key_size}, value "
                            f"{d.value_size}, max_entries {size}")
        super().__init__(d, nr_cpus, slots=1)
        self.records: list[bytes] = []
        self.used = 0

    def output(self, data: bytes, flags: int) -> int:
        if flags & ~3:                  # BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP
            return -errno.EINVAL
        need = -(-(len(data) + RINGBUF_HEADER) // 8) * 8
        if self.used + need > self.d.max_entries - 1:
            return -errno.EAGAIN
        self.records.append(bytes(data))
        self.used += need
        return 0

    def drain(self) -> list[bytes]:
        records, self.records, self.used = self.records, [], 0
        return records

    def find(self, key: bytes) -> int | None:
        return None

    def update(self, key: bytes, value: bytes, flags: int = 0, cpu: int | None = None) -> int:
        return -errno.EOPNOTSUPP

    def delete(self, key: bytes) -> int:
        return -errno.EOPNOTSUPP

    def keys(self) -> Iterator[bytes]:
        return iter(())


class MapOfMaps(BpfMap):
    """array_of_maps and hash_of_maps: values are inner maps, each with its own handle."""

    def __init__(self, d: MapDef, nr_cpus: int = 1):
        if d.inner is None:
            raise HxdpError(f"map {d.name}: {d.type.name.lower()} needs an inner map definition "
                            "(__array(values, ...) in the BTF map definition)")
        outer = MapDef(d.name, MapType.ARRAY if d.type is MapType.ARRAY_OF_MAPS else MapType.HASH,
                       d.key_size, 4, d.max_entries, d.flags)
        super().__init__(outer, nr_cpus)
        self.table = ArrayMap(outer, nr_cpus) if d.type is MapType.ARRAY_OF_MAPS else HashMap(outer, nr_cpus)
        if isinstance(self.table, ArrayMap):
            self.table.present = set()
        self.inner: dict[int, BpfMap] = {}
        self.d = d

    def find(self, key: bytes) -> int | None:
        return self.table.find(key)

    def set_inner(self, key: bytes, inner: BpfMap) -> int:
        rc = self.table.update(key, bytes(4))
        if rc == 0:
            self.inner[self.table.find(key)] = inner
        return rc

    def update(self, key: bytes, value: bytes, flags: int = 0, cpu: int | None = None) -> int:
        raise HxdpError(f"map {self.name}: set inner maps with MapSet.create_inner, not with bytes")

    def delete(self, key: bytes) -> int:
        slot = self.table.find(key)
        rc = self.table.delete(key)
        if rc == 0:
            self.inner.pop(slot, None)
        return rc

    def keys(self) -> Iterator[bytes]:
        return self.table.keys()

    def dump(self) -> dict[bytes, bytes]:
        return {key: self.inner[self.table.find(key)].name.encode() for key in self.keys()}


def make_map(d: MapDef, nr_cpus: int = 1) -> BpfMap:
    """The runtime map for a definition; unsupported types and sizes are a clear error."""
    if d.max_entries > MAX_ENTRIES or d.max_entries * (d.key_size + d.value_size) > MAX_MAP_BYTES:
        raise HxdpError(f"map {d.name}: {d.max_entries} entries of {d.key_size}-byte keys and {d.value_size}-byte "
                        f"values; the interpreter holds up to {MAX_ENTRIES} entries and {MAX_MAP_BYTES >> 20} MiB "
                        "a map: lower max_entries")
    t = d.type
    if t in (MapType.ARRAY, MapType.DEVMAP, MapType.CPUMAP, MapType.XSKMAP):
        return ArrayMap(d, nr_cpus)
    if t is MapType.PERCPU_ARRAY:
        return ArrayMap(d, nr_cpus, per_cpu=True)
    if t in (MapType.HASH, MapType.DEVMAP_HASH):
        return HashMap(d, nr_cpus, placed=True)
    if t is MapType.PERCPU_HASH:
        return HashMap(d, nr_cpus, per_cpu=True, placed=True)
    if t is MapType.LRU_HASH:
        return HashMap(d, nr_cpus, lru=True, placed=True)
    if t is MapType.LRU_PERCPU_HASH:
        return HashMap(d, nr_cpus, per_cpu=True, lru=True, placed=True)
    if t is MapType.LPM_TRIE:
        return LpmTrieMap(d, nr_cpus)
    if t is MapType.PROG_ARRAY:
        return ProgArray(d, nr_cpus)
    if t in (MapType.QUEUE, MapType.STACK):
        return QueueMap(d, nr_cpus)
    if t is MapType.RINGBUF:
        return RingBufMap(d, nr_cpus)
    if t in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
        return MapOfMaps(d, nr_cpus)
    raise HxdpError(f"map {d.name}: map type {t.name.lower()} ({int(t)}) is not supported in XDP "
                    "programs on hxdp")


@dataclass
class _Handle:
    map: BpfMap
    handle: int


class MapSet:
    """All maps of a program (and inner maps made later), by name and by handle."""

    def __init__(self, program: Program, memory: Memory, nr_cpus: int = 1):
        self.memory = memory
        self.nr_cpus = nr_cpus
        self.regions = 0
        self.by_name: dict[str, BpfMap] = {}
        self.by_handle: dict[int, BpfMap] = {}
        self.handles: list[int] = []
        for d in program.maps:
            self.handles.append(self.add(make_map(d, nr_cpus)))

    def add(self, m: BpfMap) -> int:
        if m.name in self.by_name:
            raise HxdpError(f"two maps are called {m.name}")
        m.attach(self.memory, self.regions)
        self.regions += m.nr_cpus
        handle = map_handle(len(self.by_handle))
        self.by_name[m.name] = m
        self.by_handle[handle] = m
        m.handle = handle
        return handle

    def __getitem__(self, name: str) -> BpfMap:
        try:
            return self.by_name[name]
        except KeyError:
            raise HxdpError(f"no map called {name!r}; the program has "
                            f"{', '.join(self.by_name) or 'no maps'}") from None

    def __iter__(self) -> Iterator[BpfMap]:
        return iter(self.by_name.values())

    def from_handle(self, handle: int) -> BpfMap | None:
        return self.by_handle.get(handle)

    def update(self, name: str, key: bytes, value: bytes, flags: int = 0) -> None:
        m = self[name]
        m.check_sizes(key, value)
        rc = m.update(key, value, flags)
        if rc:
            raise HxdpError(f"map {name}: update of key {key.hex()} failed: "
                            f"{errno.errorcode.get(-rc, rc)}")

    def lookup(self, name: str, key: bytes) -> bytes | None:
        m = self[name]
        m.check_sizes(key)
        slot = m.find(key)
        return None if slot is None else m.all_cpus(slot)

    def delete(self, name: str, key: bytes) -> None:
        rc = self[name].delete(key)
        if rc:
            raise HxdpError(f"map {name}: delete of key {key.hex()} failed: "
                            f"{errno.errorcode.get(-rc, rc)}")

    def create_inner(self, outer: str, key: bytes) -> BpfMap:
        """Make a fresh inner map from the outer map's template and store it at ``key``."""
        m = self[outer]
        if not isinstance(m, MapOfMaps):
            raise HxdpError(f"map {outer} is not a map of maps")
        d = m.d.inner
        inner = make_map(MapDef(f"{outer}[{key.hex()}]", d.type, d.key_size, d.value_size,
                                d.max_entries, d.flags), self.nr_cpus)
        self.add(inner)
        rc = m.set_inner(key, inner)
        if rc:
            raise HxdpError(f"map {outer}: cannot store an inner map at {key.hex()}: "
                            f"{errno.errorcode.get(-rc, rc)}")
        return inner

    def dump(self) -> MapDump:
        """Every map's entries but a prog array's (programs, which the
        program's `prog_arrays` name), as the kernel's are read."""
        return {m.name: m.dump() for m in self if not isinstance(m, ProgArray)}
