"""Frames between the line's clock domains and the engine's, whole.

`BeatPacker` gathers a MAC's bytes into beats of the engine's packet
frame (``frame_bytes`` a beat, ``keep`` marking the bytes present), and
`BeatUnpacker` takes beats back to bytes for the MAC to send.
`FrameFifo` stores beats in one domain and hands them on in another, a
whole frame at a time and a beat a cycle (store and forward: the engine's
timing model takes its ingress to be so, and a MAC sending a frame must
never run dry). On receive a frame whose last beat is not good, or that
finds the FIFO full, is dropped and counted; on transmit the writer waits
for room instead (``backpressure``).

Only counters that step by one cross the clock domains (in Gray code,
`counters`): frames stored, toward the reader; beats read, toward the writer.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import cdc, data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hxdp.gateware.slice import beat_layout

from .counters import from_gray, gray, tally
from .mac import byte_layout

__all__ = ["rx_beat_layout", "BeatPacker", "BeatUnpacker", "BeatWidener",
           "BeatNarrower", "FrameFifo", "FrameCrossing"]


def rx_beat_layout(frame_bytes: int) -> data.StructLayout:
    """A beat of a received frame; ``good`` on its last beat says whether to keep it."""
    return data.StructLayout({"data": 8 * frame_bytes, "keep": frame_bytes, "last": 1, "good": 1})


def _frame_layout(frame_bytes: int) -> data.StructLayout:
    return data.StructLayout({"data": 8 * frame_bytes, "keep": frame_bytes, "last": 1})


def _frame_fields(to, beat) -> list:
    """A beat's data, keep and last into another layout that has them."""
    return [to.data.eq(beat.data), to.keep.eq(beat.keep), to.last.eq(beat.last)]


