"""A loaded eBPF program: instructions, the maps it uses, and where it came from.

This is what the front end (assembler, ELF loader) hands to every later
stage. Map references are resolved to indices into `Program.maps`:

* ``lddw dst, map`` has ``src = Pseudo.MAP_FD`` and ``imm = map index``;
* ``lddw dst, map_value`` has ``src = Pseudo.MAP_VALUE`` and
  ``imm = map index | (offset << 32)``;
* ``call local`` has ``imm`` relative to the next instruction, as in the ISA;
  subprograms from ``.text`` follow the entry function in `Program.insns`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from .ctype import CType
from .isa import Insn, encode

__all__ = ["MapType", "MapDef", "ObjectBtf", "SourceLine", "Program", "SUPPORTED_MAP_TYPES", "PER_CPU_TYPES",
           "KEYLESS_TYPES"]


class MapType(enum.IntEnum):
    """Kernel map type numbers (enum bpf_map_type)."""
    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27


# The map types hxdp runs: the loader refuses the others at load time.
SUPPORTED_MAP_TYPES = frozenset({
    MapType.HASH, MapType.ARRAY, MapType.PROG_ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
    MapType.LRU_HASH, MapType.LRU_PERCPU_HASH, MapType.LPM_TRIE, MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS, MapType.DEVMAP, MapType.CPUMAP, MapType.XSKMAP, MapType.DEVMAP_HASH,
    MapType.QUEUE, MapType.STACK, MapType.RINGBUF,
})

# The map types without keys.
KEYLESS_TYPES = frozenset({MapType.QUEUE, MapType.STACK, MapType.RINGBUF})

# The map types that keep a value a CPU (a `MapDump` holds every CPU's).
PER_CPU_TYPES = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH})


@dataclass
class MapDef:
    """A map as the program declares it.

    ``initial`` holds the contents of global-data maps (``.data``,
    ``.rodata``, ``.bss``): one array entry of ``value_size`` bytes.
    ``inner`` is the template of the inner map of map-in-map types.
    """
    name: str
    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    inner: MapDef | None = None
    initial: bytes | None = None
    readonly: bool = False
    # The C types of keys and values, where the object's BTF gives them
    # (`hxdp.ebpf.ctype`): how entries are shown and written.
    key_type: CType | None = field(default=None, compare=False, repr=False)
    value_type: CType | None = field(default=None, compare=False, repr=False)
    # The BTF type ids of the key and the value (0: none), for the kernel.
    btf_ids: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)

    @property
    def per_cpu(self) -> bool:
        return self.type in PER_CPU_TYPES

    def describe(self) -> str:
        return (f"{self.name}: {self.type.name.lower()} key {self.key_size} B, value "
                f"{self.value_size} B, {self.max_entries} entries")


@dataclass(frozen=True)
class ObjectBtf:
    """An object's BTF as the kernel loads it, and the BTF FUNC type of each
    function of a program, by the pc it starts at."""
    data: bytes
    funcs: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SourceLine:
    file: str
    line: int
    text: str = ""


@dataclass
class Program:
    """An eBPF program ready to run: the entry function first, then subprograms."""
    name: str
    insns: list[Insn]
    maps: list[MapDef] = field(default_factory=list)
    section: str = ""
    license: str = ""
    path: Path | None = None
    # pc (slot index) -> C source line, when the object has BTF line info.
    lines: dict[int, SourceLine] = field(default_factory=dict)
    # pc -> name of each function's first instruction (entry and subprograms).
    functions: dict[int, str] = field(default_factory=dict)
    # The programs its prog arrays hold when it loads: map -> index -> program
    # (a loader's setup; `hxdp.mapfile` sets them from a map file).
    prog_arrays: dict[str, dict[int, Program]] = field(default_factory=dict)
    btf: ObjectBtf | None = field(default=None, compare=False, repr=False)

    @property
    def code(self) -> bytes:
        return encode(self.insns)

    @property
    def slots(self) -> int:
        return sum(insn.slots for insn in self.insns)

    def at(self, pc: int) -> Insn:
        """The instruction starting at slot ``pc``."""
        index = self._index().get(pc)
        if index is None:
            raise IndexError(f"{self.name}: no instruction starts at pc {pc}")
        return self.insns[index]

    def _index(self) -> dict[int, int]:
        cache = getattr(self, "_pc_index", None)
        if cache is None or len(cache) != len(self.insns):
            cache = {insn.pc: i for i, insn in enumerate(self.insns)}
            object.__setattr__(self, "_pc_index", cache)
        return cache

    def where(self, pc: int) -> str:
        """A human description of pc: program, pc and C line when known."""
        text = f"{self.name} pc {pc}"
        line = self.lines.get(pc)
        if line:
            text += f" ({line.file}:{line.line})"
        return text
