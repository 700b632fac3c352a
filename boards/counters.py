"""The ports' event counters: counted a cycle after the event, and read in
the engine's clock domain through Gray code.

A counter's reader is the control bridge, in the engine's clock, which on
a large chip the placer puts far from the MAC and the FIFOs; counting a
cycle late keeps the event's logic off the long wire to the counter's
enable (on the Versa that wire set the receive clock's Fmax).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import cdc

__all__ = ["gray", "from_gray", "cross_counter", "tally"]


def gray(value):
    """A counter's value in Gray code: one bit changes a step, so a copy
    sampled in another clock domain is the old value or the new."""
    return value ^ (value >> 1)


def from_gray(code, width: int):
    """Bit j of the count is the XOR of the code's bits from j up."""
    return Cat(*(code[j:width].xor() for j in range(width)))


def cross_counter(m: Module, name: str, count, from_domain: str, out, to_domain: str) -> None:
    """``out`` in ``to_domain`` follows ``count`` (32 bits, stepping by one)
    in ``from_domain``, through Gray code."""
    coded, here = Signal(32, name=f"{name}_gray"), Signal(32, name=f"{name}_here")
    m.d[from_domain] += coded.eq(gray(count))
    m.submodules[f"{name}_sync"] = cdc.FFSynchronizer(coded, here, o_domain=to_domain)
    m.d[to_domain] += out.eq(from_gray(here, 32))


def tally(m: Module, domain: str, event: Value, counter: Signal) -> None:
    """``counter`` steps by one in the cycle after each cycle of ``event``."""
    seen = Signal(name=f"{counter.name}_event")
    m.d[domain] += seen.eq(event)
    with m.If(seen):
        m.d[domain] += counter.eq(counter + 1)
