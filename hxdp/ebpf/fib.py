"""bpf_fib_lookup against a route table the user gives.

The kernel answers from its FIB and neighbour tables; hxdp answers from a
`RouteTable` of prefixes with their egress interface and MAC addresses, which
is what a NIC forwarding in hardware would be configured with.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import HxdpError

__all__ = ["Route", "RouteTable", "FibResult", "FIB_PARAMS_SIZE", "fib_lookup", "AF_INET", "AF_INET6"]

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


@dataclass
class RouteTable:
    routes: list[Route] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: Path) -> "RouteTable":
        """Routes from a text file, one a line: ``PREFIX IFINDEX SMAC DMAC [MTU]``
        (DMAC ``-`` when the neighbour is unknown); ``#`` starts a comment."""
        routes = []
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as err:
            raise HxdpError(f"cannot read {path}: {err.strerror}") from None
        for number, line in enumerate(lines, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            try:
                prefix, ifindex, smac, dmac, *rest = words
                ipaddress.ip_network(prefix, strict=False)
                routes.append(Route(prefix, int(ifindex), bytes.fromhex(smac.replace(":", "")),
                                    None if dmac == "-" else bytes.fromhex(dmac.replace(":", "")),
                                    int(rest[0]) if rest else 1500))
            except (ValueError, IndexError):
                raise HxdpError(f"{path}:{number}: expected 'PREFIX IFINDEX SMAC DMAC [MTU]', "
                                f"got {line.strip()!r}") from None
        return cls(routes)

    def lookup(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Route | None:
        best: Route | None = None
        for route in self.routes:
            net = route.network
            if net.version == address.version and address in net:
                if best is None or net.prefixlen > best.network.prefixlen:
                    best = route
        return best


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
