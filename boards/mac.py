"""An Ethernet MAC at the GMII level: a byte a clock each way, in the
PHY's receive and transmit clock domains (``rx`` and ``tx``).

Receive finds the start delimiter after the preamble, passes the frame's
bytes on without its FCS, and on the last byte says whether the frame is
good: its FCS right, no receive error, and between MIN_FRAME and the
largest frame long (with FCS). A frame that is not good is counted by
kind; what takes the bytes (a store-and-forward FIFO) drops it.

Transmit sends the preamble and delimiter, the frame's bytes padded to
the shortest frame, the FCS, and then keeps the line idle for the
inter-frame gap before the next frame.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .counters import tally
from .crc32 import INIT, RESIDUE, crc32_byte

__all__ = ["MIN_FRAME", "MAX_FRAME", "JUMBO_FRAME", "PREAMBLE", "SFD", "IFG", "byte_layout", "gmii_signature",
           "MacRx", "MacTx"]

MIN_FRAME = 64             # bytes, FCS included
MAX_FRAME = 1518           # an untagged frame; 1522 with a VLAN tag
JUMBO_FRAME = 9018
PREAMBLE = 0x55
SFD = 0xD5
IFG = 12                   # idle bytes between frames
FCS_BYTES = 4


def byte_layout() -> data.StructLayout:
    """A frame's byte; on its ``last`` byte, ``good`` says whether to keep it."""
    return data.StructLayout({"data": 8, "last": 1, "good": 1})


def gmii_signature() -> wiring.Signature:
    """From the MAC's side: receive in, transmit out."""
    return wiring.Signature({"rxd": In(8), "rx_dv": In(1), "rx_er": In(1),
                             "txd": Out(8), "tx_en": Out(1), "tx_er": Out(1)})


