"""Several cores behind one pair of streams: the dispatcher sends each
packet to the core its flow hashes to, the merger gives verdicts and sends
packets in the order they came, so a flow keeps its order (and so does the
traffic as a whole).

The flow hash folds the bytes of the first beat that stay the same along a
flow: for IPv4, the protocol and the addresses that beat holds (bytes 23
and 26 to 33 of the frame); for beats too short to reach them, the beat's
bytes (the MAC addresses). `dispatch_core` is the same rule in Python.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .slice import beat_layout, verdict_layout

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
    and ``tx`` in arrival order; each core holds up to ``buffers`` packets."""

    def __init__(self, cores: int, frame_bytes: int, buffers: int = 1):
        self.cores = cores
        self.buffers = buffers
        self.frame_bytes = frame_bytes
        beat = stream.Signature(beat_layout(frame_bytes))
        verdict = stream.Signature(verdict_layout())
        super().__init__({
            "rx": In(beat), "tx": Out(beat), "verdict": Out(verdict),
            "core_rx": Out(beat).array(cores), "core_tx": In(beat).array(cores),
            "core_verdict": In(verdict).array(cores),
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
        # Which core has each packet in flight, in arrival order: as many a
        # core as it has buffers, and one more that comes in the cycle another
        # leaves.
        order = fifo.SyncFIFO(width=max(1, (n - 1).bit_length()), depth=n * self.buffers + 1)
        m.submodules.order = order
        for i, core_rx in enumerate(self.core_rx):
            m.d.comb += [core_rx.payload.eq(beat), core_rx.valid.eq(self.rx.valid & (chosen == i))]
        ready = Signal()
        m.d.comb += [ready.eq(Cat(*((chosen == i) & core_rx.ready for i, core_rx in enumerate(self.core_rx))).any()),
                     self.rx.ready.eq(ready & (receiving | order.w_rdy))]
        accept = self.rx.valid & self.rx.ready
        with m.If(accept):
            m.d.sync += [receiving.eq(~beat.last), current.eq(chosen)]
        m.d.comb += [order.w_en.eq(accept & ~receiving), order.w_data.eq(chosen)]

        # The core at the head gives its verdict, then its bytes.
        head = Signal(range(n))
        m.d.comb += head.eq(order.r_data)
        sending = Signal()
        for i, (core_verdict, core_tx) in enumerate(zip(self.core_verdict, self.core_tx)):
            at_head = order.r_rdy & (head == i)
            m.d.comb += [core_verdict.ready.eq(at_head & ~sending & self.verdict.ready),
                         core_tx.ready.eq(at_head & sending & self.tx.ready)]
            with m.If(at_head):
                m.d.comb += [self.verdict.payload.eq(core_verdict.payload),
                             self.verdict.valid.eq(core_verdict.valid & ~sending),
                             self.tx.payload.eq(core_tx.payload), self.tx.valid.eq(core_tx.valid & sending)]
        verdict_taken = self.verdict.valid & self.verdict.ready
        last_sent = self.tx.valid & self.tx.ready & self.tx.payload.last
        with m.If(verdict_taken & self.verdict.payload.sends):
            m.d.sync += sending.eq(1)
        with m.If(last_sent):
            m.d.sync += sending.eq(0)
        m.d.comb += order.r_en.eq(verdict_taken & ~self.verdict.payload.sends | last_sent)
        return m
