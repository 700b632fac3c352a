"""The engine: a core, its packet buffer, packet streams and the control port.

Packets come in on ``rx``, one frame (``packet_frame_bytes``) a beat, and
the core starts in the cycle after the first beat (early start). The rest
of the packet keeps arriving while the program runs. When the program has
ended and the packet is all in, the engine gives its ``verdict`` and, for
XDP_PASS, XDP_TX and XDP_REDIRECT, sends the packet's bytes on ``tx``.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.memory import CONTEXT_BASE, PACKET_BASE
from ..ebpf.runtime import FRAME_SIZE
from ..ebpf.xdp import HEADROOM, XdpAction
from ..errors import HxdpError
from ..image import Image
from ..maplayout import map_image, map_layout, use_clock, used_entries
from ..target import MAX_CYCLES, Target, encode_row
from .bits import kept_bytes, low_ones, one_of
from .bytemem import ByteMemory
from .core import FRAME_ADDR_BITS, Core, Fault
from .helper import map_entry
from .registers import (ADDR, CTRL_CONFORMANCE, CTRL_ENABLE, ID_MAGIC, IMEM_DATA_BASE, MAP_FLAG_LPM, MAP_FLAG_LRU,
                        MAP_FLAG_READONLY, STATUS_BUSY, STATUS_MAP_READ, STATUS_MAP_WRITE, bus_signature)

__all__ = ["Engine", "engine_signature", "beat_layout", "verdict_layout", "row_words"]


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


def row_words(target: Target) -> int:
    return -(-target.row_bits // 32)


FORWARDED = (XdpAction.PASS, XdpAction.TX, XdpAction.REDIRECT)


def engine_signature(target: Target) -> wiring.Signature:
    """The engine's ports (docs/engine.md lists them as Verilog ports)."""
    fb = target.packet_frame_bytes
    return wiring.Signature({
        "bus": In(bus_signature()),
        "rx": In(stream.Signature(beat_layout(fb))),
        "tx": Out(stream.Signature(beat_layout(fb))),
        "verdict": Out(stream.Signature(verdict_layout())),
    })


