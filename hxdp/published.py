"""hXDP's published figures (Brunella et al., OSDI 2020), for setting hxdp's
beside them: per program it measured, the eBPF instructions, the static
IPC and VLIW rows of its 4-lane schedule, and packets a second at 156.25
MHz; and which programs of ours are of the same class.

hXDP's programs are the Linux samples and its own listings; ours are
written here in the same size and shape, so a class matches, not a
listing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Published", "HXDP_MHZ", "HXDP_LANES", "PUBLISHED", "published_for"]

HXDP_MHZ = 156.25
HXDP_LANES = 4


@dataclass(frozen=True)
class Published:
    program: str
    mpps: float
    insns: int | None = None      # what was not published is None
    static_ipc: float | None = None
    rows: int | None = None

    @property
    def cycles(self) -> float:
        """Cycles a 64-byte packet at hXDP's clock."""
        return HXDP_MHZ / self.mpps


PUBLISHED = {p.program: p for p in (
    Published("xdp1", 11.3, 61, 1.70, 36),
    Published("xdp2", 7.0, 78, 1.81, 43),
    Published("xdp_adjust_tail", 2.7, 117, 2.72, 43),
    Published("router_ipv4", 4.0, 119, 2.38, 50),
    Published("rxq_info", 10.0, 81, 1.76, 46),
    Published("tx_ip_tunnel", 2.6, 283, 2.83, 100),
    Published("simple_firewall", 6.53, 72, 2.66, 27),
    Published("Katran", 2.9, 268, 2.62, 102),
    Published("XDP_DROP", 52.0),
    Published("XDP_TX", 22.5),
    Published("redirect", 15.0),
)}

# Our example programs (by function name) and the class of hXDP's they match.
_CLASS_OF = {
    "xdp1": "xdp1", "xdp2": "xdp2", "adjust_tail": "xdp_adjust_tail", "router_ipv4": "router_ipv4",
    "rxq_info": "rxq_info", "tx_ip_tunnel": "tx_ip_tunnel", "firewall": "simple_firewall",
    "load_balancer": "Katran", "xdp_drop": "XDP_DROP", "xdp_tx": "XDP_TX", "redirect_map": "redirect",
}


def published_for(program: str) -> Published | None:
    """hXDP's figures for the class ``program`` (a function name) belongs to."""
    name = _CLASS_OF.get(program)
    return PUBLISHED[name] if name else None
