"""Several cores behind one pair of streams: the dispatcher sends each
packet to a core, and the merger gives each core's verdicts and packets as
they come, the cores taking turns. Each verdict carries its packet's tag,
its number in arrival order, and the core that ran it.

A core gives its packets in the order they came, so a flow keeps its order
if its packets in flight are all in one core: a packet whose flow has a
packet in a core (from its first beat until its verdict) goes to that
core. Any other goes to the core of fewest packets in flight among those
that can take it (the core its flow hashes to first, then in core order),
so `rx` waits only while every core is full, or while the one core a flow
is in is. Packets of different flows may pass each other.

The flow hash folds the bytes of a packet that stay the same along a flow,
and the same both ways, so that a connection's two directions are one
flow (a program that tracks connections sees a reply after the packet that
opened its connection): for IPv4, the protocol (byte 23 of the frame) and
each byte of the source address (26 to 29) beside the destination's in
the same place (30 to 33); for frames too short to reach them, each byte
of the destination MAC address beside the source's. The dispatcher sees
a packet's first two beats, or one when it holds them all: with beats of
fewer than 34 bytes (several cores), a first beat waits for the second in
a register, a cycle more. Flows of one hash count as one flow.
`dispatch_core` is the core an idle engine gives a packet.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .bits import kept_bytes, ring_next
from .slice import TAG_BITS, beat_layout, verdict_layout

__all__ = ["FLOW_WINDOW", "seen_bytes", "flow_bytes", "flow_hash", "dispatch_core", "Dispatcher"]

PROTOCOL_BYTE = 23
SOURCE, DESTINATION = 26, 30               # an IPv4 header's addresses in the frame
FLOW_WINDOW = DESTINATION + 4              # the frame's bytes the flow hash may fold


def seen_bytes(frame_bytes: int) -> int:
    """The bytes of a packet the dispatcher sees before it picks a core:
    its first two beats, or the first when that holds the window."""
    return frame_bytes if frame_bytes >= FLOW_WINDOW else 2 * frame_bytes


def flow_bytes(frame_bytes: int) -> tuple[int, ...]:
    """The bytes of a frame the flow hash folds, with beats of ``frame_bytes``."""
    seen = seen_bytes(frame_bytes)
    pairs = [(SOURCE + i, DESTINATION + i) for i in range(4) if DESTINATION + i < seen]
    if not pairs:
        return tuple(i for mac in range(6) for i in (mac, 6 + mac))       # the MAC addresses
    return (PROTOCOL_BYTE, *(i for pair in pairs for i in pair))


def flow_hash(frame: bytes, frame_bytes: int) -> int:
    """The 8-bit hash that names a packet's flow."""
    h = 0
    for i in flow_bytes(frame_bytes):
        h ^= frame[i] if i < len(frame) else 0
    return h


def dispatch_core(frame: bytes, cores: int, frame_bytes: int) -> int:
    """The core a packet goes to when no core holds a packet (the core its
    flow hashes to)."""
    return flow_hash(frame, frame_bytes) * cores >> 8


