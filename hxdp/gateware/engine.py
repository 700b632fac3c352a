"""The engine: its cores (`slice`), the dispatcher and merger between
them and the packet streams (`dispatch`), the map memory and map table
they share, and the control port.

Packets come in on ``rx``, one frame (``packet_frame_bytes``) a beat; a
core (the one its flow is in, or the least busy) takes it into one of its
packet buffers and starts on it in the cycle after its last beat, or once
its packet before has its verdict. Verdicts, each with its packet's tag and core, and
the bytes of XDP_PASS, XDP_TX and XDP_REDIRECT packets on ``tx`` leave as
the cores give them: a flow's packets in the order they came, others as
they finish. With one core the dispatcher and merger add no cycle.

The cores share one map memory: each reads its own copies, and one store
port takes the rows that store to it and the helper units' writes, one
core at a time under the map lock (a core's row that stores there issues
only with it; a hash-map helper call's probe starts only with it and keeps
it until done), which also makes atomics on map values atomic across
cores. A per-CPU map has a copy of its values for
each core (a per-CPU hash map's keys are shared).
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.runtime import FRAME_SIZE
from ..ebpf.xdp import HEADROOM, XdpAction
from ..errors import HxdpError
from ..image import Image
from ..maplayout import map_image, map_layout, use_clock, used_entries
from ..target import MAX_CYCLES, Target, encode_row
from .bits import ring_next
from .bytemem import ByteMemory
from .core import Fault
from .dispatch import Dispatcher
from .maptable import MapTable, map_entry
from .registers import (ADDR, CTRL_CONFORMANCE, CTRL_ENABLE, ID_MAGIC, IMEM_DATA_BASE, MAP_FLAG_LPM, MAP_FLAG_LRU,
                        MAP_FLAG_READONLY, STATUS_BUSY, STATUS_MAP_READ, STATUS_MAP_WRITE, Params, bus_signature)
from .slice import CoreSlice, beat_layout, verdict_layout

__all__ = ["Engine", "engine_signature", "beat_layout", "verdict_layout", "row_words"]


def row_words(target: Target) -> int:
    return -(-target.row_bits // 32)


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
    accepts packets from reset, its maps' areas holding ``maps`` (by name, as
    `hxdp.gateware.host.starting_maps` gives them; a map not named starts as
    the image defines it); otherwise the host loads a program."""

    def __init__(self, target: Target, image: Image | None = None, maps: dict[str, bytes] | None = None):
        if image is not None and image.target != target:
            raise HxdpError(f"{image.name} was compiled for another target; compile it for this one")
        self.image, self.maps = image, maps or {}
        if FRAME_SIZE % target.packet_frame_bytes or HEADROOM % target.packet_frame_bytes:
            raise HxdpError("gateware: packet_frame_bytes must divide the frame and its headroom")
        self.target = target
        super().__init__(engine_signature(target))

    def elaborate(self, platform) -> Module:
        m = Module()
        t = self.target
        fb = t.packet_frame_bytes
        rows = [encode_row(r, t.lanes) for r in self.image.rows] if self.image else []
        slices = [CoreSlice(t, rows, cpu) for cpu in range(t.cores)]
        cores = [s.core for s in slices]
        core = cores[0]                          # the shapes of what the cores share, and the host's read port
        dispatcher = Dispatcher(t.cores, fb, t.packet_buffers)
        m.submodules.dispatcher = dispatcher
        wiring.connect(m, wiring.flipped(self.rx), dispatcher.rx)
        wiring.connect(m, dispatcher.tx, wiring.flipped(self.tx))
        wiring.connect(m, dispatcher.verdict, wiring.flipped(self.verdict))
        for i, s in enumerate(slices):
            m.submodules[f"slice{i}"] = s
            wiring.connect(m, dispatcher.core_rx[i], s.rx)
            wiring.connect(m, s.tx, dispatcher.core_tx[i])
            wiring.connect(m, s.verdict, dispatcher.core_verdict[i])
            m.d.comb += s.tag.eq(dispatcher.tag)
        # The map memory: each core's ports; the host reads through core 0's
        # helper port when the core does not, and writes a word at a time
        # through the frame port. One store port, under the map lock.
        ports, helper = core.read_ports, core.helper_port
        placed = map_layout(self.image.name, self.image.maps, t) if self.image else []
        images = [self.maps.get(p.map.name) or map_image(p) for p in placed]
        maps = ByteMemory(t.map_bytes, ports * t.cores, init=b"".join(images))
        m.submodules.maps = maps
        for i, c in enumerate(cores):
            for p in range(ports):
                if (i, p) != (0, helper):
                    wiring.connect(m, c.map_read[p], maps.read[i * ports + p])
            with m.If(c.map_write.en):
                m.d.comb += [maps.write.addr.eq(c.map_write.addr), maps.write.data.eq(c.map_write.data),
                             maps.write.mask.eq(c.map_write.mask), maps.write.en.eq(1)]
        self._lock(m, cores)

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
        m.d.comb += busy.eq(Cat(*(s.busy for s in slices)).any())
        bus = self.bus
        # The map table, from reset that of the program built in.
        map_count = Signal.like(core.map_count, init=len(placed))
        m.submodules.table = table = MapTable(t, len(core.places) * t.cores, t.cores,
                                              [map_entry(p, image) for p, image in zip(placed, images)])
        used = Signal.like(core.map_used, init=[used_entries(p, image) for p, image in zip(placed, images)])
        clock = Signal.like(core.map_clock, init=[use_clock(p, image) for p, image in zip(placed, images)])
        map_slot = Signal(range(t.map_slots))
        m.d.comb += table.w_slot.eq(map_slot)
        for i, c in enumerate(cores):    # one core's helper at a time changes used and clock: it has the lock
            for p, port in enumerate(c.places):
                wiring.connect(m, port, table.places[i * len(c.places) + p])
            wiring.connect(m, c.call_map, table.calls[i])
            m.d.comb += [c.map_used.eq(used), c.map_clock.eq(clock)]
            with m.If(c.used_change != 0):
                m.d.sync += used[c.used_slot].eq(used[c.used_slot] + c.used_change)
            with m.If(c.clock_tick):
                m.d.sync += clock[c.used_slot].eq(clock[c.used_slot] + 1)
        map_addr = Signal(range(t.map_bytes))
        wdata = [Signal(32, name="map_wdata_lo"), Signal(32, name="map_wdata_hi")]
        rdata = Signal(64)              # what the last MAP_READ read, from the cycle after it
        latched = Signal(64)
        host_write = Signal()             # a host word waiting for the store port
        host_addr = Signal.like(map_addr)
        host_data = Signal(64)
        # A host read waits for a cycle in which the core does not read through its port.
        shared, helper_port = maps.read[helper], core.map_read[helper]
        read_asked = bus.w_en & (bus.addr == ADDR["MAP_READ"])
        read_waiting = Signal()
        read_at = Signal.like(map_addr)
        host_reads = Signal()
        m.d.comb += [*(c.map_count.eq(map_count) for c in cores), helper_port.data.eq(shared.data),
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
        m.d.comb += [maps.frame_en.eq(host_write & ~maps.write.en), maps.frame_index.eq(host_addr[3:]),
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
                        table.write_field(m, field, bus.w_data)
                with m.Case(ADDR["MAP_SHAPE"]):
                    table.write_field(m, "slot_bits", bus.w_data[:5])
                    table.write_field(m, "record_bits", bus.w_data[8:12])
                with m.Case(ADDR["MAP_USED"]):
                    m.d.sync += used[map_slot].eq(bus.w_data)
                with m.Case(ADDR["MAP_CLOCK"]):
                    m.d.sync += clock[map_slot].eq(bus.w_data)
                with m.Case(ADDR["MAP_FLAGS"]):
                    table.write_field(m, "kind", bus.w_data[:8])
                    for field, flag in (("readonly", MAP_FLAG_READONLY), ("lru", MAP_FLAG_LRU), ("lpm", MAP_FLAG_LPM)):
                        table.write_field(m, field, (bus.w_data & flag) != 0)
                with m.Case(ADDR["MAP_LENGTHS_LO"]):
                    table.write_field(m, "lengths", bus.w_data, 0, 32)
                with m.Case(ADDR["MAP_LENGTHS_HI"]):
                    table.write_field(m, "lengths", bus.w_data, 32)
                with m.Case(ADDR["MAP_CPU_STRIDE"]):
                    table.write_field(m, "cpu_stride", bus.w_data)
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
        for c in cores:
            m.d.comb += [c.imem_en.eq(bus.w_en & (bus.addr == ADDR["IMEM_COMMIT"])),
                         c.imem_addr.eq(imem_row), c.imem_data.eq(Cat(*staging)),
                         c.program_rows.eq(program_rows), c.max_cycles.eq(max_cycles)]
        readable = {
            "ID": ID_MAGIC, "PARAMS": Params.of(t).word, "IMEM_ROWS": t.imem_rows,
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

        # -- the slices, and what the host sees of their verdicts ------------------------------
        enabled, conformance = (ctrl & CTRL_ENABLE) != 0, (ctrl & CTRL_CONFORMANCE) != 0
        for s in slices:
            m.d.comb += [s.enabled.eq(enabled), s.conformance.eq(conformance)]
        v = self.verdict
        with m.If(v.valid & v.ready):
            m.d.sync += [counters["PACKETS"].eq(counters["PACKETS"] + 1), last_action.eq(v.payload.action),
                         last_cycles.eq(v.payload.cycles), last_fault.eq(v.payload.fault),
                         last_egress.eq(v.payload.egress)]
            with m.If(v.payload.fault != Fault.NONE):
                m.d.sync += counters["FAULTS"].eq(counters["FAULTS"] + 1)
            for a in XdpAction:
                name = f"VERDICT_{a.name}"
                with m.If(Mux(v.payload.fault == Fault.NONE, v.payload.action[:32], XdpAction.ABORTED) == a):
                    m.d.sync += counters[name].eq(counters[name] + 1)
        return m

    def _lock(self, m: Module, cores) -> None:
        """The map lock: each cycle it goes to one core that wants it, the
        first from a place that moves round the cores a cycle at a time, unless
        the core that had it last keeps it (a hash-map helper call, an atomic
        still to write)."""
        n = len(cores)
        if n == 1:
            return                                  # the core of a one-core engine does without it (Core)
        holder = Signal(range(n))
        first = Signal(range(n))
        held = Signal()
        m.d.sync += first.eq(ring_next(first, n))
        m.d.comb += held.eq(Cat(*((holder == i) & c.keeps_lock for i, c in enumerate(cores))).any())
        with m.Switch(first):
            for start in range(n):
                with m.Case(start):
                    taken = Signal(name=f"lock_taken_from{start}")
                    m.d.comb += taken.eq(held)
                    for k in range(n):
                        i = (start + k) % n
                        grant = Signal(name=f"lock_grant{i}_from{start}")
                        m.d.comb += [grant.eq(cores[i].lock_want & ~taken), cores[i].lock_grant.eq(grant)]
                        with m.If(grant):
                            m.d.sync += holder.eq(i)
                        nxt = Signal(name=f"lock_taken{i}_from{start}")
                        m.d.comb += nxt.eq(taken | grant)
                        taken = nxt
