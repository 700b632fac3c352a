"""A packet's passage through an engine, in cycles: the record the model's
stream timing and the Verilator engine both give, and the tx readiness
draws they share so that a run with backpressure can be predicted.

The engine's ingress is a FIFO in front of ``rx`` that takes packets whole
(store and forward, as a MAC that checks the frame check sequence does) and
hands each on a beat a cycle once the engine takes it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Passage", "READY_SCALE", "ready_chance", "tx_ready"]

# tx readiness is a chance in READY_SCALE.
READY_SCALE = 1 << 16
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


@dataclass
class Passage:
    """Cycles from the start of the run: the packet whole in the ingress
    FIFO (``arrival``), its first beat taken (``start``), its verdict given,
    its last beat sent (``done``; the verdict's cycle when it sends
    nothing), through core ``cpu``. A packet that found the FIFO full was
    ``dropped`` there."""
    arrival: int
    start: int = 0
    verdict: int = 0
    done: int = 0
    cpu: int = 0
    dropped: bool = False

    @classmethod
    def dropped_at(cls, arrival: int) -> "Passage":
        """A packet the FIFO had no room for."""
        return cls(arrival, arrival, arrival, arrival, dropped=True)

    @property
    def latency(self) -> int:
        """Cycles from whole in the FIFO to done."""
        return self.done - self.arrival


def _splitmix64(x: int) -> int:
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def ready_chance(probability: float) -> int:
    """A probability of tx being ready, as the chance in READY_SCALE the draws compare with."""
    return round(probability * READY_SCALE)


def tx_ready(seed: int, cycle: int, chance: int) -> bool:
    """Whether tx is ready in ``cycle``, with ``chance`` in READY_SCALE (the
    same draw as the Verilator driver's)."""
    return _splitmix64((seed + cycle * _GOLDEN) & _MASK) >> 48 < chance
