"""The helper unit: bpf_map_lookup_elem, bpf_map_update_elem,
bpf_map_delete_elem, bpf_redirect_map and bpf_redirect in the cycles
`hxdp.model.helper_timing` gives. A lookup in an array, a redirect through
a devmap and a plain redirect read what they need in the call's cycle and
give r0 at the end of the next, while later rows go on (a redirect also
sets the packet's egress ifindex), and so do the changes of the packet's
bounds (bpf_xdp_adjust_head, _meta and _tail; the new bounds hold from the
row after the call); growing the tail holds the core while the unit zeroes
the new bytes through the packet buffer's store port. On a hash map the unit
holds the core while it reads the key a word a cycle, probes the key records
(`hxdp.ebpf.hashtable`), and copies the value and writes the record through
the map memory's store port (a key new to a per-CPU map on several cores
has the other cores' copies of its value zeroed, as the kernel does). The
probe is a short pipeline, so that no
cycle holds both a memory's output and a decision on it: the key's hash,
then its home record's address, each get a cycle (an LPM lookup's rounds,
one a prefix length, are prepared so while the round before probes); a
record's words are read a cycle each ahead of the checks: each word is
compared with the key (or its header's hash with the key's) as it comes
from the memory, and the check takes the outcome from a register two
cycles after the word was asked for; a record that is not the key's
restarts the reads at the next. A call of another helper ends the packet with
an UNSUPPORTED fault, as does moving the head of a packet that has
metadata (the metadata would have to move with it); a handle that names no
map, with a MAP fault.
"""

import enum
import errno
from typing import NamedTuple

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.hashtable import HASH_MULTIPLIER, HASH_ROTATE, STAMP_BITS, SlotState
from ..ebpf.helpers import PACKET_HELPERS, HelperId
from ..ebpf.interp import CONFORMANCE_IDENTITY
from ..ebpf.runtime import ETH_HLEN, FRAME_SIZE, MAX_META, XDP_FRAME_STRUCT
from ..ebpf.maps import HANDLE_BASE, HANDLE_STEP, UpdateFlag
from ..ebpf.memory import MAP_BASE, MAP_STRIDE
from ..ebpf.xdp import TAILROOM, XdpAction
from ..maplayout import DEVMAP_PRESENT, MAX_KEY_BYTES, MapKind
from ..target import Target
from .bits import low_bytes, low_ones, one_of
from .maptable import LPM_LENGTHS, map_entry_layout

__all__ = ["packet_layout", "HelperUnit", "HELPERS_IN_HARDWARE", "MAP_HELPERS", "KEYED_HELPERS",
           "slot_of_handle", "Space", "HANDLE_SHIFT", "MAP_SHIFT"]

# Helpers the unit runs; calls to others fault.
HELPERS_IN_HARDWARE = frozenset({HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM, HelperId.MAP_DELETE_ELEM,
                                 HelperId.REDIRECT_MAP, HelperId.REDIRECT, *PACKET_HELPERS})
# The helpers whose r1 is a map, and those whose r2 points at a key.
MAP_HELPERS = frozenset({HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM, HelperId.MAP_DELETE_ELEM,
                         HelperId.REDIRECT_MAP})
KEYED_HELPERS = frozenset({HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM, HelperId.MAP_DELETE_ELEM})

HANDLE_SHIFT = (HANDLE_STEP - 1).bit_length()
MAP_SHIFT = (MAP_STRIDE - 1).bit_length()
MAX_KEY_WORDS = MAX_KEY_BYTES // 8
M64 = (1 << 64) - 1


class Space(enum.IntEnum):
    """The memory a helper reads from."""
    STACK = 0
    PACKET = 1
    MAP = 2


def packet_layout() -> data.StructLayout:
    """A packet's bounds: offsets into its frame in the packet buffer."""
    bits = (FRAME_SIZE - 1).bit_length() + 1
    return data.StructLayout({"meta": bits, "data": bits, "end": bits})


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


class _Bounds(NamedTuple):
    """A bounds helper, decided in the call's cycle."""
    result: Value           # r0
    grows: Value            # the tail grows: bytes to zero
    delta: Value
    head_needs_move: Value  # a valid head move over metadata, which the unit does not do


