"""The engine around the core, in cycles: when a packet's beats go in,
when its core starts, when its verdict comes and when its bytes have left,
from the core's cycles for it. These are the gateware engine's rules
(docs/model.md), which the Verilator engine is held to packet by packet.

A packet is whole in the ingress FIFO at its arrival cycle, or is dropped
there when the FIFO has no room for it. A core has ``buffers`` packet
buffers: a packet's first beat goes in in the first cycle it is there, the
beats before it are in and a buffer is free (from the cycle the packet
``buffers`` before it ends), the rest a beat a cycle. The core starts on
it in the cycle after its last beat, when it is whole in its buffer, or
later, in the cycle the verdict of the packet before is given; the verdict
of a packet comes after the bytes of the one before it have left. So the
next packet streams in and the last one streams out while the program
runs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..passage import Passage, ready_chance, tx_ready

__all__ = ["Ingress", "StreamTiming", "VERDICT_AFTER_EXIT", "VERDICT_AFTER_BYTES", "FIRST_TX_AFTER_VERDICT"]

# A verdict comes VERDICT_AFTER_EXIT cycles after the core's start and its
# cycles (the cycle the core's outcome is out), and no sooner than
# VERDICT_AFTER_BYTES cycles after the packet before it has sent its last
# beat.
VERDICT_AFTER_EXIT = 1
VERDICT_AFTER_BYTES = 1
# The first tx beat is offered this many cycles after the verdict: the
# transmit path reads the packet's first two frames to cut a beat from
# them, from the cycle the verdict is given.
FIRST_TX_AFTER_VERDICT = 2


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
    """Passages of packets given in arrival order, for a core whose streams
    carry ``frame_bytes`` a beat and which holds ``buffers`` packets: each
    admitted packet's `passage`, from the core's cycles for it."""

    def __init__(self, frame_bytes: int, ingress: Ingress = Ingress(), buffers: int = 1):
        if not 0 < ingress.tx_ready <= 1:
            raise ValueError("tx readiness must be in (0, 1]")
        if buffers < 1:
            raise ValueError("a core holds at least one packet")
        self.frame_bytes = frame_bytes
        self.ingress = ingress
        self._rx_free = 0                                # the first cycle the receive side takes a first beat
        self._dones: deque[int] = deque(maxlen=buffers)  # when the last packets' buffers came free
        self._verdict = 0                                # the packet before's verdict: the core is free
        self._sent_until = -VERDICT_AFTER_BYTES          # its last beat out, when it sent bytes
        self._queued: deque[tuple[int, int]] = deque()   # (first beat, length) of packets still in the FIFO
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
        """The passage of an admitted packet of ``length`` bytes arriving at
        ``arrival``, for which the core ran ``cycles`` and which sends
        ``sent`` bytes on tx (None: none)."""
        buffer_free = self._dones[0] if len(self._dones) == self._dones.maxlen else 0
        first = max(arrival, self._rx_free, buffer_free)
        self._rx_free = first + self.beats(length)
        self._queued.append((first, length))
        start = max(self._rx_free, self._verdict)
        verdict = max(start + cycles + VERDICT_AFTER_EXIT, self._sent_until + VERDICT_AFTER_BYTES)
        done = verdict
        if sent:
            cycle = verdict + FIRST_TX_AFTER_VERDICT
            for _ in range(self.beats(sent)):
                while not tx_ready(self.ingress.seed, cycle, self.ingress.ready_chance):
                    cycle += 1
                done = cycle
                cycle += 1
            self._sent_until = done
        self._verdict = verdict
        self._dones.append(done)           # the packet `buffers` after may come in as this one ends
        return Passage(arrival, first, verdict, done)
