"""The map table: for each map slot, what `hxdp.maplayout` placed there
(`map_entry_layout`). The host writes it a field at a time when it loads a
program (docs/engine.md); the cores read it through ports of their own.

Each field is a small memory read in the same cycle (LUT RAM on an FPGA),
and a port reads only the fields its user takes: a read costs about a LUT
a bit, where a multiplexer over registers costs four, and there are
several a core (each lane's address, a helper call's key and value
pointers, the called map).
"""

from amaranth.hdl import Module, Value
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..maplayout import MAX_LPM_KEY_BYTES, MapKind, MapPlacement, prefix_lengths
from ..target import Target

__all__ = ["LPM_LENGTHS", "PLACE_FIELDS", "map_entry_layout", "map_entry", "table_read_signature", "MapTable"]

LPM_LENGTHS = 8 * (MAX_LPM_KEY_BYTES - 4) + 1

# What placing an access in a map's values needs.
PLACE_FIELDS = ("offset", "size", "readonly", "cpu_stride")


def map_entry_layout(target: Target, fields: tuple[str, ...] | None = None) -> data.StructLayout:
    """The whole entry, or only ``fields`` of it."""
    layout = {
        "offset": range(target.map_bytes),           # of its values in the map memory
        "size": range(target.map_bytes + 1),         # bytes of values
        "key_size": 16,
        "value_size": 16,
        "entries": 32,
        "kind": MapKind,
        "readonly": 1,
        "lru": 1,                                    # hash maps: LRU (use stamps, eviction)
        "lpm": 1,                                    # hash maps: LPM (keys cut to a prefix)
        "lengths": LPM_LENGTHS,                      # LPM maps: bit n, prefix length n held
        "keys": range(target.map_bytes),             # hash maps: of the key records
        "slot_bits": 5,                              # log2 of the slots
        "record_bits": 4,                            # log2 of a record's bytes
        "cpu_stride": range(target.map_bytes),       # per-CPU maps: from one core's values to the next
    }
    return data.StructLayout({name: shape for name, shape in layout.items() if fields is None or name in fields})


def map_entry(p: MapPlacement, image: bytes) -> dict[str, int]:
    """Map ``p``'s table entry (the fields of `map_entry_layout`), its area
    of the map memory holding ``image``."""
    hashed = p.kind is MapKind.HASH
    g = p.geometry
    return {"offset": p.values_offset, "size": p.values, "key_size": p.map.key_size,
            "value_size": p.map.value_size, "entries": p.map.max_entries, "kind": p.kind,
            "readonly": int(p.map.readonly), "keys": p.records_offset,
            "slot_bits": g.slot_bits if hashed else 0,
            "record_bits": g.record_bytes.bit_length() - 1 if hashed else 0,
            "lru": int(p.lru), "lpm": int(p.lpm), "lengths": prefix_lengths(p, image),
            "cpu_stride": p.cpu_stride}


def table_read_signature(target: Target, fields: tuple[str, ...] | None = None) -> wiring.Signature:
    """From the reader's side: ``entry`` holds slot ``slot``'s fields in the same cycle."""
    return wiring.Signature({"slot": Out(range(target.map_slots)), "entry": In(map_entry_layout(target, fields))})


class MapTable(wiring.Component):
    """``places`` ports reading `PLACE_FIELDS`, ``calls`` ports reading the
    whole entry; ``entries`` are the table's first contents (slot by slot,
    from slot 0; the rest zero). The host writes the bits of slot
    ``w_slot`` that ``w_mask`` selects (`write_field`)."""

    def __init__(self, target: Target, places: int, calls: int, entries: list[dict[str, int]]):
        self.target = target
        self.entries = entries
        layout = map_entry_layout(target)
        super().__init__({
            "places": In(table_read_signature(target, PLACE_FIELDS)).array(places),
            "calls": In(table_read_signature(target)).array(calls),
            "w_slot": In(range(target.map_slots)),
            "w_data": In(layout),
            "w_mask": In(layout.size),
        })

    def write_field(self, m: Module, name: str, value: Value, start: int = 0, stop: int | None = None) -> None:
        """In ``m``: bits ``start`` to ``stop`` of field ``name`` of slot
        ``w_slot`` become ``value`` at the end of this cycle."""
        field = self.w_data.shape()[name]
        stop = field.width if stop is None else stop
        bits = slice(field.offset + start, field.offset + stop)
        m.d.comb += [self.w_data.as_value()[bits].eq(value), self.w_mask[bits].eq(-1)]

    def elaborate(self, platform) -> Module:
        m = Module()
        layout = self.w_data.shape()
        data_bits, mask = self.w_data.as_value(), self.w_mask
        for name, field in layout:
            width = field.width
            init = [int(entry[name]) for entry in self.entries]
            mem = memory.Memory(shape=width, depth=self.target.map_slots, init=init)
            m.submodules[f"field_{name}"] = mem
            write = mem.write_port(granularity=1)
            bits = slice(field.offset, field.offset + width)
            m.d.comb += [write.addr.eq(self.w_slot), write.data.eq(data_bits[bits]), write.en.eq(mask[bits])]
            for port in (*self.places, *self.calls):
                if name in port.entry.shape().members:
                    read = mem.read_port(domain="comb")
                    at = port.entry.shape()[name].offset
                    m.d.comb += [read.addr.eq(port.slot), port.entry.as_value()[at:at + width].eq(read.data)]
        return m