class HelperUnit(wiring.Component):
    """``offered`` in every cycle a call waits at the core's issue stage and
    ``start`` in the one it issues, with the helper ``number``, the map
    ``slot`` r1 names, its table ``entry`` and ``used`` count, where the
    key (r2) and the value (r3) point, and r1 to r4. ``read_*`` is the
    unit's port on the memories (the data comes the cycle after, from the
    space asked), ``write_*`` its way into the map memory's store port.
    ``done``: r0 = ``result`` at the end of this cycle; ``busy``: the core
    must not issue; ``holds``: the call starting keeps it busy until done.
    ``cpu``: the core's number, whose copy of a per-CPU map's values it
    writes."""

    def __init__(self, target: Target, addr_bits: int, packet_bits: int, cpu: int = 0):
        self.target = target
        self.cpu = cpu
        self.map_bits = (target.map_bytes - 1).bit_length()
        super().__init__({
            "offered": In(1),
            "start": In(1),
            "number": In(32),
            "slot": In(range(target.map_slots)),
            "entry": In(map_entry_layout(target)),
            "used": In(32),                              # keys in the map (of ``used_slot`` while busy)
            "clock": In(STAMP_BITS),                     # an LRU map's use clock (of ``used_slot`` while busy)
            "key_space": In(Space),
            "key_addr": In(addr_bits),
            "value_space": In(Space),
            "value_addr": In(addr_bits),
            "args": In(data.ArrayLayout(64, 4)),         # r1 to r4
            "conformance": In(1),                        # the conformance suite's helper, not the kernel's
            "supported": Out(1),
            "read_en": Out(1),
            "read_space": Out(Space),
            "read_addr": Out(addr_bits),
            "read_data": In(64),
            "write_en": Out(1),
            "write_addr": Out(self.map_bits),
            "write_data": Out(64),
            "write_mask": Out(8),
            "holds": Out(1),                             # the call starting holds the core until it is done
            "busy": Out(1),
            # The map lock, on several cores: a probe starts with it and
            # keeps it until done (``locked``), so no other core reads or
            # writes the map memory's records meanwhile.
            "lock_want": Out(1),
            "lock_grant": In(1),
            "locked": Out(1),
            "done": Out(1),
            "result": Out(64),
            "used_slot": Out(range(target.map_slots)),
            "used_change": Out(signed(2)),
            "clock_tick": Out(1),                        # the slot's use clock advances
            "redirect": Out(1),                          # the packet's egress is ``ifindex``
            "ifindex": Out(32),
            "packet": In(packet_layout()),
            "move_packet": Out(1),                       # the packet's bounds are ``moved`` from the next cycle
            "moved": Out(packet_layout()),
            "zero_en": Out(1),                           # zero bytes of the packet buffer
            "zero_addr": Out(packet_bits),
            "zero_mask": Out(8),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        t = self.target
        bounds = self._bounds(m)
        # Lookups in arrays and hash maps, updates and deletes in hash maps,
        # redirects through devmaps, plain redirects, and bounds changes.
        kind_in = self.entry.kind
        m.d.comb += self.supported.eq(
            (self.number == HelperId.MAP_LOOKUP_ELEM) & (kind_in != MapKind.DEVMAP) |
            (kind_in == MapKind.HASH) & ~self.entry.lpm & ((self.number == HelperId.MAP_UPDATE_ELEM) |
                                                           (self.number == HelperId.MAP_DELETE_ELEM)) |
            (self.number == HelperId.REDIRECT_MAP) & (kind_in == MapKind.DEVMAP) |
            (self.number == HelperId.REDIRECT) |
            self.conformance & (self.number == CONFORMANCE_IDENTITY) |
            (self.number == HelperId.XDP_ADJUST_META) | (self.number == HelperId.XDP_ADJUST_TAIL) |
            (self.number == HelperId.XDP_ADJUST_HEAD) & ~bounds.head_needs_move)

        # What the call named, kept while it runs.
        number = Signal(32)
        slot = Signal.like(self.slot)
        entry = Signal(map_entry_layout(t))
        key_space, value_space = Signal(Space), Signal(Space)
        key_addr, value_addr = Signal.like(self.key_addr), Signal.like(self.value_addr)
        args = Signal(data.ArrayLayout(64, 4))
        flags = args[3]
        used = Signal(32)
        clock = Signal(STAMP_BITS)
        bounds_result = Signal(64)
        quick = Signal()             # a call answered in the cycle after it (all but table probes and zeroing)
        # Any other call's r0 is an error (-errno), 0, or the found value's
        # address: an error code and a flag, so that r0 has few sources.
        failed = Signal(range(max(errno.EINVAL, errno.ENOENT, errno.EEXIST, errno.E2BIG) + 1))
        gives_address = Signal()
        m.d.comb += self.used_slot.eq(slot)
        # Taken in every cycle the unit is idle, so that ``start`` (the end
        # of the core's issue decision) enables none of them.
        with m.If(~self.busy):
            m.d.sync += [number.eq(self.number), slot.eq(self.slot),
                         entry.eq(self.entry), key_space.eq(self.key_space), key_addr.eq(self.key_addr),
                         value_space.eq(self.value_space), value_addr.eq(self.value_addr),
                         args.eq(self.args), used.eq(self.used), clock.eq(self.clock),
                         bounds_result.eq(bounds.result)]
        # One core has the map memory to itself; on several, ``used`` and
        # ``clock`` are taken again when the probe gets the lock.
        several = t.cores > 1
        locked = self.locked
        granted = self.lock_grant if several else Const(1)
        probes_table = Signal()           # the call starts the state machine below
        m.d.comb += probes_table.eq((self.entry.kind == MapKind.HASH) & ~self.conformance &
                                    one_of(self.number, KEYED_HELPERS))
        m.d.sync += quick.eq(self.start & ~bounds.grows & ~probes_table)
        m.d.comb += self.holds.eq(bounds.grows | probes_table)

        key_words = Signal(range(MAX_KEY_WORDS + 1))
        value_words = Signal(14)
        m.d.comb += [key_words.eq((entry.key_size + 7) >> 3), value_words.eq((entry.value_size + 7) >> 3)]
        slots = Signal(33)
        m.d.comb += slots.eq(1 << entry.slot_bits)

        def record(at, word=0):
            """Map memory address of word ``word`` of slot ``at``'s record."""
            return entry.keys + (at << entry.record_bits) + 8 * word

        # The slot being probed, whose value is found or written. What follows
        # from it (its record's address, the next record's, its value's offset)
        # is registered a cycle after it changes, which is never sooner than
        # it is used.
        current = Signal(32)
        record_at, next_record_at = Signal(self.map_bits), Signal(self.map_bits)
        # A value's offset lies inside map memory (its map's values are
        # there), so the map memory's width is enough for it.
        product = Signal(self.map_bits)
        m.d.sync += [record_at.eq(record(current)), next_record_at.eq(record((current + 1) & (slots - 1))),
                     product.eq(current * entry.value_size)]
        # An array lookup's index arrives in the cycle after the call; only an
        # index in range gives an address, so its low bits are enough, and
        # the multiply is one DSP with no adders behind it.
        index_product = Signal(self.map_bits)
        m.d.comb += index_product.eq(self.read_data[:self.map_bits] * entry.value_size)

        # Where the value's words go: this core's copy of them and, for a
        # new key of a per-CPU map on several cores, the others' copies,
        # which are zeroed (one after another, skipping this core's).
        others = [c for c in range(t.cores) if c != self.cpu]
        own_value = entry.offset + product
        if several:
            own_value += self.cpu * entry.cpu_stride
        other = Signal(range(max(len(others), 1)))
        other_value = Signal(self.map_bits)

        def value_address(offset: Value) -> Value:
            """Offsets are far below MAP_STRIDE: the slot's base and the
            offset take separate bits, joined without a carry chain."""
            return (MAP_BASE + (slot << MAP_SHIFT)) | offset

        # Every call reads its key's first word in its issue cycle; a
        # redirect through a devmap, the entry its r2 names. The read goes out
        # in every cycle the call is offered (a read changes nothing), so the
        # memory's port does not wait for the core's decision to issue it.
        devmap_key = self.args[1][:32]
        m.d.comb += self.read_en.eq(self.offered & ~self.busy)
        with m.If(self.number == HelperId.REDIRECT_MAP):
            m.d.comb += [self.read_space.eq(Space.MAP), self.read_addr.eq(self.entry.offset + (devmap_key << 3))]
        with m.Else():
            m.d.comb += [self.read_space.eq(self.key_space), self.read_addr.eq(self.key_addr)]
        with m.If(quick):
            m.d.comb += self.done.eq(1)
            with m.Switch(number):
                with m.Case(HelperId.MAP_LOOKUP_ELEM):
                    m.d.comb += self.result.eq(Mux(self.read_data[:32] < entry.entries,
                                                   value_address(index_product), 0))
                with m.Case(HelperId.REDIRECT_MAP):
                    present = (args[1][:32] < entry.entries) & ((self.read_data & DEVMAP_PRESENT) != 0)
                    m.d.comb += [self.result.eq(Mux(present, XdpAction.REDIRECT, args[2][:2])),
                                 self.redirect.eq(present), self.ifindex.eq(self.read_data[:32])]
                with m.Case(HelperId.REDIRECT):
                    m.d.comb += [self.result.eq(Mux(args[1] == 0, XdpAction.REDIRECT, XdpAction.ABORTED)),
                                 self.redirect.eq(args[1] == 0), self.ifindex.eq(args[0][:32])]
                with m.Case(*PACKET_HELPERS):
                    m.d.comb += self.result.eq(bounds_result)
                with m.Case(CONFORMANCE_IDENTITY):
                    m.d.comb += self.result.eq(args[0])
        with m.Else():
            error = Signal(signed(len(failed) + 1))
            m.d.comb += [error.eq(-failed), self.result.eq(Mux(gives_address, value_address(product), error))]

        zero_at = Signal(len(self.zero_addr))
        zero_left = Signal(range(FRAME_SIZE))
        key = Array(Signal(64, name=f"key{i}") for i in range(MAX_KEY_WORDS))
        fold = Signal(64)
        word = Signal(range(MAX_KEY_WORDS + 1))          # key word arriving
        arriving = Signal(64)
        m.d.comb += arriving.eq(self.read_data & low_bytes(entry.key_size - 8 * word, 8))
        key_hash = Signal(32)
        unprobed = Signal(33)             # the slots the probe has not checked a header of
        free, free_found = Signal(32), Signal()
        has_room = Signal()               # the probe found a deleted or empty slot
        oldest, victim, seen = Signal(STAMP_BITS), Signal(32), Signal()
        lengths_left = Signal(LPM_LENGTHS)    # an LPM lookup's prefix lengths still to try
        cut_key = Signal(64)                  # the key cut to the length being tried
        inserting = Signal()
        step = Signal(range(max(MAX_KEY_WORDS, 1 << 13) + 3))     # words copied, written or read
        # Probes and evictions decide on a word read two cycles before, from a
        # register: the word asked for in cycle t is in ``word_read`` in t + 2.
        word_read = Signal(64)
        m.d.sync += word_read.eq(self.read_data)

        def ask(space, address) -> list:
            """Read 8 bytes at ``address`` of ``space``; they come the next cycle."""
            return [self.read_en.eq(1), self.read_space.eq(space), self.read_addr.eq(address)]

        def finish(*, error: Value | int = 0, address: Value | int = 0) -> list:
            return [self.done.eq(1), failed.eq(error), gives_address.eq(address)]

        def header(state, stamp) -> Value:
            return Cat(Const(state, 2), stamp, key_hash)

        # The probe's reads run ahead of its checks: a record's header and key
        # words are asked for a cycle each, and checked as they come back; a
        # record that is not the key's restarts the reads at the next record.
        asking = Signal(range(MAX_KEY_WORDS + 2))     # the record's word asked next (0: its header)
        ask_at = Signal(self.map_bits)
        in_flight = [(Signal(name=f"probe_valid{i}"), Signal(range(MAX_KEY_WORDS + 1), name=f"probe_word{i}"))
                     for i in range(2)]
        (asked_valid, asked_word), (checked_valid, checked_word) = in_flight
        asked_last, checked_last = Signal(), Signal()     # the word is the key's last
        # A word is compared as it comes from the memory and the outcome
        # kept, so the check a cycle later starts from registers.
        hash_matches, key_matches = Signal(), Signal()
        expected = Mux(entry.lpm, cut_key, key[(asked_word - 1)[:len(word)]])
        m.d.sync += [hash_matches.eq(self.read_data[32:] == key_hash), key_matches.eq(self.read_data == expected)]
        restart = Signal()            # the next slot's header is asked for
        new_round = Signal()          # the prepared round's home header is asked for

        def asker(m: Module) -> None:
            address = Mux(new_round, ready_at, Mux(restart, next_record_at, ask_at))
            jumps = new_round | restart
            asks = jumps | (asking <= key_words)
            m.d.comb += ask(Space.MAP, address)
            asked = Mux(jumps, 0, asking)
            m.d.sync += [ask_at.eq(address + 8), asking.eq(Mux(jumps, 1, asking + asks)),
                         asked_valid.eq(asks), asked_word.eq(asked), asked_last.eq(asked == key_words),
                         checked_valid.eq(asked_valid & ~jumps), checked_word.eq(asked_word),
                         checked_last.eq(asked_last)]

        # Rounds are prepared ahead of the probe, a stage a cycle: the key to
        # look for (the folded key, or an LPM key cut to the longest prefix
        # length left), its hash, then its home slot and record. An LPM lookup
        # finds its next round ready when a round ends without the key.
        cut_valid, hash_valid, ready = Signal(), Signal(), Signal()
        cut_value, hash_key, ready_key = Signal(64), Signal(64), Signal(64)
        hash_value, ready_hash, ready_slot = Signal(32), Signal(32), Signal(32)
        ready_at = Signal(self.map_bits)
        ready_free = ~ready | new_round
        hash_free = ~hash_valid | ready_free
        cut_free = ~cut_valid | hash_free
        with m.If(ready_free):
            home_record = hash_value >> (32 - entry.slot_bits - entry.record_bits).as_unsigned()
            m.d.sync += [ready.eq(hash_valid), ready_key.eq(hash_key), ready_hash.eq(hash_value),
                         ready_slot.eq(Mux(entry.slot_bits == 0, 0, hash_value >> (32 - entry.slot_bits).as_unsigned())),
                         ready_at.eq(entry.keys + (home_record & ~((1 << entry.record_bits) - 1)))]
        with m.If(hash_free):
            m.d.sync += [hash_valid.eq(cut_valid), hash_key.eq(cut_value),
                         hash_value.eq((cut_value[:32] ^ cut_value[32:]) * HASH_MULTIPLIER)]
        with m.If(cut_free):
            prefix = Signal(range(LPM_LENGTHS))
            for n in range(LPM_LENGTHS):
                with m.If(lengths_left[n]):
                    m.d.comb += prefix.eq(n)
            # The address bytes are big-endian: byte j keeps its top
            # prefix - 8j bits (none to all eight). A one-word key folds to itself.
            address = key[0][32:]
            masks = []
            for j in range(4):
                bits = Mux(prefix >= 8 * (j + 1), 8, Mux(prefix > 8 * j, prefix - 8 * j, 0))
                masks.append((Const(0xFF00, 16) >> bits.as_unsigned())[:8])
            m.d.sync += [cut_valid.eq(lengths_left != 0), lengths_left.eq(lengths_left & ~(1 << prefix)),
                         cut_value.eq(Cat(prefix, Const(0, 32 - len(prefix)),
                                          *(address[8 * j:8 * j + 8] & masks[j] for j in range(4))))]

        def start_round(m: Module) -> None:
            """Probe the prepared round's key from its home slot. The
            registers a round starts from are set in one place, after the
            state machine: one multiplexer each for a new round, not one
            for every state that starts one."""
            m.d.comb += new_round.eq(1)

        def decide(m: Module, found, empty) -> None:
            """The probe ended in this cycle: the key is at ``current``, or
            absent (and ``current`` is ``empty``, or every slot was probed)."""
            at = current
            free_at = Mux(free_found, free, at)
            with m.Switch(number):
                with m.Case(HelperId.MAP_LOOKUP_ELEM):
                    with m.If(found & entry.lru):
                        m.next = "TOUCH"
                    with m.Elif(~found & entry.lpm & ready):
                        start_round(m)
                    with m.Else():
                        m.d.comb += finish(address=found)
                        m.next = "IDLE"
                with m.Case(HelperId.MAP_DELETE_ELEM):
                    with m.If(found):
                        m.next = "DELETE"
                    with m.Else():
                        m.d.comb += finish(error=errno.ENOENT)
                        m.next = "IDLE"
                with m.Default():                        # update
                    with m.If(flags > UpdateFlag.EXIST):
                        m.d.comb += finish(error=errno.EINVAL)
                        m.next = "IDLE"
                    with m.Elif(found & (flags == UpdateFlag.NOEXIST)):
                        m.d.comb += finish(error=errno.EEXIST)
                        m.next = "IDLE"
                    with m.Elif(~found & (flags == UpdateFlag.EXIST)):
                        m.d.comb += finish(error=errno.ENOENT)
                        m.next = "IDLE"
                    with m.Elif(~found & (used >= entry.entries) & ~entry.lru):
                        m.d.comb += finish(error=errno.E2BIG)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [current.eq(Mux(found, at, free_at)), inserting.eq(~found), step.eq(0),
                                     has_room.eq(free_found | empty), seen.eq(0)]
                        with m.If(~found & (used >= entry.entries)):
                            m.next = "EVICT"
                        with m.Else():
                            m.next = "COPY"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start & bounds.grows):
                    m.d.sync += [zero_at.eq(self.packet.end), zero_left.eq(bounds.delta), step.eq(0)]
                    m.next = "ZERO"
                with m.Elif(self.start & probes_table):
                    m.d.sync += [word.eq(0), fold.eq(0), lengths_left.eq(0),
                                 cut_valid.eq(0), hash_valid.eq(0), ready.eq(0)]
                    m.next = "KEY"
            with m.State("KEY"):
                # One key word arrives a cycle; the next is asked for.
                m.d.comb += self.busy.eq(1)
                folded = Cat(fold[64 - HASH_ROTATE:], fold[:64 - HASH_ROTATE]) ^ arriving
                m.d.sync += [key[word].eq(arriving), word.eq(word + 1), fold.eq(folded)]
                with m.If(word + 1 < key_words):
                    m.d.comb += ask(key_space, key_addr + 8 * (word + 1))
                with m.Elif(entry.lpm):
                    m.next = "LPM_LENGTHS"
                with m.Else():
                    m.d.sync += [cut_valid.eq(1), cut_value.eq(folded)]
                    m.next = "WAIT"
            with m.State("LPM_LENGTHS"):
                # The lengths to try: those held, up to the key's own.
                m.d.comb += self.busy.eq(1)
                data_bits = (entry.key_size - 4) << 3
                own = key[0][:32]
                limit = Mux(own < data_bits, own, data_bits)
                m.d.sync += lengths_left.eq(entry.lengths & low_ones(limit + 1, LPM_LENGTHS))
                m.next = "WAIT"
            with m.State("WAIT"):
                # For the first round to be prepared and, on several cores,
                # the map lock; an LPM key with no length to try is not found.
                m.d.comb += self.busy.eq(1)
                if several:
                    m.d.comb += self.lock_want.eq(ready)
                with m.If(ready):
                    with m.If(granted):
                        start_round(m)
                        asker(m)
                        if several:
                            # The keys held and the use clock as the core before left them.
                            m.d.sync += [locked.eq(1), used.eq(self.used), clock.eq(self.clock)]
                        m.next = "PROBE"
                with m.Elif(~cut_valid & ~hash_valid & (lengths_left == 0)):
                    m.d.comb += finish()
                    m.next = "IDLE"
            with m.State("PROBE"):
                m.d.comb += self.busy.eq(1)
                # Check the word that comes back in this cycle.
                checks_header = checked_valid & (checked_word == 0)
                checks_key = checked_valid & (checked_word != 0)
                state = word_read[:2]
                last_slot = Mux(checks_header, unprobed == 1, unprobed == 0)     # none is left after this one
                reject = Signal()
                with m.If(checks_header):
                    m.d.sync += unprobed.eq(unprobed - 1)
                    with m.If(state == SlotState.EMPTY):
                        decide(m, Const(0), Const(1))
                    with m.Elif(~((state == SlotState.USED) & hash_matches)):
                        m.d.comb += reject.eq(1)
                        with m.If((state == SlotState.DELETED) & ~free_found):
                            m.d.sync += [free.eq(current), free_found.eq(1)]
                with m.If(checks_key):
                    with m.If(~key_matches):
                        m.d.comb += reject.eq(1)
                    with m.Elif(checked_last):
                        decide(m, Const(1), Const(0))
                with m.If(reject):
                    with m.If(last_slot):
                        decide(m, Const(0), Const(0))
                    with m.Else():
                        m.d.comb += restart.eq(1)
                        m.d.sync += current.eq((current + 1) & (slots - 1))
                # Ask for the record's next word, the next record's header or the next round's.
                asker(m)
            with m.State("COPY"):
                # Value word ``step`` is asked for; word step - 1 arrives and is written.
                m.d.comb += self.busy.eq(1)
                with m.If(step < value_words):
                    m.d.comb += ask(value_space, value_addr + 8 * step)
                with m.If(step != 0):
                    written = 8 * (step - 1)
                    m.d.comb += [self.write_en.eq(1), self.write_addr.eq(own_value + written),
                                 self.write_data.eq(self.read_data),
                                 self.write_mask.eq(low_ones(entry.value_size - written, 8))]
                m.d.sync += step.eq(step + 1)
                with m.If(step == value_words):
                    with m.If(inserting):
                        m.d.sync += step.eq(0)
                        if several:
                            with m.If(entry.cpu_stride != 0):
                                m.d.sync += [other.eq(0), other_value.eq(entry.offset + product +
                                                                         others[0] * entry.cpu_stride)]
                                m.next = "CLEAR"
                            with m.Else():
                                m.next = "RECORD"
                        else:
                            m.next = "RECORD"
                    with m.Elif(entry.lru):
                        m.next = "TOUCH"
                    with m.Else():
                        m.d.comb += finish()
                        m.next = "IDLE"
            if several:
                with m.State("CLEAR"):
                    cleared = 8 * step
                    m.d.comb += [self.busy.eq(1), self.write_en.eq(1), self.write_addr.eq(other_value + cleared),
                                 self.write_data.eq(0), self.write_mask.eq(low_ones(entry.value_size - cleared, 8))]
                    m.d.sync += step.eq(step + 1)
                    with m.If(step + 1 == value_words):
                        # The next copy is the one after, or the one after
                        # that when this core's lies between.
                        skips = Array(Const(b - a == 2) for a, b in zip(others, others[1:] + others[-1:]))
                        m.d.sync += [step.eq(0), other.eq(other + 1),
                                     other_value.eq(other_value + Mux(skips[other], entry.cpu_stride << 1,
                                                                      entry.cpu_stride))]
                        with m.If(other == len(others) - 1):
                            m.next = "RECORD"
            with m.State("RECORD"):
                # The header, then the key's words.
                m.d.comb += [self.busy.eq(1), self.write_en.eq(1), self.write_mask.eq(0xFF),
                             self.write_addr.eq(record_at + 8 * step),
                             self.write_data.eq(Mux(step == 0, header(SlotState.USED, Mux(entry.lru, clock, 0)),
                                                    key[(step - 1)[:len(word)]]))]
                m.d.sync += step.eq(step + 1)
                with m.If(step == key_words):
                    m.d.comb += [finish(), self.used_change.eq(1), self.clock_tick.eq(entry.lru)]
                    m.next = "IDLE"
            with m.State("TOUCH"):
                # An LRU key found: its header gets the next use stamp.
                m.d.comb += [self.busy.eq(1), self.write_en.eq(1), self.write_mask.eq(0xFF),
                             self.write_addr.eq(record_at), self.write_data.eq(header(SlotState.USED, clock)),
                             self.clock_tick.eq(1),
                             finish(address=number == HelperId.MAP_LOOKUP_ELEM)]
                m.next = "IDLE"
            with m.State("EVICT"):
                # A full LRU map: read every header, keep the oldest used one
                # (header ``step - 2`` is checked in step ``step``).
                m.d.comb += self.busy.eq(1)
                with m.If(step < slots):
                    m.d.comb += ask(Space.MAP, record(step))
                m.d.sync += step.eq(step + 1)
                with m.If(step >= 2):
                    stamp = word_read[2:2 + STAMP_BITS]
                    with m.If((word_read[:2] == SlotState.USED) & (~seen | (stamp < oldest))):
                        m.d.sync += [oldest.eq(stamp), victim.eq(step - 2), seen.eq(1)]
                    with m.If(step == slots + 1):
                        m.next = "EVICTED"
            with m.State("EVICTED"):
                m.d.comb += [self.busy.eq(1), self.write_en.eq(1), self.write_mask.eq(0xFF),
                             self.write_addr.eq(record(victim)), self.write_data.eq(SlotState.DELETED),
                             self.used_change.eq(-1)]
                m.d.sync += step.eq(0)
                with m.If(~has_room):
                    m.d.sync += current.eq(victim)
                m.next = "COPY"
            with m.State("ZERO"):
                # The call row's own stores go in its next cycle; then 8 zero bytes a cycle.
                m.d.comb += self.busy.eq(1)
                m.d.sync += step.eq(1)
                with m.If(step != 0):
                    m.d.comb += [self.zero_en.eq(1), self.zero_addr.eq(zero_at), self.zero_mask.eq(low_ones(zero_left, 8))]
                    m.d.sync += [zero_at.eq(zero_at + 8), zero_left.eq(zero_left - 8)]
                    with m.If(zero_left <= 8):
                        m.d.comb += finish()
                        m.next = "IDLE"
            with m.State("DELETE"):
                m.d.comb += [self.busy.eq(1), self.write_en.eq(1), self.write_mask.eq(0xFF),
                             self.write_addr.eq(record_at), self.write_data.eq(SlotState.DELETED),
                             self.used_change.eq(-1)]
                m.d.comb += finish()
                m.next = "IDLE"
        if several:
            with m.If(self.done):
                m.d.sync += locked.eq(0)
        with m.If(new_round):
            m.d.sync += [current.eq(ready_slot), cut_key.eq(ready_key), key_hash.eq(ready_hash),
                         unprobed.eq(slots), free_found.eq(0)]
        return m

    def _bounds(self, m: Module) -> "_Bounds":
        """bpf_xdp_adjust_head, _meta and _tail, decided in the call's cycle:
        the new bounds (``move_packet``), r0, and whether the tail grows."""
        delta = Signal(signed(33))
        m.d.comb += delta.eq(self.args[1][:32].as_signed())
        p = self.packet
        new_data, new_meta, new_end = (Signal(signed(34), name=n) for n in ("new_data", "new_meta", "new_end"))
        metalen = Signal(signed(34))
        m.d.comb += [new_data.eq(p.data + delta), new_meta.eq(p.meta + delta), new_end.eq(p.end + delta),
                     metalen.eq(p.data - p.meta)]
        head_ok = (new_data >= XDP_FRAME_STRUCT + metalen) & (new_data <= p.end - ETH_HLEN)
        meta_ok = (new_meta >= XDP_FRAME_STRUCT) & (new_meta <= p.data)
        new_metalen = p.data - new_meta
        meta_allowed = (new_metalen[:2] == 0) & (new_metalen <= MAX_META)
        tail_ok = (new_end <= FRAME_SIZE - TAILROOM) & (new_end - p.data >= ETH_HLEN)
        result = Signal(64)
        grows = Signal()
        moved = self.moved
        m.d.comb += moved.eq(p)
        invalid, denied = -errno.EINVAL & M64, -errno.EACCES & M64
        with m.Switch(self.number):
            with m.Case(HelperId.XDP_ADJUST_HEAD):
                m.d.comb += [result.eq(Mux(head_ok, 0, invalid)), moved.data.eq(new_data),
                             moved.meta.eq(new_data)]
                m.d.comb += self.move_packet.eq(self.start & head_ok)
            with m.Case(HelperId.XDP_ADJUST_META):
                m.d.comb += [result.eq(Mux(meta_ok, Mux(meta_allowed, 0, denied), invalid)),
                             moved.meta.eq(new_meta), self.move_packet.eq(self.start & meta_ok & meta_allowed)]
            with m.Case(HelperId.XDP_ADJUST_TAIL):
                m.d.comb += [result.eq(Mux(tail_ok, 0, invalid)), moved.end.eq(new_end),
                             self.move_packet.eq(self.start & tail_ok), grows.eq(tail_ok & (delta > 0))]
        return _Bounds(result, grows, delta, head_ok & (metalen != 0))
