"""Where an image's maps live in the engine's map memory.

One definition for the gateware's map table, the host drivers that load
and read maps, and the checks that refuse what the engine cannot hold. Map
n (in the image's order) has handle ``map_handle(n)``; a program sees its
values at ``map_region_base(n)``, as the interpreter and the model place
them; in the map memory they are ``value_size * max_entries`` bytes from
``offset``, 8-byte aligned.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .ebpf.maps import map_handle
from .ebpf.memory import map_region_base
from .ebpf.program import MapDef, MapType
from .errors import HxdpError
from .target import Target

__all__ = ["MapKind", "MapPlacement", "map_layout", "KINDS"]


class MapKind(enum.IntEnum):
    """What the helper unit does to find a key's value."""
    ARRAY = 0           # index arithmetic: the key is the entry number


# Map types the engine holds, by how its helper unit looks them up. A
# per-CPU array is one array on a one-core engine.
KINDS: dict[MapType, MapKind] = {MapType.ARRAY: MapKind.ARRAY, MapType.PERCPU_ARRAY: MapKind.ARRAY}


@dataclass(frozen=True)
class MapPlacement:
    index: int
    map: MapDef
    kind: MapKind
    offset: int          # bytes into the map memory
    size: int            # bytes of values

    @property
    def handle(self) -> int:
        return map_handle(self.index)

    @property
    def region_base(self) -> int:
        return map_region_base(self.index)


def map_layout(name: str, maps: list[MapDef], target: Target) -> list[MapPlacement]:
    """Place ``maps`` (of the program ``name``) one after another, or say why
    the engine of ``target`` cannot hold them."""
    if len(maps) > target.map_slots:
        raise HxdpError(f"{name}: {len(maps)} maps; the engine holds {target.map_slots} "
                        "(Target.map_slots)")
    if target.cores != 1 and any(m.type is MapType.PERCPU_ARRAY for m in maps):
        raise HxdpError(f"{name}: per-CPU maps on a {target.cores}-core engine are not supported yet")
    placed, offset = [], 0
    for n, m in enumerate(maps):
        kind = KINDS.get(m.type)
        if kind is None:
            raise HxdpError(f"{name}: map {m.name} is a {m.type.name.lower()} map; the engine's map "
                            f"memories hold {', '.join(t.name.lower() for t in KINDS)} maps so far "
                            "(run it on the model: --engine model)")
        size = m.value_size * m.max_entries
        placed.append(MapPlacement(n, m, kind, offset, size))
        offset += -(-size // 8) * 8
    if offset > target.map_bytes:
        raise HxdpError(f"{name}: its maps need {offset} bytes; the engine's map memory has "
                        f"{target.map_bytes} (Target.map_bytes)")
    return placed
