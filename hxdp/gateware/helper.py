"""The helper unit and the map table it and the load/store ports read.

The map table holds, for each map slot, what `hxdp.maplayout` placed
there; the host writes it when it loads a program (docs/engine.md).

``bpf_map_lookup_elem`` on an array runs in the model's ``Latency.helper``
(2) cycles: the core reads the key in the cycle the call issues, and the
unit computes the value's address from it in the next, at whose end r0 is
written. A call to a helper the unit does not run ends the packet with an
UNSUPPORTED fault; a handle that names no map, with a MAP fault.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.helpers import HelperId
from ..ebpf.maps import HANDLE_BASE, HANDLE_STEP
from ..ebpf.memory import MAP_BASE, MAP_STRIDE
from ..maplayout import MapKind
from ..target import Target

__all__ = ["map_entry_layout", "HelperUnit", "HELPERS_IN_HARDWARE", "slot_of_handle"]

# Helpers the unit runs; calls to others fault.
HELPERS_IN_HARDWARE = frozenset({HelperId.MAP_LOOKUP_ELEM})

HANDLE_SHIFT = (HANDLE_STEP - 1).bit_length()
MAP_SHIFT = (MAP_STRIDE - 1).bit_length()


def map_entry_layout(target: Target) -> data.StructLayout:
    return data.StructLayout({
        "offset": range(target.map_bytes),           # of its values in the map memory
        "size": range(target.map_bytes + 1),         # bytes of values
        "key_size": 16,
        "value_size": 16,
        "entries": 32,
        "kind": MapKind,
        "readonly": 1,
    })


def slot_of_handle(m: Module, target: Target, handle) -> tuple[Signal, Signal]:
    """The map slot a 64-bit ``handle`` names, and whether it is one (below
    ``map_slots``; the caller checks it against the loaded maps)."""
    slot = Signal(range(target.map_slots))
    valid = Signal()
    slot_bits = (target.map_slots - 1).bit_length()
    m.d.comb += [
        slot.eq(handle[HANDLE_SHIFT:HANDLE_SHIFT + slot_bits]),
        valid.eq((handle[:HANDLE_SHIFT] == 0) &
                 (handle[HANDLE_SHIFT + slot_bits:] == HANDLE_BASE >> (HANDLE_SHIFT + slot_bits))),
    ]
    return slot, valid


class HelperUnit(wiring.Component):
    """``start`` in the issue cycle, with the helper ``number`` and the map
    ``slot`` (from r1) and its table ``entry``; ``key`` the cycle after, when
    ``result`` is r0."""

    def __init__(self, target: Target):
        self.target = target
        super().__init__({
            "start": In(1),
            "number": In(32),
            "slot": In(range(target.map_slots)),
            "entry": In(map_entry_layout(target)),
            "supported": Out(1),         # the number is a helper the unit runs
            "key": In(64),
            "result": Out(64),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.d.comb += self.supported.eq(self.number == HelperId.MAP_LOOKUP_ELEM)
        entries = Signal(32)
        value_size = Signal(16)
        slot = Signal.like(self.slot)
        with m.If(self.start):
            m.d.sync += [entries.eq(self.entry.entries), value_size.eq(self.entry.value_size),
                         slot.eq(self.slot)]
        index = self.key[:32]
        address = MAP_BASE + (slot << MAP_SHIFT) + index * value_size
        m.d.comb += self.result.eq(Mux(index < entries, address, 0))
        return m