class MacRx(wiring.Component):
    """GMII receive (domain ``domain``) to a stream of frame bytes, and the
    counts of frames taken and dropped. The stream must always be ready:
    the line does not wait (a FIFO behind it drops what it cannot hold)."""

    def __init__(self, max_frame: int = MAX_FRAME, domain: str = "rx"):
        self.max_frame = max_frame
        self.domain = domain
        super().__init__({
            "rxd": In(8), "rx_dv": In(1), "rx_er": In(1),
            "frames": Out(stream.Signature(byte_layout())),
            "good": Out(32), "bad_fcs": Out(32), "runts": Out(32), "too_long": Out(32), "errors": Out(32),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        sync = m.d[self.domain]
        # The last four bytes seen: a byte goes on once four more came, so
        # the FCS never does.
        held = [Signal(8, name=f"held{i}") for i in range(FCS_BYTES)]
        count = Signal(range(self.max_frame + 2))     # bytes of the frame so far, FCS included
        crc = Signal(32, init=INIT)
        error = Signal()
        short = Signal()            # fewer than MIN_FRAME bytes so far
        over = Signal()             # more than the largest frame
        pending = Signal()          # a byte is waiting in ``out`` for the next one or the end
        out = Signal(8)
        frames = self.frames
        ending = Signal()           # the frame ends in this cycle
        good = Signal()
        m.d.comb += good.eq((crc == RESIDUE) & ~error & ~short & ~over)
        # The stream leaves from registers: the FIFO it feeds sits by its
        # block RAMs, across the chip from the pins.
        sync += frames.valid.eq(0)
        with m.FSM(domain=self.domain):
            with m.State("IDLE"):
                with m.If(self.rx_dv & (self.rxd == SFD)):
                    sync += [count.eq(0), crc.eq(INIT), error.eq(0), pending.eq(0), short.eq(1), over.eq(0)]
                    m.next = "FRAME"
            with m.State("FRAME"):
                with m.If(self.rx_dv):
                    sync += [held[0].eq(self.rxd), *(held[i].eq(held[i - 1]) for i in range(1, FCS_BYTES)),
                             crc.eq(crc32_byte(crc, self.rxd)), error.eq(error | self.rx_er),
                             count.eq(Mux(count > self.max_frame, count, count + 1)),
                             # Judged as the bytes come, so the frame's end waits on no length compare.
                             short.eq(count + 1 < MIN_FRAME), over.eq(count + 1 > self.max_frame)]
                    with m.If(count >= FCS_BYTES):
                        # The byte four back goes on; the one before it, held in ``out``, leaves now.
                        sync += [frames.valid.eq(pending), frames.payload.data.eq(out),
                                 frames.payload.last.eq(0), frames.payload.good.eq(0),
                                 out.eq(held[FCS_BYTES - 1]), pending.eq(1)]
                with m.Else():
                    # The end: the byte in ``out`` is the frame's last.
                    m.d.comb += ending.eq(1)
                    sync += [frames.valid.eq(pending), frames.payload.data.eq(out), frames.payload.last.eq(1),
                             frames.payload.good.eq(good)]
                    m.next = "IDLE"
        # Each ended frame is counted once, by the first reason that fits.
        counted = Const(0)
        for counter, reason in ((self.good, good), (self.errors, error), (self.runts, short),
                                (self.too_long, over), (self.bad_fcs, Const(1))):
            tally(m, self.domain, ending & reason & ~counted, counter)
            counted = counted | reason
        return m


class MacTx(wiring.Component):
    """A stream of frame bytes (without FCS; ``good`` unused) to GMII
    transmit in domain ``domain``. A frame's bytes must come without gaps
    once its first is taken."""

    def __init__(self, domain: str = "tx"):
        self.domain = domain
        super().__init__({
            "frames": In(stream.Signature(byte_layout())),
            "txd": Out(8), "tx_en": Out(1), "tx_er": Out(1),
            "sent": Out(32),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        sync = m.d[self.domain]
        count = Signal(range(max(IFG, 8, MIN_FRAME) + 1))
        # The CRC and the FCS being sent are set before each use and go
        # without reset: the domain's reset net reaches fewer flip-flops.
        crc = Signal(32, init=INIT, reset_less=True)      # over the frame's bytes before the one in ``txd``
        folding = Signal()                # ``txd`` holds a frame byte (data or pad), not yet in ``crc``
        fcs = Signal(32, reset_less=True)
        frames = self.frames
        finished = Signal()               # the frame's last FCS byte goes out
        tally(m, self.domain, finished, self.sent)
        # The CRC takes each byte a cycle after it is sent, from the register:
        # no logic between the incoming stream and the CRC's XOR trees.
        with m.If(folding):
            sync += crc.eq(crc32_byte(crc, self.txd))
        sync += folding.eq(0)
        with m.FSM(domain=self.domain):
            with m.State("IDLE"):
                with m.If(frames.valid):
                    sync += count.eq(0)
                    m.next = "PREAMBLE"
            with m.State("PREAMBLE"):
                sync += [self.txd.eq(Mux(count == 7, SFD, PREAMBLE)), self.tx_en.eq(1), count.eq(count + 1)]
                with m.If(count == 7):
                    sync += [count.eq(0), crc.eq(INIT)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += frames.ready.eq(1)
                sync += [self.txd.eq(frames.payload.data), folding.eq(1),
                         count.eq(Mux(count < MIN_FRAME - FCS_BYTES, count + 1, count))]
                with m.If(frames.payload.last):
                    with m.If(count + 1 < MIN_FRAME - FCS_BYTES):
                        sync += count.eq(count + 1)
                        m.next = "PAD"
                    with m.Else():
                        sync += count.eq(0)
                        m.next = "FCS"
            with m.State("PAD"):
                sync += [self.txd.eq(0), folding.eq(1), count.eq(count + 1)]
                with m.If(count + 1 == MIN_FRAME - FCS_BYTES):
                    sync += count.eq(0)
                    m.next = "FCS"
            with m.State("FCS"):
                value = Mux(count == 0, ~crc32_byte(crc, self.txd), fcs)
                sync += [self.txd.eq(value[:8]), fcs.eq(value >> 8), count.eq(count + 1)]
                with m.If(count == FCS_BYTES - 1):
                    sync += count.eq(0)
                    m.d.comb += finished.eq(1)
                    m.next = "GAP"
            with m.State("GAP"):
                # With the cycle in IDLE, the line is idle for IFG bytes.
                sync += [self.tx_en.eq(0), self.txd.eq(0), count.eq(count + 1)]
                with m.If(count == IFG - 2):
                    m.next = "IDLE"
        return m