class Dispatcher(wiring.Component):
    """``rx`` to the cores' ``rx``, their verdicts and bytes to ``verdict``
    and ``tx`` in each flow's order; a core holds up to ``buffers`` packets."""

    def __init__(self, cores: int, frame_bytes: int, buffers: int):
        self.cores = cores
        self.frame_bytes = frame_bytes
        self.buffers = buffers
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
        fb = self.frame_bytes
        rx = self.rx
        beat, valid = rx.payload, rx.valid     # the beat offered to the cores
        ready, taken = Signal(), Signal()       # the chosen core's ready; the beat taken
        window = Signal(8 * seen_bytes(fb))     # the bytes the hash may fold, for a first beat
        if n == 1 or fb >= FLOW_WINDOW:
            m.d.comb += [window.eq(kept_bytes(beat.data, beat.keep)), rx.ready.eq(ready)]
        else:
            # A first beat waits in a register for the packet's second.
            beat, held = Signal.like(rx.payload), Signal()
            head = Signal()                     # ``beat`` is a packet's first
            inside = Signal()                   # between a first and a last beat on ``rx``
            after = Mux(beat.last, 0, kept_bytes(rx.payload.data, rx.payload.keep))
            m.d.comb += [window.eq(Cat(kept_bytes(beat.data, beat.keep), after)),
                         rx.ready.eq(~held | taken)]
            with m.If(rx.valid & rx.ready):
                m.d.sync += [beat.eq(rx.payload), held.eq(1), head.eq(~inside), inside.eq(~rx.payload.last)]
            with m.Elif(taken):
                m.d.sync += held.eq(0)
            valid = held & (~head | beat.last | rx.valid)
        # A packet's first beat picks its core; the rest follow it there.
        h = Signal(8)
        m.d.comb += h.eq(0)
        for i in flow_bytes(fb):
            h_next = Signal(8)
            m.d.comb += h_next.eq(h ^ window[8 * i:8 * i + 8])
            h = h_next
        receiving = Signal()
        current = Signal(range(n))
        chosen = Signal(range(n))
        first = Signal()                        # a packet's first beat is taken
        m.d.comb += chosen.eq(Mux(receiving, current, self._pick(m, h, first, chosen)))
        for i, core_rx in enumerate(self.core_rx):
            m.d.comb += [core_rx.payload.eq(beat), core_rx.valid.eq(valid & (chosen == i))]
        # Each packet is tagged with its number in arrival order, which its
        # verdict carries out.
        tag = Signal.like(self.tag)
        m.d.comb += [self.tag.eq(tag),
                     ready.eq(Cat(*((chosen == i) & core_rx.ready for i, core_rx in enumerate(self.core_rx))).any()),
                     taken.eq(valid & ready), first.eq(taken & ~receiving)]
        with m.If(taken):
            m.d.sync += [receiving.eq(~beat.last), current.eq(chosen)]
            with m.If(~receiving):
                m.d.sync += tag.eq(tag + 1)

        # The merger: a core with a verdict gives it, then its bytes; the
        # cores take turns, from the one after the last to give a verdict.
        # A flow's packets in flight are all in one core, which gives them
        # in order.
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
            m.d.sync += [sender.eq(pick), turn.eq(ring_next(pick, n))]
            with m.If(self.verdict.payload.sends):
                m.d.sync += sending.eq(1)
        with m.If(self.tx.valid & self.tx.ready & self.tx.payload.last):
            m.d.sync += sending.eq(0)
        return m

    def _pick(self, m: Module, h: Value, first: Value, chosen: Value) -> Value:
        """The core a packet of flow hash ``h`` goes to; ``first``: its
        first beat is taken, by core ``chosen``."""
        n = self.cores
        hashed = Signal(range(n))
        m.d.comb += hashed.eq((h * n) >> 8)
        if n == 1:
            return hashed
        # Each core's flows in flight, in a ring: a packet's hash goes in
        # with its first beat and out with its verdict, the oldest first.
        depth = self.buffers
        owner = Signal(range(n))
        owned = Signal()
        counts = []
        for i, core_verdict in enumerate(self.core_verdict):
            flows = Array(Signal(8, name=f"flow{i}_{k}") for k in range(depth))
            live = Array(Signal(name=f"live{i}_{k}") for k in range(depth))
            newest = Signal(range(depth), name=f"newest{i}")
            oldest = Signal(range(depth), name=f"oldest{i}")
            count = Signal(range(depth + 1), name=f"in_flight{i}")
            m.d.comb += count.eq(sum(live))
            counts.append(count)
            pushed = first & (chosen == i)
            popped = core_verdict.valid & core_verdict.ready
            with m.If(pushed):
                m.d.sync += [flows[newest].eq(h), live[newest].eq(1), newest.eq(ring_next(newest, depth))]
            with m.If(popped):
                m.d.sync += [live[oldest].eq(0), oldest.eq(ring_next(oldest, depth))]
            with m.If(Cat(*(live[k] & (flows[k] == h) for k in range(depth))).any()):
                m.d.comb += [owned.eq(1), owner.eq(i)]
        # Otherwise the core of fewest packets in flight that can take one,
        # the hashed core first, then in core order.
        ready = Array(c.ready for c in self.core_rx)
        in_flight = Array(counts)
        best = hashed
        for i in range(n):
            better = Signal(range(n), name=f"least{i}")
            m.d.comb += better.eq(Mux(ready[i] & (~ready[best] | (counts[i] < in_flight[best])), i, best))
            best = better
        return Mux(owned, owner, best)