class Engine(wiring.Component):
    """``image``, if given, is built into instruction memory and the engine
    accepts packets from reset; otherwise the host loads a program."""

    def __init__(self, target: Target, image: Image | None = None):
        if image is not None and image.target != target:
            raise HxdpError(f"{image.name} was compiled for another target; compile it for this one")
        self.image = image
        if FRAME_SIZE % target.packet_frame_bytes or HEADROOM % target.packet_frame_bytes:
            raise HxdpError("gateware: packet_frame_bytes must divide the frame and its headroom")
        self.target = target
        super().__init__(engine_signature(target))

    def elaborate(self, platform) -> Module:
        m = Module()
        t = self.target
        fb = t.packet_frame_bytes
        rows = [encode_row(r, t.lanes) for r in self.image.rows] if self.image else []
        core = Core(t, rows)
        ports = len(t.load_ports) + 1            # the loads' and the helper's
        buf = ByteMemory(FRAME_SIZE, ports, fb)
        # The map memory: the core's ports; the host reads through the
        # helper's port when the helper does not, and writes a word at a
        # time through the frame port.
        placed = map_layout(self.image.name, self.image.maps, t) if self.image else []
        images = [map_image(p) for p in placed]
        maps = ByteMemory(t.map_bytes, ports, init=b"".join(images))
        m.submodules.core = core
        m.submodules.packet = buf
        m.submodules.maps = maps
        for p in range(ports):
            wiring.connect(m, core.pkt_read[p], buf.read[p])
            if p < ports - 1:
                wiring.connect(m, core.map_read[p], maps.read[p])
        wiring.connect(m, core.pkt_write, buf.write)
        wiring.connect(m, core.map_write, maps.write)

        # -- control registers -------------------------------------------------------
        ctrl = Signal(2, init=CTRL_ENABLE if rows else 0)
        program_rows = Signal(range(t.imem_rows + 1), init=len(rows))
        max_cycles = Signal(32, init=MAX_CYCLES)
        imem_row = Signal(range(t.imem_rows))
        words = row_words(t)
        staging = [Signal(32, name=f"imem_data{i}") for i in range(words)]
        counters = {name: Signal(32, name=name.lower()) for name in
                    ["PACKETS", "FAULTS", *(f"VERDICT_{a.name}" for a in XdpAction)]}
        last_action, last_cycles, last_fault, last_egress = Signal(64), Signal(32), Signal(Fault), Signal(32)
        busy = Signal()
        bus = self.bus
        # The map table, from reset that of the program built in.
        map_count = Signal.like(core.map_count, init=len(placed))
        table = Signal.like(core.maps, init=[map_entry(p, image) for p, image in zip(placed, images)])
        used = Signal.like(core.map_used, init=[used_entries(p, image) for p, image in zip(placed, images)])
        clock = Signal.like(core.map_clock, init=[use_clock(p, image) for p, image in zip(placed, images)])
        m.d.comb += [core.maps.eq(table), core.map_used.eq(used), core.map_clock.eq(clock)]
        map_slot = Signal(range(t.map_slots))
        entry = table[map_slot]
        with m.If(core.used_change != 0):
            m.d.sync += used[core.used_slot].eq(used[core.used_slot] + core.used_change)
        with m.If(core.clock_tick):
            m.d.sync += clock[core.used_slot].eq(clock[core.used_slot] + 1)
        map_addr = Signal(range(t.map_bytes))
        wdata = [Signal(32, name="map_wdata_lo"), Signal(32, name="map_wdata_hi")]
        rdata = Signal(64)              # what the last MAP_READ read, from the cycle after it
        latched = Signal(64)
        host_write = Signal()             # a host word waiting for the store port
        host_addr = Signal.like(map_addr)
        host_data = Signal(64)
        # A host read waits for a cycle in which the helper unit does not read.
        shared, helper_port = maps.read[ports - 1], core.map_read[ports - 1]
        read_asked = bus.w_en & (bus.addr == ADDR["MAP_READ"])
        read_waiting = Signal()
        read_at = Signal.like(map_addr)
        host_reads = Signal()
        m.d.comb += [core.map_count.eq(map_count), helper_port.data.eq(shared.data),
                     host_reads.eq((read_asked | read_waiting) & ~helper_port.en),
                     shared.en.eq(helper_port.en | host_reads),
                     shared.addr.eq(Mux(helper_port.en, helper_port.addr, Mux(read_waiting, read_at, map_addr)))]
        with m.If(read_asked & helper_port.en):
            m.d.sync += [read_waiting.eq(1), read_at.eq(map_addr)]
        with m.Elif(host_reads):
            m.d.sync += read_waiting.eq(0)
        reading = Signal()
        m.d.sync += reading.eq(host_reads)
        with m.If(reading):
            m.d.sync += latched.eq(shared.data)
        m.d.comb += rdata.eq(Mux(reading, shared.data, latched))
        # The host's write goes in a cycle the program does not store to the map memory.
        m.d.comb += [maps.frame_en.eq(host_write & ~core.map_write.en), maps.frame_index.eq(host_addr[3:]),
                     maps.frame_data.eq(host_data)]
        with m.If(maps.frame_en):
            m.d.sync += host_write.eq(0)
        with m.If(bus.w_en):
            with m.Switch(bus.addr):
                with m.Case(ADDR["MAP_COUNT"]):
                    m.d.sync += map_count.eq(bus.w_data)
                with m.Case(ADDR["MAP_SLOT"]):
                    m.d.sync += map_slot.eq(bus.w_data)
                for name, field in (("MAP_OFFSET", "offset"), ("MAP_BYTES", "size"), ("MAP_KEY_SIZE", "key_size"),
                                    ("MAP_VALUE_SIZE", "value_size"), ("MAP_ENTRIES", "entries"),
                                    ("MAP_KEYS", "keys")):
                    with m.Case(ADDR[name]):
                        m.d.sync += getattr(entry, field).eq(bus.w_data)
                with m.Case(ADDR["MAP_SHAPE"]):
                    m.d.sync += [entry.slot_bits.eq(bus.w_data[:5]), entry.record_bits.eq(bus.w_data[8:12])]
                with m.Case(ADDR["MAP_USED"]):
                    m.d.sync += used[map_slot].eq(bus.w_data)
                with m.Case(ADDR["MAP_CLOCK"]):
                    m.d.sync += clock[map_slot].eq(bus.w_data)
                with m.Case(ADDR["MAP_FLAGS"]):
                    m.d.sync += [entry.kind.eq(bus.w_data[:8]),
                                 entry.readonly.eq((bus.w_data & MAP_FLAG_READONLY) != 0),
                                 entry.lru.eq((bus.w_data & MAP_FLAG_LRU) != 0),
                                 entry.lpm.eq((bus.w_data & MAP_FLAG_LPM) != 0)]
                with m.Case(ADDR["MAP_LENGTHS_LO"]):
                    m.d.sync += entry.lengths[:32].eq(bus.w_data)
                with m.Case(ADDR["MAP_LENGTHS_HI"]):
                    m.d.sync += entry.lengths[32:].eq(bus.w_data)
                with m.Case(ADDR["MAP_ADDR"]):
                    m.d.sync += map_addr.eq(bus.w_data)
                with m.Case(ADDR["MAP_WDATA_LO"]):
                    m.d.sync += wdata[0].eq(bus.w_data)
                with m.Case(ADDR["MAP_WDATA_HI"]):
                    m.d.sync += wdata[1].eq(bus.w_data)
                with m.Case(ADDR["MAP_WRITE"]):
                    m.d.sync += [host_write.eq(1), host_addr.eq(map_addr), host_data.eq(Cat(*wdata)),
                                 map_addr.eq(map_addr + 8)]
                with m.Case(ADDR["MAP_READ"]):
                    m.d.sync += map_addr.eq(map_addr + 8)
                with m.Case(ADDR["CTRL"]):
                    m.d.sync += ctrl.eq(bus.w_data)
                with m.Case(ADDR["PROGRAM_ROWS"]):
                    m.d.sync += program_rows.eq(bus.w_data)
                with m.Case(ADDR["MAX_CYCLES"]):
                    m.d.sync += max_cycles.eq(bus.w_data)
                with m.Case(ADDR["IMEM_ROW"]):
                    m.d.sync += imem_row.eq(bus.w_data)
                with m.Case(ADDR["IMEM_COMMIT"]):
                    m.d.sync += imem_row.eq(imem_row + 1)
                for i in range(words):
                    with m.Case(IMEM_DATA_BASE + i):
                        m.d.sync += staging[i].eq(bus.w_data)
        m.d.comb += [core.imem_en.eq(bus.w_en & (bus.addr == ADDR["IMEM_COMMIT"])),
                     core.imem_addr.eq(imem_row), core.imem_data.eq(Cat(*staging)),
                     core.program_rows.eq(program_rows), core.max_cycles.eq(max_cycles)]
        readable = {
            "ID": ID_MAGIC, "PARAMS": t.lanes | fb << 8 | t.registers << 16, "IMEM_ROWS": t.imem_rows,
            "CTRL": ctrl, "STATUS": Mux(busy, STATUS_BUSY, 0) | Mux(host_write, STATUS_MAP_WRITE, 0) |
            Mux(read_waiting, STATUS_MAP_READ, 0),
            "PROGRAM_ROWS": program_rows, "MAX_CYCLES": max_cycles, "MAP_COUNT": map_count,
            "MAP_SLOT": map_slot, "MAP_USED": used[map_slot], "MAP_CLOCK": clock[map_slot], "MAP_ADDR": map_addr, "MAP_RDATA_LO": rdata[:32], "MAP_RDATA_HI": rdata[32:],
            "IMEM_ROW": imem_row, "LAST_ACTION_LO": last_action[:32], "LAST_ACTION_HI": last_action[32:],
            "LAST_CYCLES": last_cycles, "LAST_FAULT": last_fault, **counters,
        }
        with m.If(bus.r_en):
            m.d.sync += bus.r_data.eq(0)
            with m.Switch(bus.addr):
                for name, value in readable.items():
                    with m.Case(ADDR[name]):
                        m.d.sync += bus.r_data.eq(value)

        # -- receive ---------------------------------------------------------------------
        conformance = (ctrl & CTRL_CONFORMANCE) != 0
        enabled = (ctrl & CTRL_ENABLE) != 0
        beat = self.rx.payload
        frames_in = Signal(range(FRAME_SIZE // fb + 1))
        length = Signal(FRAME_ADDR_BITS + 1)
        receiving = Signal()          # between the first and the last beat
        full = Signal()               # the whole packet is in the buffer
        port, queue = Signal(32), Signal(32)
        accept = Signal()
        first = Signal()
        m.d.comb += [
            self.rx.ready.eq(receiving | ~busy & enabled),
            accept.eq(self.rx.valid & self.rx.ready),
            first.eq(accept & ~receiving),
        ]
        kept = Signal(range(fb + 1))
        m.d.comb += kept.eq(sum(beat.keep[i] for i in range(fb)))
        length_next = Signal.like(length)
        m.d.comb += length_next.eq(Mux(first, 0, length) + kept)
        index = Signal(range(FRAME_SIZE // fb))
        m.d.comb += index.eq(Mux(first, 0, frames_in) + HEADROOM // fb)
        m.d.comb += [buf.frame_en.eq(accept), buf.frame_index.eq(index),
                     buf.frame_data.eq(kept_bytes(beat.data, beat.keep)),
                     buf.clear.eq(first)]
        with m.If(accept):
            m.d.sync += [frames_in.eq(Mux(first, 1, frames_in + 1)), length.eq(length_next)]
            with m.If(first):
                m.d.sync += [busy.eq(1), port.eq(beat.port), queue.eq(beat.queue)]
            m.d.sync += [receiving.eq(~beat.last), full.eq(beat.last)]

        # The core starts after the first beat, or (conformance) once all is in.
        start = Mux(conformance, accept & beat.last, first)
        m.d.comb += [
            core.start.eq(start), core.xdp.eq(~conformance),
            core.r1.eq(Mux(conformance, Mux(length_next != 0, PACKET_BASE + HEADROOM, 0), CONTEXT_BASE)),
            core.r2.eq(Mux(conformance, length_next, 0)),
            core.pkt_end.eq(HEADROOM + length),
            core.pkt_present.eq(frames_in * fb), core.pkt_done.eq(full),
            core.ingress_ifindex.eq(port), core.rx_queue_index.eq(queue),
        ]

        # -- verdict and transmit ------------------------------------------------------------
        ended = Signal()
        with m.If(core.finished):
            m.d.sync += [ended.eq(1), last_action.eq(core.action), last_cycles.eq(core.cycles),
                         last_fault.eq(core.fault), last_egress.eq(core.egress)]
        verdict = self.verdict
        action32 = last_action[:32]
        sends = Signal()
        out_length = Signal.like(length)            # the bytes the program left in the packet
        m.d.comb += out_length.eq(core.bounds.end - core.bounds.data)
        m.d.comb += sends.eq(~conformance & (last_fault == Fault.NONE) & (out_length != 0) &
                             one_of(action32, FORWARDED))
        m.d.comb += [verdict.payload.action.eq(last_action), verdict.payload.cycles.eq(last_cycles),
                     verdict.payload.fault.eq(last_fault), verdict.payload.length.eq(out_length),
                     verdict.payload.sends.eq(sends), verdict.payload.egress.eq(last_egress)]
        sending = Signal()
        done_packet = Signal()
        with m.FSM():
            with m.State("WAIT"):
                with m.If(ended & full):
                    m.next = "VERDICT"
            with m.State("VERDICT"):
                m.d.comb += verdict.valid.eq(1)
                with m.If(verdict.ready):
                    m.d.sync += counters["PACKETS"].eq(counters["PACKETS"] + 1)
                    with m.If(last_fault != Fault.NONE):
                        m.d.sync += counters["FAULTS"].eq(counters["FAULTS"] + 1)
                    for a in XdpAction:
                        name = f"VERDICT_{a.name}"
                        with m.If(Mux(last_fault == Fault.NONE, action32, XdpAction.ABORTED) == a):
                            m.d.sync += counters[name].eq(counters[name] + 1)
                    with m.If(sends):
                        m.next = "SEND"
                    with m.Else():
                        m.d.comb += done_packet.eq(1)
                        m.next = "WAIT"
            with m.State("SEND"):
                m.d.comb += sending.eq(1)
                with m.If(self.tx.valid & self.tx.ready & self.tx.payload.last):
                    m.d.comb += done_packet.eq(1)
                    m.next = "WAIT"
        with m.If(done_packet):
            m.d.sync += [busy.eq(0), ended.eq(0), full.eq(0)]
        self._transmit(m, buf, sending, core.bounds.data, out_length)
        return m

    def _transmit(self, m: Module, buf: ByteMemory, sending: Signal, start: Value, length: Value) -> None:
        """Stream ``length`` bytes from frame offset ``start`` out, a frame a
        beat: each beat is cut from two consecutive frames of the buffer
        (``low``, then the one on the read port), shifted by ``start``'s
        place in its frame."""
        fb = self.target.packet_frame_bytes
        tx = self.tx
        frames = FRAME_SIZE // fb
        next_frame = Signal(range(frames))          # the frame to read next
        low = Signal(8 * fb)
        primed = Signal()                           # ``low`` holds the beat's first frame
        arriving = Signal()                         # a frame is on the read port from this cycle
        high = Signal()                             # the beat's second frame stays on the read port
        have_high = Signal()
        sent = Signal.like(length)
        shift = start[:(fb - 1).bit_length()] if fb > 1 else Const(0, 1)
        remaining = length - sent
        read = Signal()
        m.d.comb += [buf.frame_read_en.eq(read), buf.frame_read_index.eq(next_frame)]
        m.d.comb += [
            have_high.eq(high | arriving & primed),
            tx.valid.eq(sending & have_high),
            tx.payload.data.eq((Cat(low, buf.frame_read_data) >> (shift * 8))[:8 * fb]),
            tx.payload.last.eq(remaining <= fb),
            tx.payload.keep.eq(low_ones(remaining, fb)),
        ]
        with m.If(~sending):
            m.d.sync += [next_frame.eq(start // fb), primed.eq(0), arriving.eq(0), high.eq(0), sent.eq(0)]
        with m.Else():
            m.d.sync += arriving.eq(read)
            with m.If(~primed & ~arriving):
                m.d.comb += read.eq(1)                        # the first frame
            with m.If(arriving & ~primed):
                m.d.sync += [low.eq(buf.frame_read_data), primed.eq(1)]
                m.d.comb += read.eq(1)                        # and the second
            m.d.sync += high.eq(have_high)
            with m.If(tx.valid & tx.ready):
                m.d.sync += [sent.eq(sent + fb), low.eq(buf.frame_read_data), high.eq(0)]
                with m.If(remaining > fb):
                    m.d.comb += read.eq(1)
            with m.If(read):
                m.d.sync += next_frame.eq(next_frame + 1)
