"""Several cores behind one pair of streams: the dispatcher sends each
packet to the core its flow hashes to, and the merger gives each core's
verdicts and packets as they come, the cores taking turns. A core gives
its packets in the order they came, so a flow keeps its order; packets of
different flows may pass each other. Each verdict carries its packet's
tag, its number in arrival order.

The flow hash folds the bytes of the first beat that stay the same along a
flow: for IPv4, the protocol and the addresses that beat holds (bytes 23
and 26 to 33 of the frame); for beats too short to reach them, the beat's
bytes (the MAC addresses). `dispatch_core` is the same rule in Python.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .slice import TAG_BITS, beat_layout, verdict_layout

__all__ = ["FLOW_BYTES", "flow_bytes", "dispatch_core", "Dispatcher"]

FLOW_BYTES = (23, 26, 27, 28, 29, 30, 31, 32, 33)


def flow_bytes(frame_bytes: int) -> tuple[int, ...]:
    """The bytes of a first beat of ``frame_bytes`` the flow hash folds."""
    return tuple(i for i in FLOW_BYTES if i < frame_bytes) or tuple(range(frame_bytes))


def dispatch_core(frame: bytes, cores: int, frame_bytes: int) -> int:
    """The core a packet goes to."""
    h = 0
    for i in flow_bytes(frame_bytes):
        h ^= frame[i] if i < len(frame) else 0
    return h * cores >> 8


class Dispatcher(wiring.Component):
    """``rx`` to the cores' ``rx``, their verdicts and bytes to ``verdict``
    and ``tx`` in each flow's order."""

    def __init__(self, cores: int, frame_bytes: int):
        self.cores = cores
        self.frame_bytes = frame_bytes
        beat = stream.Signature(beat_layout(frame_bytes))
        verdict = stream.Signature(verdict_layout())
        super().__init__({
            "rx": In(beat), "tx": Out(beat), "verdict": Out(verdict),
            "core_rx": Out(beat).array(cores), "core_tx": In(beat).array(cores),
            "core_verdict": In(verdict).array(cores),
            "tag": Out(TAG_BITS),           # the next packet's tag, for the core that takes it
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        n = self.cores
        beat = self.rx.payload
        # A packet's first beat picks its core; the rest follow it there.
        h = Signal(8)
        m.d.comb += h.eq(0)
        for i in flow_bytes(self.frame_bytes):
            h_next = Signal(8)
            m.d.comb += h_next.eq(h ^ beat.data[8 * i:8 * i + 8])
            h = h_next
        hashed = Signal(range(n))
        m.d.comb += hashed.eq((h * n) >> 8)
        receiving = Signal()
        current = Signal(range(n))
        chosen = Signal(range(n))
        m.d.comb += chosen.eq(Mux(receiving, current, hashed))
        for i, core_rx in enumerate(self.core_rx):
            m.d.comb += [core_rx.payload.eq(beat), core_rx.valid.eq(self.rx.valid & (chosen == i))]
        ready = Signal()
        # Each packet is tagged with its number in arrival order, which its
        # verdict carries out.
        tag = Signal.like(self.tag)
        m.d.comb += [self.tag.eq(tag), ready.eq(Cat(*((chosen == i) & core_rx.ready
                                                     for i, core_rx in enumerate(self.core_rx))).any()),
                     self.rx.ready.eq(ready)]
        accept = self.rx.valid & self.rx.ready
        with m.If(accept):
            m.d.sync += [receiving.eq(~beat.last), current.eq(chosen)]
            with m.If(~receiving):
                m.d.sync += tag.eq(tag + 1)

        # The merger: a core with a verdict gives it, then its bytes; the
        # cores take turns, from the one after the last to give a verdict.
        # A flow's packets all go to one core, which gives them in order.
        turn = Signal(range(n))
        pick = Signal(range(n))
        with m.Switch(turn):
            for first in range(n):
                with m.Case(first):
                    for k in reversed(range(n)):
                        with m.If(self.core_verdict[(first + k) % n].valid):
                            m.d.comb += pick.eq((first + k) % n)
        sending = Signal()
        sender = Signal(range(n))               # the core whose bytes go out
        out = Signal(range(n))
        m.d.comb += out.eq(Mux(sending, sender, pick))
        for i, (core_verdict, core_tx) in enumerate(zip(self.core_verdict, self.core_tx)):
            here = out == i
            m.d.comb += [core_verdict.ready.eq(here & ~sending & self.verdict.ready),
                         core_tx.ready.eq(here & sending & self.tx.ready)]
            with m.If(here):
                m.d.comb += [self.verdict.payload.eq(core_verdict.payload),
                             self.verdict.valid.eq(core_verdict.valid & ~sending),
                             self.tx.payload.eq(core_tx.payload), self.tx.valid.eq(core_tx.valid & sending)]
        with m.If(self.verdict.valid & self.verdict.ready):
            m.d.sync += [sender.eq(pick), turn.eq(Mux(pick == n - 1, 0, pick + 1))]
            with m.If(self.verdict.payload.sends):
                m.d.sync += sending.eq(1)
        with m.If(self.tx.valid & self.tx.ready & self.tx.payload.last):
            m.d.sync += sending.eq(0)
        return m
