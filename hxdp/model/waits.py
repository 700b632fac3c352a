"""Where a packet's cycles go on the core: each cycle from the packet's start
to its exit is a row issuing or a wait with one cause, so the causes add up
to the packet's cycles (`hxdp bench --explain`)."""

from __future__ import annotations

import enum
from collections import Counter

__all__ = ["Wait", "CycleSplit"]


class Wait(enum.Enum):
    """What a cycle was spent on. A cycle a row could wait for several
    reasons goes to the first of: the cycles after a taken branch or a
    holding call, then operands (by the unit that makes them), then the
    divider."""
    ROW = "rows"                   # a row with operations issues
    EMPTY = "empty rows"           # a row without: the schedule waits out a latency
    BRANCH = "branch"              # the penalty of a taken branch
    LOAD = "load use"              # an operand a load gives
    ALU = "alu use"                # an operand the ALU or multiplier gives
    DIVIDE = "divide"              # an operand the divider gives, or the divider busy
    HELPER = "helper"              # a helper's r0, or a call that holds the core (hash maps)
    ATOMIC = "atomic"              # the cycle after an atomic's write


class CycleSplit(Counter):
    """Cycles by `Wait`; their ``total()`` is the packet's cycles."""
