"""Where a hash map keeps its keys: open addressing, as the engine's helper
unit does it, so that the interpreter, the model and the hardware put every
key in the same slot and a lookup probes the same slots everywhere.

A table of ``slots`` (a power of two, at least ``max_entries``) records,
each a header word and the key's 8-byte words (zero-padded), ``record_bytes``
apart (a power of two). Header: bits 1:0 the state (empty, used, deleted),
bits 31:2 a use stamp (LRU maps), bits 63:32 the key's hash. A key's probe starts at its home slot (the top
bits of the hash) and goes up one slot at a time, past deleted and other
keys' slots, to its own slot or an empty one, at most ``slots`` probes. A
probe reads the header, and the stored key's words only while they match
and the hashes are equal. An insert takes the first deleted slot it passed,
or the empty one it ended at; a delete marks the slot deleted. An LRU map
stamps a key with its map's use clock when it is inserted, found or
updated; a full LRU map evicts the used slot with the smallest stamp,
found by reading every header in slot order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["SlotState", "HashGeometry", "HashTable", "Probe", "key_hash", "HASH_MULTIPLIER", "HASH_ROTATE",
           "STAMP_BITS", "HEADER_BYTES"]

M32 = (1 << 32) - 1
M64 = (1 << 64) - 1
HEADER_BYTES = 8
HASH_ROTATE = 5                  # the key words are folded as h = rotl(h, 5) ^ word
HASH_MULTIPLIER = 0x9E3779B1     # then the 32-bit fold is multiplied by 2**32 / golden ratio
STAMP_BITS = 30                  # an LRU use stamp (it wraps after 2**30 uses)


class SlotState(enum.IntEnum):
    EMPTY = 0
    USED = 1
    DELETED = 2


def _words(key: bytes) -> list[int]:
    padded = bytes(key) + bytes(-len(key) % 8)
    return [int.from_bytes(padded[i:i + 8], "little") for i in range(0, len(padded), 8)]


def key_hash(key: bytes) -> int:
    """The 32-bit hash the header keeps; its top bits are the home slot."""
    h = 0
    for word in _words(key):
        h = (((h << HASH_ROTATE) | (h >> (64 - HASH_ROTATE))) & M64) ^ word
    return (((h ^ (h >> 32)) & M32) * HASH_MULTIPLIER) & M32


@dataclass(frozen=True)
class HashGeometry:
    key_size: int
    max_entries: int

    @property
    def key_words(self) -> int:
        return -(-self.key_size // 8)

    @property
    def slots(self) -> int:
        return 1 << max(self.max_entries - 1, 0).bit_length()

    @property
    def slot_bits(self) -> int:
        return (self.slots - 1).bit_length()

    @property
    def record_bytes(self) -> int:
        return 1 << (HEADER_BYTES * (1 + self.key_words) - 1).bit_length()

    @property
    def table_bytes(self) -> int:
        return self.slots * self.record_bytes

    def home(self, h: int) -> int:
        return h >> (32 - self.slot_bits) if self.slot_bits else 0


@dataclass
class Probe:
    """What probing for a key found: its slot (None: absent), the first slot
    an insert would take (None: none free), and the words read at each
    probe (1 for the header, plus the key words compared)."""
    slot: int | None
    free: int | None
    reads: list[int]


class HashTable:
    """The records of one hash map, in the bytes the map memory holds."""

    def __init__(self, geometry: HashGeometry):
        self.geometry = geometry
        self.records = bytearray(geometry.table_bytes)

    def _word(self, slot: int) -> int:
        at = slot * self.geometry.record_bytes
        return int.from_bytes(self.records[at:at + HEADER_BYTES], "little")

    def _set_word(self, slot: int, word: int) -> None:
        at = slot * self.geometry.record_bytes
        self.records[at:at + HEADER_BYTES] = word.to_bytes(HEADER_BYTES, "little")

    def _header(self, slot: int) -> tuple[SlotState, int]:
        word = self._word(slot)
        return SlotState(word & 3), word >> 32

    def _stored_words(self, slot: int) -> list[int]:
        at = slot * self.geometry.record_bytes + HEADER_BYTES
        return _words(self.records[at:at + 8 * self.geometry.key_words])

    def probe(self, key: bytes) -> Probe:
        g = self.geometry
        h = key_hash(key)
        words = _words(key)
        slot, free, reads = g.home(h), None, []
        for _ in range(g.slots):
            state, stored_hash = self._header(slot)
            if state is SlotState.EMPTY:
                reads.append(1)
                return Probe(None, slot if free is None else free, reads)
            if state is SlotState.USED and stored_hash == h:
                compared = 0
                for mine, theirs in zip(words, self._stored_words(slot)):
                    compared += 1
                    if mine != theirs:
                        break
                else:
                    reads.append(1 + compared)
                    return Probe(slot, free, reads)
                reads.append(1 + compared)
            else:
                reads.append(1)
                if state is SlotState.DELETED and free is None:
                    free = slot
            slot = (slot + 1) % g.slots
        return Probe(None, free, reads)

    def put(self, slot: int, key: bytes, stamp: int = 0) -> None:
        at = slot * self.geometry.record_bytes
        self.records[at + HEADER_BYTES:at + HEADER_BYTES + len(key)] = key
        self._set_word(slot, SlotState.USED | _stamp(stamp) | key_hash(key) << 32)

    def touch(self, slot: int, stamp: int) -> None:
        self._set_word(slot, (self._word(slot) & ~(_stamp(-1))) | _stamp(stamp))

    def remove(self, slot: int) -> None:
        self._set_word(slot, SlotState.DELETED)

    def used(self, key_size: int) -> list[tuple[int, bytes]]:
        """The used slots and their keys, oldest stamp first."""
        found = []
        for slot in range(self.geometry.slots):
            word = self._word(slot)
            if word & 3 == SlotState.USED:
                at = slot * self.geometry.record_bytes + HEADER_BYTES
                found.append(((word >> 2) & ((1 << STAMP_BITS) - 1), slot, bytes(self.records[at:at + key_size])))
        return [(slot, key) for _, slot, key in sorted(found)]

    def oldest(self) -> int | None:
        """The used slot with the smallest stamp (the first of equal ones)."""
        best, slot_of_best = None, None
        for slot in range(self.geometry.slots):
            word = self._word(slot)
            stamp = (word >> 2) & ((1 << STAMP_BITS) - 1)
            if word & 3 == SlotState.USED and (best is None or stamp < best):
                best, slot_of_best = stamp, slot
        return slot_of_best


def _stamp(stamp: int) -> int:
    return (stamp & ((1 << STAMP_BITS) - 1)) << 2
