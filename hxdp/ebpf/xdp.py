"""XDP facts shared by every engine: actions, the context layout, results.

The interpreter, the kernel oracle and later the model and the gateware all
take an `XdpInput` and return an `XdpResult`, so they can be compared field
by field.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["XdpAction", "XDP_MD", "XdpInput", "XdpResult", "Redirect",
           "HEADROOM", "TAILROOM", "LEAVING", "MapDump", "MapEntry", "XdpEngine", "xdp_md_offset",
           "XDP_MD_FIELD_BYTES", "ETH_HLEN"]

# An Ethernet header's bytes: the least a packet has, and what an MTU leaves out.
ETH_HLEN = 14

# Space the kernel leaves in front of and behind the packet data; programs
# grow the packet into it with bpf_xdp_adjust_head/meta/tail.
HEADROOM = 256
TAILROOM = 320

# struct xdp_md: six u32 fields.
XDP_MD = struct.Struct("<6I")
XDP_MD_FIELDS = ("data", "data_end", "data_meta", "ingress_ifindex", "rx_queue_index",
                 "egress_ifindex")
XDP_MD_FIELD_BYTES = 4


def xdp_md_offset(name: str) -> int:
    """Where field ``name`` of struct xdp_md sits."""
    return XDP_MD_FIELDS.index(name) * XDP_MD_FIELD_BYTES

# Map contents: map name -> key bytes -> value bytes. Per-CPU maps give the
# values of all CPUs concatenated, CPU 0 first.
MapDump = dict[str, dict[bytes, bytes]]


class XdpAction(enum.IntEnum):
    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4

    @classmethod
    def name_of(cls, value: int) -> str:
        try:
            return "XDP_" + cls(value).name
        except ValueError:
            return f"unknown({value})"


# The verdicts after which the packet leaves (the bytes the program left).
LEAVING = (XdpAction.PASS, XdpAction.TX, XdpAction.REDIRECT)


@dataclass(frozen=True)
class XdpInput:
    """One packet as it arrives: bytes plus the receive metadata."""
    packet: bytes
    ingress_ifindex: int = 1
    rx_queue_index: int = 0


@dataclass(frozen=True)
class Redirect:
    """Where an XDP_REDIRECT sends the packet.

    ``map`` is the name of the devmap/cpumap/xskmap for bpf_redirect_map, or
    None for bpf_redirect; ``key`` is the map key or the ifindex.
    """
    key: int
    map: str | None = None
    ifindex: int | None = None


@dataclass
class XdpResult:
    """What an engine did with one packet.

    ``action`` is the program's return value as the kernel would act on it;
    a fault (out-of-bounds access, runaway loop) gives XDP_ABORTED with
    ``fault`` saying what happened and where.
    """
    action: int
    packet: bytes
    redirect: Redirect | None = None
    trace: list[str] = field(default_factory=list)
    fault: str | None = None
    insns: int = 0
    meta: bytes = b""   # the metadata bpf_xdp_adjust_meta put in front of the data
    cycles: int | None = None   # engines that count cycles: the cycle the exit issued
    # The records the packet put in ring buffers (bpf_ringbuf_output), map
    # by map in the program's order, each map's in order: the host takes
    # them after every packet.
    ringbuf: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def action_name(self) -> str:
        return XdpAction.name_of(self.action)

    @property
    def sent(self) -> int | None:
        """The bytes the packet leaves with on tx; None when it does not leave."""
        return len(self.packet) if self.action in LEAVING and not self.fault and self.packet else None


@dataclass(frozen=True)
class MapEntry:
    """One entry to put in a map before traffic runs (routes, VIPs, ...)."""
    map: str
    key: bytes
    value: bytes


class XdpEngine(Protocol):
    """What every engine offers: the interpreter, the kernel, later the model
    and the hardware. Tests drive them all through this and compare."""

    def update_map(self, name: str, key: bytes, value: bytes) -> None:
        """Set one map entry from the host side (BPF_ANY)."""

    def run(self, packet: XdpInput) -> XdpResult:
        """Run the program on one packet; maps keep their state across calls."""

    def dump_maps(self) -> MapDump:
        """Every map's contents: name -> key -> value."""
