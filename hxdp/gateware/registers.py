"""The engine's control and status registers: one table for the hardware,
the host-side drivers and docs/engine.md (`hxdp target --registers`).

The control bus is 32 bits wide and word-addressed. A write takes effect at
the end of its cycle; a read returns its data in the next cycle.
"""

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.xdp import XdpAction

if TYPE_CHECKING:
    from ..target import Target

__all__ = ["Access", "Register", "Params", "REGISTERS", "ADDR", "IMEM_DATA_BASE", "ADDR_BITS", "bus_signature",
           "CTRL_ENABLE", "CTRL_CONFORMANCE", "STATUS_BUSY", "STATUS_MAP_WRITE", "STATUS_MAP_READ", "MAP_FLAG_READONLY", "MAP_FLAG_LRU", "MAP_FLAG_LPM",
           "ID_MAGIC", "markdown"]

ADDR_BITS = 8
ID_MAGIC = 0x68584450          # "hXDP"
CTRL_ENABLE = 1 << 0           # accept packets
CTRL_CONFORMANCE = 1 << 1      # r1 = the packet, r2 = its length; start once it is all in
STATUS_BUSY = 1 << 0           # a packet is in the engine
STATUS_MAP_WRITE = 1 << 1      # a host map write is waiting
STATUS_MAP_READ = 1 << 2       # a host map read is waiting
MAP_FLAG_READONLY = 1 << 8
MAP_FLAG_LRU = 1 << 9
MAP_FLAG_LPM = 1 << 10


class Access(enum.Enum):
    RO = "read"
    RW = "read/write"
    WO = "write"


@dataclass(frozen=True)
class Register:
    name: str
    addr: int
    access: Access
    text: str


IMEM_DATA_BASE = 0x40          # staging words of one row, least significant first

