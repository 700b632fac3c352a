"""One core of the engine with its packet buffers: it takes packets on
``rx``, runs the program on each in turn, gives the ``verdict`` and sends
the packet's bytes on ``tx``. The engine puts one or more slices behind
its dispatcher and merger, and gives them the map memory, the map table
and the control registers they share.

The core starts on a packet in the cycle after its last beat, when the
packet is whole in its buffer, or later, once the verdict of the packet
before it is taken; so no row of the program waits for a packet's bytes.
When the program has ended, the slice gives its verdict and, for
XDP_PASS, XDP_TX and XDP_REDIRECT, sends the bytes the program left. With
``packet_buffers`` of 2 or more, the next packets come in while the
program runs and the last one's bytes go out.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.memory import CONTEXT_BASE, PACKET_BASE
from ..ebpf.runtime import FRAME_SIZE
from ..ebpf.xdp import HEADROOM, LEAVING
from ..target import MAX_CORES, Target
from .bits import kept_bytes, low_ones, one_of, ring_next
from .bytemem import ByteMemory
from .core import FRAME_ADDR_BITS, Core, Fault

__all__ = ["CoreSlice", "TAG_BITS", "CPU_BITS", "beat_layout", "verdict_layout"]


def beat_layout(frame_bytes: int) -> data.StructLayout:
    """A beat of a packet stream: ``keep`` marks the bytes present (the last
    beat may be partial); ``port`` and ``queue`` (on ``rx``, read from a
    packet's first beat) are its ingress ifindex and rx queue."""
    return data.StructLayout({"data": 8 * frame_bytes, "keep": frame_bytes, "last": 1,
                              "port": 32, "queue": 32})


# A packet's tag: its number in arrival order, modulo 2 ** TAG_BITS.
TAG_BITS = 16
# The core that ran a packet.
CPU_BITS = (MAX_CORES - 1).bit_length()


def verdict_layout() -> data.StructLayout:
    """``sends``: the packet's bytes follow on ``tx``; ``egress``: the
    ifindex an XDP_REDIRECT sends them to; ``tag``: the packet's; ``cpu``:
    the core that ran it."""
    return data.StructLayout({"action": 64, "cycles": 32, "fault": Fault, "length": FRAME_ADDR_BITS + 1,
                              "sends": 1, "egress": 32, "tag": TAG_BITS, "cpu": CPU_BITS})




class CoreSlice(wiring.Component):
    """Core ``cpu`` of the engine and its packet buffer. ``core`` is made
    here so that the engine wires its shared ports (instruction memory, map
    memory and table, the map lock) itself; the slice drives its packet
    ports."""

    def __init__(self, target: Target, rows: list[int], cpu: int = 0):
        self.target = target
        self.cpu = cpu
        self.core = Core(target, rows, cpu)
        fb = target.packet_frame_bytes
        super().__init__({
            "rx": In(stream.Signature(beat_layout(fb))),
            "tx": Out(stream.Signature(beat_layout(fb))),
            "verdict": Out(stream.Signature(verdict_layout())),
            "enabled": In(1),
            "conformance": In(1),
            "tag": In(TAG_BITS),        # the tag of a packet whose first beat comes in
            "busy": Out(1),             # from a packet's first beat until it has left
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        t = self.target
        fb = t.packet_frame_bytes
        core = self.core
        buffers = t.packet_buffers
        buf = ByteMemory(buffers * FRAME_SIZE, core.read_ports, fb, regions=buffers)
        m.submodules.core = core
        m.submodules.packet = buf
        for p in range(core.read_ports):
            wiring.connect(m, core.pkt_read[p], buf.read[p])
        wiring.connect(m, core.pkt_write, buf.write)

        # -- receive ---------------------------------------------------------------------
        # The buffers form a ring: packets come into it in order (``rx_buf``,
        # the next beat's buffer), the core takes them in order (``run_buf``,
        # its packet's, from the cycle after its start), and they leave in
        # order, freeing the oldest (``done_packet``).
        conformance = self.conformance
        beat = self.rx.payload
        rx_buf = Signal(range(buffers))
        run_buf = Signal(range(buffers), init=buffers - 1)
        next_buf = Signal(range(buffers))        # the buffer the core starts on next
        m.d.comb += next_buf.eq(ring_next(run_buf, buffers))
        held = Signal(range(buffers + 1))        # buffers from a packet's first beat until it has left
        frames_in = Signal(range(FRAME_SIZE // fb + 1))     # of the packet coming in
        length = Array(Signal(FRAME_ADDR_BITS + 1, name=f"length{b}") for b in range(buffers))
        waiting = Array(Signal(name=f"waiting{b}") for b in range(buffers))    # whole, and not yet started
        port = Array(Signal(32, name=f"port{b}") for b in range(buffers))
        queue = Array(Signal(32, name=f"queue{b}") for b in range(buffers))
        tag = Array(Signal(TAG_BITS, name=f"tag{b}") for b in range(buffers))
        receiving = Signal()          # between the first and the last beat
        accept = Signal()
        first = Signal()
        done_packet = Signal()        # the oldest packet's verdict (and bytes) gone: its buffer is free
        m.d.comb += [
            self.rx.ready.eq(receiving | ((held != buffers) | done_packet) & self.enabled),
            accept.eq(self.rx.valid & self.rx.ready),
            first.eq(accept & ~receiving),
            self.busy.eq(held != 0),
        ]
        m.d.sync += held.eq(held + first - done_packet)
        kept = Signal(range(fb + 1))
        m.d.comb += kept.eq(sum(beat.keep[i] for i in range(fb)))
        length_next = Signal(FRAME_ADDR_BITS + 1)
        m.d.comb += length_next.eq(Mux(first, 0, length[rx_buf]) + kept)
        index = Signal(range(FRAME_SIZE // fb))
        m.d.comb += index.eq(Mux(first, 0, frames_in) + HEADROOM // fb)
        # A beat is written into the buffer from registers in the cycle
        # after it is taken, which a beat taken late in its cycle (a
        # packet's first, as the one before leaves) leaves time for. The
        # core starts no sooner than the cycle the last beat is written in,
        # and the buffer's read ports see a write in its own cycle.
        m.d.sync += [buf.frame_en.eq(accept), buf.frame_index.eq(Cat(index, rx_buf)),
                     buf.frame_data.eq(kept_bytes(beat.data, beat.keep))]
        with m.If(accept):
            m.d.sync += [frames_in.eq(Mux(first, 1, frames_in + 1)), length[rx_buf].eq(length_next),
                         receiving.eq(~beat.last)]
            with m.If(first):
                m.d.sync += [port[rx_buf].eq(beat.port), queue[rx_buf].eq(beat.queue), tag[rx_buf].eq(self.tag)]
            with m.If(beat.last):
                m.d.sync += [waiting[rx_buf].eq(1), rx_buf.eq(ring_next(rx_buf, buffers))]

        # -- the core: the next packet, once the last one's verdict is taken ----------------
        # It starts in the cycle after the packet's last beat, or later, from
        # registers only (the packet before may leave in that cycle); in
        # conformance r1 and r2 come from the length's register.
        idle = Signal(init=1)         # the core's last packet has its verdict taken
        verdict_taken = Signal()
        free = Signal()
        m.d.comb += [
            free.eq(idle | verdict_taken),
            core.start.eq(free & waiting[next_buf]),
            core.xdp.eq(~conformance),
            core.r1.eq(Mux(conformance, Mux(length[next_buf] != 0, PACKET_BASE + HEADROOM, 0), CONTEXT_BASE)),
            core.r2.eq(Mux(conformance, length[next_buf], 0)),
            core.pkt_buffer.eq(run_buf),
            core.pkt_end.eq(HEADROOM + length[run_buf]),
            core.ingress_ifindex.eq(port[run_buf]), core.rx_queue_index.eq(queue[run_buf]),
        ]
        with m.If(verdict_taken):
            m.d.sync += idle.eq(1)
        with m.If(core.start):
            m.d.sync += [run_buf.eq(next_buf), waiting[next_buf].eq(0), idle.eq(0)]

        # -- verdict and transmit ------------------------------------------------------------
        # The core keeps the outcome, the egress port and the packet's bounds
        # until its next packet starts, which is no sooner than this one's
        # verdict is taken; the transmit side keeps what it sends from there.
        ended = Signal()              # the program has ended (the core holds its outcome)
        with m.If(core.finished & ~verdict_taken):
            m.d.sync += ended.eq(1)
        with m.If(verdict_taken):
            m.d.sync += ended.eq(0)
        action, fault = core.action, core.fault
        verdict = self.verdict
        sends = Signal()
        out_length = Signal(FRAME_ADDR_BITS + 1)    # the bytes the program left in the packet
        m.d.comb += out_length.eq(core.bounds.end - core.bounds.data)
        m.d.comb += sends.eq(~conformance & (fault == Fault.NONE) & (out_length != 0) &
                             one_of(action[:32], LEAVING))
        m.d.comb += [verdict.payload.action.eq(action), verdict.payload.cycles.eq(core.cycles),
                     verdict.payload.fault.eq(fault), verdict.payload.length.eq(out_length),
                     verdict.payload.sends.eq(sends), verdict.payload.egress.eq(core.egress),
                     verdict.payload.tag.eq(tag[run_buf]), verdict.payload.cpu.eq(self.cpu),
                     verdict_taken.eq(verdict.valid & verdict.ready)]
        sending = Signal()
        ahead = Signal()              # the packet's first frames are read while its verdict waits
        with m.FSM():
            with m.State("VERDICT"):
                # From the cycle the outcome is out.
                m.d.comb += [verdict.valid.eq(ended | core.finished),
                             ahead.eq(verdict.valid & sends)]
                with m.If(verdict_taken):
                    with m.If(sends):
                        m.next = "SEND"
                    with m.Else():
                        m.d.comb += done_packet.eq(1)
            with m.State("SEND"):
                m.d.comb += sending.eq(1)
                with m.If(self.tx.valid & self.tx.ready & self.tx.payload.last):
                    m.d.comb += done_packet.eq(1)
                    m.next = "VERDICT"
        self._transmit(m, buf, sending, ahead, run_buf, core.bounds.data, out_length)
        return m

    def _transmit(self, m: Module, buf: ByteMemory, sending: Signal, ahead: Signal, packet: Value, start: Value,
                  length: Value) -> None:
        """Stream ``length`` bytes from frame offset ``start`` of buffer
        ``packet`` out, a frame a beat, all three taken in the first cycle
        of ``ahead``: the packet's first two frames are read from the
        cycle its verdict is offered, so its first beat can go in the
        cycle after the verdict is taken, when ``sending`` begins. Each
        beat is cut from two consecutive frames of the buffer (``low``,
        then the one on the read port), shifted by ``start``'s place in its
        frame. A beat's ``last`` and ``keep`` come from
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
        shift = Signal(range(fb))
        tx_buf = Signal.like(packet)
        read = Signal()
        began = Signal()                            # the reads began: the registers hold the packet's place
        frame = Signal(range(frames))               # the frame read in this cycle, if any
        m.d.comb += after_beat.eq(remaining - fb)
        m.d.comb += [frame.eq(Mux(began, next_frame, start // fb)), buf.frame_read_en.eq(read),
                     buf.frame_read_index.eq(Cat(frame, Mux(began, tx_buf, packet)))]
        m.d.comb += [
            have_high.eq(high | arriving & primed),
            tx.valid.eq(sending & have_high),
            tx.payload.data.eq((Cat(low, buf.frame_read_data) >> (shift * 8))[:8 * fb]),
            tx.payload.last.eq(last),
            tx.payload.keep.eq(keep),
        ]
        with m.If(~began):
            m.d.sync += [shift.eq(start % fb), tx_buf.eq(packet),
                         remaining.eq(length), last.eq(length <= fb), keep.eq(low_ones(length, fb))]
        # After a packet's last beat the next packet's reads may begin at once.
        with m.If(~sending & ~ahead | tx.valid & tx.ready & last):
            m.d.sync += [began.eq(0), primed.eq(0), arriving.eq(0), high.eq(0)]
        with m.Else():
            m.d.sync += [began.eq(1), arriving.eq(read)]
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
                m.d.sync += next_frame.eq(frame + 1)
