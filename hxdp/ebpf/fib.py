"""bpf_fib_lookup and bpf_check_mtu against a route table the user gives.

The kernel answers from its FIB, neighbour tables and devices; hxdp answers
from a `RouteTable` of prefixes with their egress interface and MAC
addresses, and the interfaces' MTUs, which is what a NIC forwarding in
hardware would be configured with.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import HxdpError
from ..files import read_text

__all__ = ["Route", "RouteTable", "FibResult", "FIB_PARAMS_SIZE", "fib_lookup", "AF_INET", "AF_INET6", "DEFAULT_MTU"]

AF_INET = 2
AF_INET6 = 10
FIB_PARAMS_SIZE = 64
BPF_FIB_LOOKUP_DIRECT = 1 << 0
BPF_FIB_LOOKUP_OUTPUT = 1 << 1


class FibResult(enum.IntEnum):
    SUCCESS = 0
    BLACKHOLE = 1
    UNREACHABLE = 2
    PROHIBIT = 3
    NOT_FWDED = 4
    FWD_DISABLED = 5
    UNSUPP_LWT = 6
    NO_NEIGH = 7
    FRAG_NEEDED = 8


@dataclass(frozen=True)
class Route:
    """``prefix`` is reached through ``ifindex``; ``dmac`` None means no neighbour entry."""
    prefix: str
    ifindex: int
    smac: bytes = bytes(6)
    dmac: bytes | None = bytes(6)
    mtu: int = 1500

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.prefix, strict=False)


# An interface's MTU where the table does not give one (Ethernet's).
DEFAULT_MTU = 1500


@dataclass
class RouteTable:
    routes: list[Route] = field(default_factory=list)
    # Interfaces by ifindex, with their MTU (the L3 size; frames add the
    # Ethernet header). A route's egress interface exists too.
    interfaces: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> "RouteTable":
        """Routes from a text file, one a line: ``PREFIX IFINDEX SMAC DMAC [MTU]``
        (DMAC ``-`` when the neighbour is unknown), and interfaces:
        ``dev IFINDEX MTU``; ``#`` starts a comment."""
        table = cls()
        for number, line in enumerate(read_text(path).splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            try:
                if words[0] == "dev":
                    if len(words) != 3:
                        raise ValueError(f"{len(words)} fields")
                    table.interfaces[_field_number(words[1], "IFINDEX", 1, 0xFFFF_FFFF)] = \
                        _field_number(words[2], "MTU", 68, 1 << 20)
                else:
                    table.routes.append(_route(words))
            except ValueError as err:
                raise HxdpError(f"{path}:{number}: {err}; a route is 'PREFIX IFINDEX SMAC DMAC [MTU]' and an "
                                f"interface 'dev IFINDEX MTU', got {line.strip()!r}") from None
        return table

    def mtu(self, ifindex: int) -> int | None:
        """Interface ``ifindex``'s MTU; None when there is no such interface."""
        if ifindex in self.interfaces:
            return self.interfaces[ifindex]
        return DEFAULT_MTU if any(r.ifindex == ifindex for r in self.routes) else None

    def lookup(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Route | None:
        best: Route | None = None
        for route in self.routes:
            net = route.network
            if net.version == address.version and address in net:
                if best is None or net.prefixlen > best.network.prefixlen:
                    best = route
        return best


def _route(words: list[str]) -> Route:
    """One route line's fields; a ValueError says which is wrong."""
    if not 4 <= len(words) <= 5:
        raise ValueError(f"{len(words)} fields")
    prefix, ifindex, smac, dmac, *mtu = words
    ipaddress.ip_network(prefix, strict=False)
    return Route(prefix, _field_number(ifindex, "IFINDEX", 1, 0xFFFF_FFFF), _mac(smac, "SMAC"),
                 None if dmac == "-" else _mac(dmac, "DMAC"), _field_number(mtu[0], "MTU", 68, 0xFFFF) if mtu else 1500)


def _mac(text: str, name: str) -> bytes:
    """Six bytes, written with or without colons."""
    try:
        mac = bytes.fromhex(text.replace(":", ""))
    except ValueError:
        mac = b""
    if len(mac) != 6:
        raise ValueError(f"{name} {text!r} is not a MAC address")
    return mac


def _field_number(text: str, name: str, low: int, high: int) -> int:
    """A whole number within what its field in bpf_fib_lookup's parameters holds."""
    if not text.isdecimal() or not low <= int(text) <= high:
        raise ValueError(f"{name} {text!r} is not a number from {low} to {high}")
    return int(text)


def fib_lookup(table: RouteTable, params: bytearray, flags: int) -> int:
    """Fill ``params`` (struct bpf_fib_lookup) as the kernel does; return a FibResult."""
    family = params[0]
    tot_len = struct.unpack_from("<H", params, 6)[0]
    if family == AF_INET:
        dst = ipaddress.IPv4Address(bytes(params[32:36]))
    elif family == AF_INET6:
        dst = ipaddress.IPv6Address(bytes(params[32:48]))
    else:
        return -97  # -EAFNOSUPPORT
    route = table.lookup(dst)
    if route is None:
        return FibResult.NOT_FWDED
    if tot_len and tot_len > route.mtu:
        struct.pack_into("<H", params, 6, route.mtu)
        return FibResult.FRAG_NEEDED
    struct.pack_into("<I", params, 8, route.ifindex)
    params[52:58] = route.smac
    if route.dmac is None:
        return FibResult.NO_NEIGH
    params[58:64] = route.dmac
    return FibResult.SUCCESS