class BeatPacker(wiring.Component):
    """A MAC's bytes (always taken) to beats of ``frame_bytes``, in ``domain``."""

    def __init__(self, frame_bytes: int, domain: str = "rx"):
        self.frame_bytes = frame_bytes
        self.domain = domain
        super().__init__({
            "bytes": In(stream.Signature(byte_layout())),
            "beats": Out(stream.Signature(rx_beat_layout(frame_bytes))),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        sync = m.d[self.domain]
        fb = self.frame_bytes
        filled = Signal(range(fb + 1))
        beat = self.beats.payload
        byte = self.bytes.payload
        m.d.comb += self.bytes.ready.eq(1)
        sync += self.beats.valid.eq(0)
        with m.If(self.bytes.valid):
            at = Mux(filled == fb, 0, filled)         # a beat just sent: start the next
            for i in range(fb):
                with m.If(at == i):
                    sync += [beat.data[8 * i:8 * i + 8].eq(byte.data), beat.keep[i].eq(1)]
                    if i == 0:
                        sync += beat.keep[1:].eq(0)
            full = (at + 1 == fb) | byte.last
            sync += [filled.eq(Mux(full, fb, at + 1)), self.beats.valid.eq(full), beat.last.eq(byte.last),
                     beat.good.eq(byte.good)]
        return m


class BeatUnpacker(wiring.Component):
    """Beats of a frame (from a `FrameFifo`, which has a frame's next beat
    ready within a few cycles) to a MAC's bytes, one a cycle without gaps,
    in ``domain``.

    A spare beat is read ahead of the one being sent, so the beats' ready
    is a register: the MAC taking a byte decides nothing on the FIFO's side
    (whose block RAM may sit across the chip) in the same cycle. Beats of
    two bytes or more leave the spare a cycle to refill."""

    def __init__(self, frame_bytes: int, domain: str = "tx"):
        if frame_bytes < 2:
            raise ValueError("the unpacker's beats must hold two bytes or more")
        self.frame_bytes = frame_bytes
        self.domain = domain
        super().__init__({
            "beats": In(stream.Signature(_frame_layout(frame_bytes))),
            "bytes": Out(stream.Signature(byte_layout())),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        sync = m.d[self.domain]
        fb = self.frame_bytes
        # The beats' bytes go without reset (``have`` and ``spare_have`` say
        # what they hold): the domain's reset net reaches fewer flip-flops.
        held = Signal.like(self.beats.payload, reset_less=True)    # the beat being sent
        have = Signal()
        spare = Signal.like(self.beats.payload, reset_less=True)   # the next one, read ahead
        spare_have = Signal()
        index = Signal(range(fb))
        at_end = Signal()                         # the byte at ``index`` is the held beat's last

        def last_bytes(keep) -> Value:
            """Bit i: byte i is the beat's last (its bytes are packed from the
            first, so the next one's keep bit is clear)."""
            return Cat(~keep[1:], 1)

        out = self.bytes
        m.d.comb += [out.valid.eq(have), out.payload.data.eq(held.data.word_select(index, 8)),
                     out.payload.last.eq(held.last & at_end), out.payload.good.eq(1),
                     self.beats.ready.eq(~spare_have)]
        taking = self.beats.valid & self.beats.ready
        with m.If(taking):
            sync += spare.eq(self.beats.payload)
        # The spare moves up as the last byte of the held beat goes, or when none is held.
        with m.If(~have | out.ready & at_end):
            sync += [held.eq(spare), have.eq(spare_have), index.eq(0),
                     at_end.eq(last_bytes(spare.keep)[0]), spare_have.eq(taking)]
        with m.Else():
            sync += spare_have.eq(spare_have | taking)
            with m.If(out.ready):
                sync += [index.eq(index + 1), at_end.eq(last_bytes(held.keep).bit_select(index + 1, 1))]
        return m


class BeatWidener(wiring.Component):
    """Beats of ``narrow`` bytes (a frame's, bytes packed from the first)
    into beats of ``wide`` bytes, in ``domain``: a wide beat goes once full
    or at the frame's end. Narrow FIFOs on the line side cost fewer block
    RAMs than the engine's wide beats would."""

    def __init__(self, narrow: int, wide: int, domain: str = "sync"):
        assert wide % narrow == 0
        self.narrow, self.wide, self.domain = narrow, wide, domain
        super().__init__({"i": In(stream.Signature(_frame_layout(narrow))),
                          "o": Out(stream.Signature(_frame_layout(wide)))})

    def elaborate(self, platform) -> Module:
        m = Module()
        sync = m.d[self.domain]
        parts = self.wide // self.narrow
        at = Signal(range(parts))
        beat = self.o.payload
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.valid & self.o.ready):
            sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            piece = self.i.payload
            for k in range(parts):
                with m.If(at == k):
                    sync += [beat.data.word_select(k, 8 * self.narrow).eq(piece.data),
                             beat.keep.word_select(k, self.narrow).eq(piece.keep)]
                    if k == 0:
                        sync += beat.keep[self.narrow:].eq(0)
            done = piece.last | (at == parts - 1)
            sync += [at.eq(Mux(done, 0, at + 1)), beat.last.eq(piece.last), self.o.valid.eq(done)]
        return m


class BeatNarrower(wiring.Component):
    """Beats of ``wide`` bytes into beats of ``narrow``, in ``domain``; the
    pieces of a partial last beat with no bytes are left out."""

    def __init__(self, wide: int, narrow: int, domain: str = "sync"):
        assert wide % narrow == 0
        self.narrow, self.wide, self.domain = narrow, wide, domain
        super().__init__({"i": In(stream.Signature(_frame_layout(wide))),
                          "o": Out(stream.Signature(_frame_layout(narrow)))})

    def elaborate(self, platform) -> Module:
        m = Module()
        parts = self.wide // self.narrow
        at = Signal(range(parts))
        beat, piece = self.i.payload, self.o.payload
        final = Signal()                    # this piece is the frame's last
        m.d.comb += [piece.data.eq(beat.data.word_select(at, 8 * self.narrow)),
                     piece.keep.eq(beat.keep.word_select(at, self.narrow)),
                     final.eq((at == parts - 1) | ~beat.keep.bit_select(at * self.narrow + self.narrow, 1)
                              if parts > 1 else 1),
                     piece.last.eq(beat.last & final), self.o.valid.eq(self.i.valid)]
        end = (at == parts - 1) | (beat.last & final)
        m.d.comb += self.i.ready.eq(self.o.ready & end)
        with m.If(self.o.valid & self.o.ready):
            m.d[self.domain] += at.eq(Mux(end, 0, at + 1))
        return m


class FrameFifo(wiring.Component):
    """``depth`` beats; frames in (``w_domain``, never waiting) and out
    (``r_domain``), ``dropped`` counted in the write domain."""

    def __init__(self, frame_bytes: int, depth: int, w_domain: str = "rx", r_domain: str = "sync",
                 backpressure: bool = False, paced: bool = False):
        """With ``backpressure`` the writer waits for room (``depth`` must
        then hold the largest frame). ``paced`` is for a reader in a fast
        clock that takes a beat at most every third cycle (a MAC sending
        beats of several bytes): the beats then leave from a register, the
        block RAM's address is a register and its output goes into
        registers only (its clock-to-output is half a 125 MHz cycle, and
        its place on a crowded part may be anywhere)."""
        if depth & (depth - 1):
            raise ValueError("the frame FIFO's depth must be a power of two")
        self.frame_bytes, self.depth = frame_bytes, depth
        self.backpressure, self.paced = backpressure, paced
        self.w_domain, self.r_domain = w_domain, r_domain
        super().__init__({
            "w": In(stream.Signature(rx_beat_layout(frame_bytes))),
            "r": Out(stream.Signature(_frame_layout(frame_bytes))),
            "stored": Out(32),          # frames kept (write domain)
            "dropped": Out(32),         # frames not good or too many for the room left (write domain)
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        wsync, rsync = m.d[self.w_domain], m.d[self.r_domain]
        bits = (self.depth - 1).bit_length()
        width = 8 * self.frame_bytes + self.frame_bytes + 1
        m.submodules.mem = mem = memory.Memory(shape=width, depth=self.depth, init=[])
        wp = mem.write_port(domain=self.w_domain)
        rp = mem.read_port(domain=self.r_domain, transparent_for=())

        # -- write: beats land from ``start``; a frame is kept by moving ``start`` past it.
        head = Signal(bits + 1)                   # the next beat's place
        start = Signal(bits + 1)                  # the first beat of the frame being written
        spilled = Signal()                        # the frame did not fit: drop it
        frames = Signal(bits + 1)                 # frames kept, mod 2^(bits+1), to the reader in Gray code
        read_gray = Signal(bits + 1)              # the reader's place, in the write domain
        read_gray_r = Signal(bits + 1)            # and in its own
        m.submodules.read_sync = cdc.FFSynchronizer(read_gray_r, read_gray, o_domain=self.w_domain)
        # Decoded a cycle late: the room it leaves is never more than there is.
        read = Signal(bits + 1)
        wsync += read.eq(from_gray(read_gray, bits + 1))
        # Room for a beat, known a cycle ahead: room for two then leaves one
        # whatever that cycle wrote (the last place goes unused).
        room = Signal()
        wsync += room.eq((head - read)[:bits + 1] < self.depth - 1)
        dropping = Signal()
        tally(m, self.w_domain, dropping, self.dropped)
        beat = self.w.payload
        m.d.comb += [self.w.ready.eq(room if self.backpressure else 1),
                     wp.addr.eq(head[:bits]), wp.data.eq(Cat(beat.data, beat.keep, beat.last)),
                     wp.en.eq(self.w.valid & room & ~spilled)]
        with m.If(self.w.valid & self.w.ready):
            with m.If(beat.last):
                with m.If(beat.good & room & ~spilled):
                    wsync += [start.eq(head + 1), head.eq(head + 1), frames.eq(frames + 1),
                              self.stored.eq(self.stored + 1)]
                with m.Else():
                    wsync += head.eq(start)
                    m.d.comb += dropping.eq(1)
                wsync += spilled.eq(0)
            with m.Elif(room & ~spilled):
                wsync += head.eq(head + 1)
            with m.Else():
                wsync += spilled.eq(1)
        frames_gray = Signal(bits + 1)
        wsync += frames_gray.eq(gray(frames))

        # -- read: a frame starts once it is all stored; its beats follow a cycle each.
        stored_gray = Signal(bits + 1)
        m.submodules.frames_sync = cdc.FFSynchronizer(frames_gray, stored_gray, o_domain=self.r_domain)
        stored = Signal(bits + 1)                 # frames stored, decoded a cycle late
        rsync += stored.eq(from_gray(stored_gray, bits + 1))
        taken = Signal(bits + 1)                  # frames read
        # A whole frame is waiting: from the counts of the cycle before, so
        # that no compare lies on the path from the reader to the block RAM.
        waiting = Signal()
        in_frame = Signal()                       # the frame being read has beats left to read
        at = Signal(bits + 1)
        out = self.r.payload

        def unpack(to, word) -> list:
            return [to.data.eq(word[:8 * self.frame_bytes]), to.keep.eq(word[8 * self.frame_bytes:-1]),
                    to.last.eq(word[-1])]

        def frame_read(ends) -> list:
            """A frame counted read once its last beat is taken (and from
            that, whether another waits)."""
            return [taken.eq(Mux(ends, taken + 1, taken)),
                    waiting.eq(Mux(ends, stored != (taken + 1)[:bits + 1], stored != taken))]

        if self.paced:
            # A beat at a time: read (``fetching``), into ``out``, taken.
            fetching = Signal()
            holding = Signal()                    # ``out`` holds a beat
            # The beat's register has no reset (``holding`` says whether it
            # holds one), so the read domain's reset reaches none of its bits.
            word = Signal.like(rp.data, reset_less=True)
            m.d.comb += [rp.addr.eq(at[:bits]), rp.en.eq(1), self.r.valid.eq(holding), *unpack(out, word)]
            taking = holding & self.r.ready
            with m.If(~holding & ~fetching & (in_frame | waiting)):
                rsync += [fetching.eq(1), at.eq(at + 1), in_frame.eq(1)]
            with m.If(fetching):
                rsync += [fetching.eq(0), holding.eq(1), word.eq(rp.data)]
            with m.If(taking):
                rsync += holding.eq(0)
                with m.If(out.last):
                    rsync += in_frame.eq(0)
            rsync += frame_read(taking & out.last)
            rsync += read_gray_r.eq(gray(at))
        else:
            # ``at`` is the beat on the read port's output; both outcomes of
            # the beat read now are compared beforehand, so no compare hangs
            # off the block RAM's output either.
            m.d.comb += [*unpack(out, rp.data), self.r.valid.eq(in_frame | waiting)]
            advance = self.r.valid & self.r.ready
            m.d.comb += [rp.addr.eq(Mux(advance, at + 1, at)[:bits]), rp.en.eq(1)]
            rsync += frame_read(advance & out.last)
            with m.If(advance):
                rsync += [at.eq(at + 1), in_frame.eq(~out.last)]
            rsync += read_gray_r.eq(gray(Mux(advance, at + 1, at)))
        return m


class FrameCrossing(wiring.Component):
    """A port's frames between its line and the engine, both ways: received
    beats of ``line_bytes`` (``line_rx``, domain ``rx_domain``) through a
    `FrameFifo` and a `BeatWidener` to the engine's ``rx`` beats of
    ``frame_bytes`` (domain ``domain``, ``port`` set to ``ifindex``); the
    engine's ``tx`` beats through a `BeatNarrower` and a `FrameFifo` (the
    engine waiting for room) to ``line_tx`` (domain ``tx_domain``). Each
    FIFO holds ``depth`` line beats; ``stored`` and ``dropped`` count
    received frames in ``rx_domain``. With ``paced_tx`` the transmit FIFO
    is paced (`FrameFifo`): for a line that takes a beat at most every
    third cycle (a MAC sending a byte a cycle), not one a cycle."""

    def __init__(self, line_bytes: int, frame_bytes: int, depth: int, ifindex: int, *, rx_domain: str,
                 tx_domain: str, domain: str, paced_tx: bool = False):
        self.line_bytes, self.frame_bytes, self.depth, self.ifindex = line_bytes, frame_bytes, depth, ifindex
        self.paced_tx = paced_tx
        self.rx_domain, self.tx_domain, self.domain = rx_domain, tx_domain, domain
        beats = stream.Signature(beat_layout(frame_bytes))
        super().__init__({"line_rx": In(stream.Signature(rx_beat_layout(line_bytes))),
                          "line_tx": Out(stream.Signature(_frame_layout(line_bytes))),
                          "rx": Out(beats), "tx": In(beats), "stored": Out(32), "dropped": Out(32)})

    def elaborate(self, platform) -> Module:
        m = Module()
        lb, fb = self.line_bytes, self.frame_bytes
        m.submodules.rx_fifo = rx_fifo = FrameFifo(lb, self.depth, self.rx_domain, self.domain)
        m.submodules.widener = widener = BeatWidener(lb, fb, self.domain)
        wiring.connect(m, wiring.flipped(self.line_rx), rx_fifo.w)
        wiring.connect(m, rx_fifo.r, widener.i)
        m.d.comb += [self.rx.valid.eq(widener.o.valid), widener.o.ready.eq(self.rx.ready),
                     *_frame_fields(self.rx.payload, widener.o.payload), self.rx.payload.port.eq(self.ifindex),
                     self.stored.eq(rx_fifo.stored), self.dropped.eq(rx_fifo.dropped)]
        m.submodules.narrower = narrower = BeatNarrower(fb, lb, self.domain)
        m.submodules.tx_fifo = tx_fifo = FrameFifo(lb, self.depth, self.domain, self.tx_domain, backpressure=True,
                                                   paced=self.paced_tx)
        m.d.comb += [narrower.i.valid.eq(self.tx.valid), self.tx.ready.eq(narrower.i.ready),
                     *_frame_fields(narrower.i.payload, self.tx.payload),
                     tx_fifo.w.valid.eq(narrower.o.valid), narrower.o.ready.eq(tx_fifo.w.ready),
                     *_frame_fields(tx_fifo.w.payload, narrower.o.payload), tx_fifo.w.payload.good.eq(1)]
        wiring.connect(m, tx_fifo.r, wiring.flipped(self.line_tx))
        return m
