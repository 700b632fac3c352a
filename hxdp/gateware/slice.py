"""One core of the engine with its packet buffer: it takes a packet on
``rx`` (one at a time), runs the program on it, gives the ``verdict`` and
sends the packet's bytes on ``tx``. The engine puts one or more slices
behind its dispatcher and merger, and gives them the map memory, the map
table and the control registers they share.

The core starts in the cycle after the first beat (early start); the rest
of the packet keeps arriving while the program runs. When the program has
ended and the packet is all in, the slice gives its verdict and, for
XDP_PASS, XDP_TX and XDP_REDIRECT, sends the bytes the program left.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.memory import CONTEXT_BASE, PACKET_BASE
from ..ebpf.runtime import FRAME_SIZE
from ..ebpf.xdp import HEADROOM, LEAVING
from ..target import Target
from .bits import kept_bytes, low_ones, one_of
from .bytemem import ByteMemory
from .core import FRAME_ADDR_BITS, Core, Fault

__all__ = ["CoreSlice", "beat_layout", "verdict_layout"]


def beat_layout(frame_bytes: int) -> data.StructLayout:
    """A beat of a packet stream: ``keep`` marks the bytes present (the last
    beat may be partial); ``port`` and ``queue`` (on ``rx``, read from a
    packet's first beat) are its ingress ifindex and rx queue."""
    return data.StructLayout({"data": 8 * frame_bytes, "keep": frame_bytes, "last": 1,
                              "port": 32, "queue": 32})


def verdict_layout() -> data.StructLayout:
    """``sends``: the packet's bytes follow on ``tx``; ``egress``: the
    ifindex an XDP_REDIRECT sends them to."""
    return data.StructLayout({"action": 64, "cycles": 32, "fault": Fault, "length": FRAME_ADDR_BITS + 1,
                              "sends": 1, "egress": 32})




class CoreSlice(wiring.Component):
    """Core ``cpu`` of the engine and its packet buffer. ``core`` is made
    here so that the engine wires its shared ports (instruction memory, map
    memory and table, the map lock) itself; the slice drives its packet
    ports."""

    def __init__(self, target: Target, rows: list[int], cpu: int = 0):
        self.target = target
        self.core = Core(target, rows, cpu)
        fb = target.packet_frame_bytes
        super().__init__({
            "rx": In(stream.Signature(beat_layout(fb))),
            "tx": Out(stream.Signature(beat_layout(fb))),
            "verdict": Out(stream.Signature(verdict_layout())),
            "enabled": In(1),
            "conformance": In(1),
            "busy": Out(1),             # from a packet's first beat until it has left
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        t = self.target
        fb = t.packet_frame_bytes
        core = self.core
        buf = ByteMemory(FRAME_SIZE, core.read_ports, fb)
        m.submodules.core = core
        m.submodules.packet = buf
        for p in range(core.read_ports):
            wiring.connect(m, core.pkt_read[p], buf.read[p])
        wiring.connect(m, core.pkt_write, buf.write)

        # -- receive ---------------------------------------------------------------------
        conformance = self.conformance
        busy = self.busy
        beat = self.rx.payload
        frames_in = Signal(range(FRAME_SIZE // fb + 1))
        length = Signal(FRAME_ADDR_BITS + 1)
        receiving = Signal()          # between the first and the last beat
        full = Signal()               # the whole packet is in the buffer
        port, queue = Signal(32), Signal(32)
        accept = Signal()
        first = Signal()
        done_packet = Signal()        # its verdict (and bytes) gone: a new packet may come in this cycle
        ended = Signal()              # the program has ended (the core holds its outcome)
        with m.If(done_packet):
            m.d.sync += [busy.eq(0), ended.eq(0), full.eq(0)]
        m.d.comb += [
            self.rx.ready.eq(receiving | (~busy | done_packet) & self.enabled),
            accept.eq(self.rx.valid & self.rx.ready),
            first.eq(accept & ~receiving),
        ]
        kept = Signal(range(fb + 1))
        m.d.comb += kept.eq(sum(beat.keep[i] for i in range(fb)))
        length_next = Signal.like(length)
        m.d.comb += length_next.eq(Mux(first, 0, length) + kept)
        index = Signal(range(FRAME_SIZE // fb))
        m.d.comb += index.eq(Mux(first, 0, frames_in) + HEADROOM // fb)
        # A beat is written into the buffer from registers in the cycle
        # after it is taken, which a beat taken late in its cycle (a
        # packet's first, as the one before leaves) leaves time for. A load
        # of its bytes issues no sooner (the count of bytes present moves
        # in that cycle too), and the buffer's read ports see a write in
        # its own cycle, so the core reads the bytes as it did.
        m.d.sync += [buf.frame_en.eq(accept), buf.frame_index.eq(index),
                     buf.frame_data.eq(kept_bytes(beat.data, beat.keep))]
        with m.If(accept):
            m.d.sync += [frames_in.eq(Mux(first, 1, frames_in + 1)), length.eq(length_next)]
            with m.If(first):
                m.d.sync += [busy.eq(1), port.eq(beat.port), queue.eq(beat.queue)]
            m.d.sync += [receiving.eq(~beat.last), full.eq(beat.last)]

        # The core starts with the first beat, or (conformance) in the cycle
        # after the last, when r1 and r2 come from the length's register.
        whole = Signal()
        m.d.sync += whole.eq(conformance & accept & beat.last)
        m.d.comb += [
            core.start.eq(Mux(conformance, whole, first)), core.xdp.eq(~conformance),
            core.r1.eq(Mux(conformance, Mux(length != 0, PACKET_BASE + HEADROOM, 0), CONTEXT_BASE)),
            core.r2.eq(Mux(conformance, length, 0)),
            core.pkt_end.eq(HEADROOM + length),
            core.pkt_present.eq(frames_in * fb), core.pkt_done.eq(full),
            core.ingress_ifindex.eq(port), core.rx_queue_index.eq(queue),
        ]

        # -- verdict and transmit ------------------------------------------------------------
        # The core keeps the outcome, the egress port and the packet's bounds
        # until its next packet starts, which is after this one is done.
        with m.If(core.finished & ~done_packet):
            m.d.sync += ended.eq(1)
        action, fault = core.action, core.fault
        verdict = self.verdict
        sends = Signal()
        out_length = Signal.like(length)            # the bytes the program left in the packet
        m.d.comb += out_length.eq(core.bounds.end - core.bounds.data)
        m.d.comb += sends.eq(~conformance & (fault == Fault.NONE) & (out_length != 0) &
                             one_of(action[:32], LEAVING))
        m.d.comb += [verdict.payload.action.eq(action), verdict.payload.cycles.eq(core.cycles),
                     verdict.payload.fault.eq(fault), verdict.payload.length.eq(out_length),
                     verdict.payload.sends.eq(sends), verdict.payload.egress.eq(core.egress)]
        sending = Signal()
        with m.FSM():
            with m.State("VERDICT"):
                # From the cycle the outcome is out and the packet all in.
                m.d.comb += verdict.valid.eq((ended | core.finished) & full)
                with m.If(verdict.valid & verdict.ready):
                    with m.If(sends):
                        m.next = "SEND"
                    with m.Else():
                        m.d.comb += done_packet.eq(1)
            with m.State("SEND"):
                m.d.comb += sending.eq(1)
                with m.If(self.tx.valid & self.tx.ready & self.tx.payload.last):
                    m.d.comb += done_packet.eq(1)
                    m.next = "VERDICT"
        self._transmit(m, buf, sending, core.bounds.data, out_length)
        return m

    def _transmit(self, m: Module, buf: ByteMemory, sending: Signal, start: Value, length: Value) -> None:
        """Stream ``length`` bytes from frame offset ``start`` out, a frame a
        beat: each beat is cut from two consecutive frames of the buffer
        (``low``, then the one on the read port), shifted by ``start``'s
        place in its frame. A beat's ``last`` and ``keep`` come from
        registers, set from the bytes left after the beat before: the
        handshake that ends a packet lets the next one start in the same
        cycle, so nothing in front of it may wait for a subtraction."""
        fb = self.target.packet_frame_bytes
        tx = self.tx
        frames = FRAME_SIZE // fb
        next_frame = Signal(range(frames))          # the frame to read next
        low = Signal(8 * fb)
        primed = Signal()                           # ``low`` holds the beat's first frame
        arriving = Signal()                         # a frame is on the read port from this cycle
        high = Signal()                             # the beat's second frame stays on the read port
        have_high = Signal()
        remaining = Signal.like(length)             # bytes not yet sent
        last, keep = Signal(), Signal(fb)           # of the beat on ``tx``
        after_beat = Signal.like(length)            # what remains after it
        shift = start[:(fb - 1).bit_length()] if fb > 1 else Const(0, 1)
        read = Signal()
        m.d.comb += after_beat.eq(remaining - fb)
        m.d.comb += [buf.frame_read_en.eq(read), buf.frame_read_index.eq(next_frame)]
        m.d.comb += [
            have_high.eq(high | arriving & primed),
            tx.valid.eq(sending & have_high),
            tx.payload.data.eq((Cat(low, buf.frame_read_data) >> (shift * 8))[:8 * fb]),
            tx.payload.last.eq(last),
            tx.payload.keep.eq(keep),
        ]
        with m.If(~sending):
            m.d.sync += [next_frame.eq(start // fb), primed.eq(0), arriving.eq(0), high.eq(0),
                         remaining.eq(length), last.eq(length <= fb), keep.eq(low_ones(length, fb))]
        with m.Else():
            m.d.sync += arriving.eq(read)
            with m.If(~primed & ~arriving):
                m.d.comb += read.eq(1)                        # the first frame
            with m.If(arriving & ~primed):
                m.d.sync += [low.eq(buf.frame_read_data), primed.eq(1)]
                m.d.comb += read.eq(1)                        # and the second
            m.d.sync += high.eq(have_high)
            with m.If(tx.valid & tx.ready):
                m.d.sync += [remaining.eq(after_beat), last.eq(after_beat <= fb), keep.eq(low_ones(after_beat, fb)),
                             low.eq(buf.frame_read_data), high.eq(0)]
                with m.If(~last):
                    m.d.comb += read.eq(1)
            with m.If(read):
                m.d.sync += next_frame.eq(next_frame + 1)