REGISTERS: tuple[Register, ...] = (
    Register("ID", 0x00, Access.RO, f"0x{ID_MAGIC:08x} (\"hXDP\")"),
    Register("PARAMS", 0x01, Access.RO, "lanes [3:0], cores - 1 [7:4], packet_frame_bytes [15:8], "
             "registers [23:16]"),
    Register("IMEM_ROWS", 0x02, Access.RO, "rows of instruction memory"),
    Register("CTRL", 0x03, Access.RW, "bit 0: accept packets; bit 1: conformance mode "
             "(r1 = the packet, r2 = its length, start once it is all in)"),
    Register("STATUS", 0x04, Access.RO, "bit 0: a packet is in a core; bit 1: a MAP_WRITE is "
             "waiting for the map memory's store port (wait for it to clear before the next); bit 2: a "
             "MAP_READ is waiting for the helper unit's read port (wait for it to clear before reading "
             "MAP_RDATA)"),
    Register("PROGRAM_ROWS", 0x05, Access.RW, "rows of the loaded program; control past them faults"),
    Register("MAX_CYCLES", 0x06, Access.RW, "watchdog: a packet running longer is aborted"),
    Register("IMEM_ROW", 0x07, Access.RW, "row that IMEM_COMMIT writes; advances by one on commit"),
    Register("IMEM_COMMIT", 0x08, Access.WO, "write: copy the staged row (IMEM_DATA) to IMEM_ROW"),
    Register("PACKETS", 0x10, Access.RO, "packets finished"),
    *(Register(f"VERDICT_{a.name}", 0x11 + a.value, Access.RO, f"packets ended with XDP_{a.name}")
      for a in XdpAction),
    Register("FAULTS", 0x18, Access.RO, "packets aborted by a fault (included in VERDICT_ABORTED)"),
    Register("LAST_ACTION_LO", 0x19, Access.RO, "the last packet's return value, low word"),
    Register("LAST_ACTION_HI", 0x1A, Access.RO, "the last packet's return value, high word"),
    Register("LAST_CYCLES", 0x1B, Access.RO, "the last packet's cycles"),
    Register("LAST_FAULT", 0x1C, Access.RO, "the last packet's fault code (0: none)"),
    Register("MAP_COUNT", 0x20, Access.RW, "maps of the loaded program (slots 0 to MAP_COUNT - 1)"),
    Register("MAP_SLOT", 0x21, Access.RW, "the map slot that MAP_OFFSET ... MAP_USED reach"),
    Register("MAP_OFFSET", 0x22, Access.WO, "byte in the map memory where the slot's values start"),
    Register("MAP_BYTES", 0x23, Access.WO, "bytes of the slot's values"),
    Register("MAP_KEY_SIZE", 0x24, Access.WO, "the slot's key size in bytes"),
    Register("MAP_VALUE_SIZE", 0x25, Access.WO, "the slot's value size in bytes"),
    Register("MAP_ENTRIES", 0x26, Access.WO, "the slot's max_entries"),
    Register("MAP_FLAGS", 0x27, Access.WO, "bits 7:0: how the helper unit looks keys up (MapKind); "
             "bit 8: read-only to programs; bit 9: an LRU hash map; bit 10: an LPM map"),
    Register("MAP_KEYS", 0x28, Access.WO, "hash maps: byte in the map memory where the key records start"),
    Register("MAP_SHAPE", 0x29, Access.WO, "hash maps: bits 4:0 log2 of the slots, bits 11:8 log2 of a "
             "record's bytes"),
    Register("MAP_USED", 0x2A, Access.RW, "hash maps: keys held (programs' inserts and deletes count it)"),
    Register("MAP_CLOCK", 0x2B, Access.RW, "LRU hash maps: the use clock, the stamp of the next key used"),
    Register("MAP_LENGTHS_LO", 0x2C, Access.RW, "LPM maps: prefix lengths 0-31 held (bit n: length n)"),
    Register("MAP_LENGTHS_HI", 0x2D, Access.RW, "LPM maps: bit 0, prefix length 32 held"),
    Register("MAP_CPU_STRIDE", 0x2E, Access.WO, "per-CPU maps on several cores: bytes from one core's copy "
             "of the values to the next (0: one copy, shared by the cores)"),
    Register("MAP_ADDR", 0x30, Access.RW, "byte in the map memory (a multiple of 8) that MAP_WRITE and "
             "MAP_READ reach; each advances it by 8"),
    Register("MAP_WDATA_LO", 0x31, Access.WO, "bytes 0-3 MAP_WRITE writes"),
    Register("MAP_WDATA_HI", 0x32, Access.WO, "bytes 4-7 MAP_WRITE writes"),
    Register("MAP_WRITE", 0x33, Access.WO, "write: store MAP_WDATA at MAP_ADDR, between the program's "
             "own stores (STATUS bit 1 until done)"),
    Register("MAP_READ", 0x34, Access.WO, "write: read the 8 bytes at MAP_ADDR into MAP_RDATA, in a "
             "cycle the core does not read through the helper unit's port (STATUS bit 2 until done)"),
    Register("MAP_RDATA_LO", 0x35, Access.RO, "bytes 0-3 the last MAP_READ read"),
    Register("MAP_RDATA_HI", 0x36, Access.RO, "bytes 4-7 the last MAP_READ read"),
)
ADDR = {r.name: r.addr for r in REGISTERS}


@dataclass(frozen=True)
class Params:
    """What the PARAMS register says of the engine."""
    lanes: int
    cores: int
    packet_frame_bytes: int
    registers: int

    @classmethod
    def of(cls, target: "Target") -> "Params":
        return cls(target.lanes, target.cores, target.packet_frame_bytes, target.registers)

    @classmethod
    def decode(cls, word: int) -> "Params":
        return cls(word & 0xF, (word >> 4 & 0xF) + 1, word >> 8 & 0xFF, word >> 16 & 0xFF)

    @property
    def word(self) -> int:
        return self.lanes | (self.cores - 1) << 4 | self.packet_frame_bytes << 8 | self.registers << 16

    def __str__(self) -> str:
        return (f"{self.lanes} lanes, {self.cores} cores, {self.packet_frame_bytes}-byte beats and "
                f"{self.registers} registers")


def bus_signature() -> wiring.Signature:
    """From the host's side."""
    return wiring.Signature({"addr": Out(ADDR_BITS), "w_en": Out(1), "w_data": Out(32),
                             "r_en": Out(1), "r_data": In(32)})


def markdown(row_words: int) -> str:
    lines = ["| address | name | access | meaning |", "|---|---|---|---|"]
    lines += [f"| 0x{r.addr:02x} | {r.name} | {r.access.value} | {r.text} |" for r in REGISTERS]
    lines.append(f"| 0x{IMEM_DATA_BASE:02x}… | IMEM_DATA[i] | write | staged row, 32 bits each, "
                 f"least significant first ({row_words} words at the target's lanes) |")
    return "\n".join(lines) + "\n"
