"""The engine around the core, in cycles: when a packet's beats go in,
when its verdict comes and when its bytes have left, from the core's cycles
for it. These are the gateware engine's rules (docs/model.md), which the
Verilator engine is held to packet by packet.

A packet is whole in the ingress FIFO at its arrival cycle, or is dropped
there when the FIFO has no room for it. The engine takes one packet at a
time: its first beat in the first cycle both it is there and the engine is
free (from the cycle the packet before it ends), the rest a beat a cycle;
the core starts with the first beat.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..passage import Passage, ready_chance, tx_ready

__all__ = ["Ingress", "StreamTiming", "VERDICT_AFTER_EXIT", "VERDICT_AFTER_LAST_BEAT", "FIRST_TX_AFTER_VERDICT"]

# A verdict comes VERDICT_AFTER_EXIT cycles after the first beat and the
# core's cycles (the cycle the core's outcome is out), and no sooner than
# VERDICT_AFTER_LAST_BEAT cycles after the first beat and the packet's
# beats (the cycle after the last beat, when the packet's length is known).
VERDICT_AFTER_EXIT = 1
VERDICT_AFTER_LAST_BEAT = 0
# The first tx beat is offered this many cycles after the verdict: the
# transmit path reads the packet's first two frames to cut a beat from them.
FIRST_TX_AFTER_VERDICT = 3


@dataclass(frozen=True)
class Ingress:
    """The ingress FIFO's size (0: no limit, the source waits) and the tx
    side's readiness: a chance per cycle, drawn from ``seed`` and the cycle."""
    fifo_bytes: int = 0
    tx_ready: float = 1.0
    seed: int = 0

    @property
    def ready_chance(self) -> int:
        return ready_chance(self.tx_ready)


class StreamTiming:
    """Passages of packets given in arrival order, for an engine whose
    streams carry ``frame_bytes`` a beat."""

    def __init__(self, frame_bytes: int, ingress: Ingress = Ingress()):
        if not 0 < ingress.tx_ready <= 1:
            raise ValueError("tx readiness must be in (0, 1]")
        self.frame_bytes = frame_bytes
        self.ingress = ingress
        self._free = 0                                   # the first cycle the engine takes a packet
        self._queued: deque[tuple[int, int]] = deque()   # (start, length) of packets still in the FIFO
        self._arrival = 0

    def beats(self, length: int) -> int:
        return max(1, -(-length // self.frame_bytes))

    def admits(self, arrival: int, length: int) -> bool:
        """Whether a packet of ``length`` bytes arriving at ``arrival`` finds
        room in the FIFO (after the packets before it have been timed)."""
        if arrival < self._arrival:
            raise ValueError("packets must be given in arrival order")
        self._arrival = arrival
        if not self.ingress.fifo_bytes:
            return True
        fb = self.frame_bytes
        while self._queued and self._queued[0][0] + self.beats(self._queued[0][1]) <= arrival:
            self._queued.popleft()
        held = sum(length - min(length, max(0, arrival - start) * fb) for start, length in self._queued)
        return held + length <= self.ingress.fifo_bytes

    def passage(self, arrival: int, length: int, cycles: int, sent: int | None) -> Passage:
        """The passage of an admitted packet of ``length`` bytes for which the
        core ran ``cycles`` and which sends ``sent`` bytes on tx (None: none)."""
        start = max(arrival, self._free)
        self._queued.append((start, length))
        verdict = start + max(cycles + VERDICT_AFTER_EXIT, self.beats(length) + VERDICT_AFTER_LAST_BEAT)
        done = verdict
        if sent:
            cycle = verdict + FIRST_TX_AFTER_VERDICT
            for _ in range(self.beats(sent)):
                while not tx_ready(self.ingress.seed, cycle, self.ingress.ready_chance):
                    cycle += 1
                done = cycle
                cycle += 1
        self._free = done                  # the next packet's first beat may come as this one ends
        return Passage(arrival, start, verdict, done)
