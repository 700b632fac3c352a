"""The interpreter's address space: separate regions with bounds checks.

Every memory a program can reach (its stack frames, the packet, the XDP
context, each map's values, the conformance input) is a `Region` at its own
base address, far from the others, so pointer arithmetic that strays out of
one region never lands in another: it faults with the pc and the region.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = ["Region", "Memory", "MemoryFault", "REGION_SPAN", "PACKET_BASE", "CONTEXT_BASE",
           "STACK_BASE", "MAP_BASE", "MAP_STRIDE", "map_region_base"]

# Distance between region bases: larger than any region, so that an
# out-of-bounds pointer falls into a gap.
REGION_SPAN = 1 << 32

# Regions at fixed addresses, where the engine's hardware decodes them (the
# model and the gateware give a program the same pointers). The packet frame
# sits below 2**32 because struct xdp_md holds 32-bit pointers. Regions
# allocated without a base go above these.
PACKET_BASE = 0x1000_0000
CONTEXT_BASE = 1 * REGION_SPAN
STACK_BASE = 2 * REGION_SPAN
_FIRST_FREE_BASE = 16 * REGION_SPAN

# Map value regions: the n-th (a map's, or one CPU's copy of a per-CPU
# map's, in the order the maps are made) at MAP_BASE + n * MAP_STRIDE, so
# that the hardware finds the region from address bits 33 up.
MAP_BASE = 1 << 40
MAP_STRIDE = 2 * REGION_SPAN


def map_region_base(n: int) -> int:
    return MAP_BASE + n * MAP_STRIDE


class MemoryFault(Exception):
    """An access outside every region, or a write to a read-only one."""

    def __init__(self, message: str, pc: int | None = None):
        super().__init__(message if pc is None else f"pc {pc}: {message}")
        self.pc = pc
        self.reason = message


@dataclass
class Region:
    """``size`` bytes of ``data`` starting at ``base``; ``data`` may be shared
    with its owner (a map keeps the bytearray, the region only points at it)."""
    name: str
    base: int
    data: bytearray
    writable: bool = True
    start: int = 0          # first valid offset into data (packet headroom)
    end: int | None = None  # one past the last valid offset; None = len(data)

    @property
    def limit(self) -> int:
        return len(self.data) if self.end is None else self.end

    def contains(self, addr: int, size: int) -> bool:
        off = addr - self.base
        return self.start <= off and off + size <= self.limit


class Memory:
    """Regions by base address; reads and writes are little-endian."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._regions: list[Region] = []
        self._next_base = _FIRST_FREE_BASE

    def allocate(self, name: str, data: bytearray, writable: bool = True, base: int | None = None,
                 **kw) -> Region:
        """Map ``data`` at ``base`` (one of the fixed bases above) or at a fresh
        base address, and return its region."""
        if base is None:
            size = max(len(data), 1)
            base = self._next_base
            self._next_base += ((size + REGION_SPAN - 1) // REGION_SPAN + 1) * REGION_SPAN
        region = Region(name, base, data, writable, **kw)
        self.add(region)
        return region

    def add(self, region: Region) -> None:
        i = bisect.bisect(self._bases, region.base)
        self._bases.insert(i, region.base)
        self._regions.insert(i, region)

    def remove(self, region: Region) -> None:
        i = self._regions.index(region)
        del self._bases[i]
        del self._regions[i]

    def find(self, addr: int, size: int, pc: int | None = None) -> tuple[Region, int]:
        """The region holding ``size`` bytes at ``addr``, and the offset in it."""
        i = bisect.bisect(self._bases, addr) - 1
        if i >= 0:
            region = self._regions[i]
            if region.contains(addr, size):
                return region, addr - region.base
            if addr - region.base < REGION_SPAN:
                raise MemoryFault(
                    f"{size}-byte access at offset {addr - region.base - region.start} is outside "
                    f"{region.name} ({region.limit - region.start} bytes)", pc)
        raise MemoryFault(f"{size}-byte access at 0x{addr:x} is not in any memory region", pc)

    def read(self, addr: int, size: int, pc: int | None = None) -> int:
        region, off = self.find(addr, size, pc)
        return int.from_bytes(region.data[off:off + size], "little")

    def write(self, addr: int, size: int, value: int, pc: int | None = None) -> None:
        region, off = self.find(addr, size, pc)
        if not region.writable:
            raise MemoryFault(f"write to read-only {region.name}", pc)
        region.data[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def read_bytes(self, addr: int, size: int, pc: int | None = None) -> bytes:
        region, off = self.find(addr, size, pc)
        return bytes(region.data[off:off + size])

    def write_bytes(self, addr: int, data: bytes, pc: int | None = None) -> None:
        region, off = self.find(addr, len(data), pc)
        if not region.writable:
            raise MemoryFault(f"write to read-only {region.name}", pc)
        region.data[off:off + len(data)] = data
