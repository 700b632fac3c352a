"""The engine's control and status registers: one table for the hardware,
the host-side drivers and docs/engine.md (`hxdp target --registers`).

The control bus is 32 bits wide and word-addressed. A write takes effect at
the end of its cycle; a read returns its data in the next cycle.
"""

import enum
from dataclasses import dataclass

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.xdp import XdpAction

__all__ = ["Access", "Register", "REGISTERS", "ADDR", "IMEM_DATA_BASE", "ADDR_BITS", "bus_signature",
           "CTRL_ENABLE", "CTRL_CONFORMANCE", "ID_MAGIC", "markdown"]

ADDR_BITS = 8
ID_MAGIC = 0x68584450          # "hXDP"
CTRL_ENABLE = 1 << 0           # accept packets
CTRL_CONFORMANCE = 1 << 1      # r1 = the packet, r2 = its length; start once it is all in


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
    Register("PARAMS", 0x01, Access.RO, "lanes [3:0], packet_frame_bytes [15:8], registers [23:16]"),
    Register("IMEM_ROWS", 0x02, Access.RO, "rows of instruction memory"),
    Register("CTRL", 0x03, Access.RW, "bit 0: accept packets; bit 1: conformance mode "
             "(r1 = the packet, r2 = its length, start once it is all in)"),
    Register("STATUS", 0x04, Access.RO, "bit 0: a packet is in the engine"),
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
)
ADDR = {r.name: r.addr for r in REGISTERS}


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
