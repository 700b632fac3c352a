"""The VLIW core: one row a cycle, cycle-exact with `hxdp.model.core`.

Timing, as the model states it, and how the hardware keeps it:

* Three stages: fetch (instruction memory), decode, issue. Fetch reads the
  row the decode stage holds in the next cycle, decoded as it was written
  into the memory. Decode reads the row's registers as they will be when
  it issues (with the writes at the end of this cycle) into registers of
  the issue stage, so no cycle holds both a
  register read and what issue does with it. A branch is decided at issue.
  One to the next row costs nothing: decode holds that row. The row's first
  branch elsewhere had its target read by a second port as the row went
  to issue, so that target is decoded in the next cycle: one cycle lost,
  the model's ``branch_penalty``. Another branch has its target fetched in
  the next cycle: two lost, ``late_branch_penalty``.
* A scoreboard counts, per register, the cycles until its newest value is
  usable. Decode passes a row to issue when none of its registers will be
  counting then (so its operands never go stale while it waits at issue)
  and no helper call holds the core; the row issues when the divider (if
  it divides) is free and, on several cores, it has the map lock. A packet
  is whole in its buffer before the core starts on it, so no row waits for
  its bytes.
* Results are written into the register file at the end of the cycle
  before their latency runs out: ALU results in the issue cycle, multiplies,
  loads and atomics a cycle later (every load has latency 2: decode reads
  it then), the divider 33 cycles later.
* Stores are written a cycle after their row; atomics read the old value
  then and write the cycle after, and the next row issues no sooner. The
  memories' read ports see writes in the same cycle, so every row sees every
  earlier row's stores, and none of its own.
* A helper call reads its key through a port of its own from the issue
  cycle on; the helper unit gives r0 at the end of the next (arrays) or
  holds the core until it is done (hash maps; `helper`).
* On an engine of several cores, a row that stores to the map memory
  issues, and a call to a hash map starts its probe, only in a cycle the
  engine grants the map lock (``lock_want``/``lock_grant``); the call
  keeps it until it is done. On one core the lock is always granted and
  costs no cycle.
* Faults (an access outside every memory, a write to the context or a
  read-only map, a bad map handle, control past the program, the watchdog)
  end the packet in the cycle they happen. Issue does not wait for a row's
  fault checks: the row issues, and its store and helper call, which come
  after its cycle, are cancelled from the outcome's registers.
"""

import enum
import functools
import operator

from amaranth.hdl import Array, Cat, Const, Module, Mux, ResetInserter, Signal, Value, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.hashtable import STAMP_BITS
from ..ebpf.helpers import HelperId
from ..ebpf.maps import HANDLE_BASE
from ..ebpf.memory import CONTEXT_BASE, MAP_BASE, PACKET_BASE, STACK_BASE
from ..ebpf.runtime import FRAME_SIZE
from ..ebpf.xdp import HEADROOM, XDP_MD, XDP_MD_FIELD_BYTES, XDP_MD_FIELDS
from ..errors import HxdpError
from ..maplayout import MapKind
from ..target import Latency, Target
from .alu import Alu, Comparator, Divider, Multiplier
from .bits import low_bytes, low_ones, one_of
from .bytemem import ByteMemory, read_port_signature, write_port_signature
from .decode import Atomic, decode_layout, row_layout, store_row, stored_row, stored_row_layout
from .helper import HANDLE_SHIFT, KEYED_HELPERS, MAP_HELPERS, MAP_SHIFT, HelperUnit, Space, packet_layout, slot_of_handle
from .maptable import PLACE_FIELDS, table_read_signature

__all__ = ["Core", "Fault", "FRAME_ADDR_BITS"]

FRAME_ADDR_BITS = (FRAME_SIZE - 1).bit_length()


class Fault(enum.IntEnum):
    """Why a packet ended as XDP_ABORTED (0: it did not)."""
    NONE = 0
    MEMORY = 1          # an access outside every memory, or a write to the context
    PAST_END = 2        # control ran past the last row
    WATCHDOG = 3        # more than max_cycles cycles
    UNSUPPORTED = 4     # an operation this core cannot run
    NO_CONTEXT = 5      # a bounds check without an XDP context
    MAP = 6             # a map reference or handle that names no loaded map


def _supported_latency(latency: Latency) -> None:
    wanted = Latency(helper=latency.helper)
    if latency != wanted:
        raise HxdpError(f"gateware: the core's latencies are fixed at {wanted}; "
                        f"the target asks for {latency}")


class Core(wiring.Component):
    """One core. The engine around it starts a packet (``start`` in the cycle
    before row 0 issues) and gives it the packet buffer's ports and state."""

    def __init__(self, target: Target, program: list[int] | None = None, cpu: int = 0):
        """``program``: encoded rows to build into instruction memory;
        ``cpu``: which of the engine's cores this is (its per-CPU copies)."""
        _supported_latency(target.latency)
        if len(target.store_ports) != 1:
            raise HxdpError("gateware: the core has one store port")
        self.target = target
        self.cpu = cpu
        self.program = list(program or [])
        self.loads = len(target.load_ports)
        # The helper unit's read port on the memories: its own, after the
        # load ports; on a core of one lane, whose rows hold one slot, so
        # that a call and a load never share a row, the last load port.
        self.helper_port = self.loads - 1 if target.lanes == 1 else self.loads
        self.read_ports = self.helper_port + 1
        self.map_bits = (target.map_bytes - 1).bit_length()
        self.pkt_bits = (target.packet_buffers * FRAME_SIZE - 1).bit_length()
        row_bits = target.row_bits
        super().__init__({
            # Instruction memory, written by the control port.
            "imem_addr": In(range(target.imem_rows)),
            "imem_data": In(row_bits),
            "imem_en": In(1),
            "program_rows": In(range(target.imem_rows + 1)),
            "max_cycles": In(32),
            # A packet: r1 and r2 at entry; XDP mode has the context.
            "start": In(1),
            "r1": In(64),
            "r2": In(64),
            "xdp": In(1),
            # The packet buffer's state: which buffer holds the packet (the
            # high bits of its ports' addresses, from the cycle after the
            # start) and the end of its bytes (a frame offset).
            "pkt_buffer": In(range(target.packet_buffers)),
            "pkt_end": In(FRAME_ADDR_BITS + 1),
            "ingress_ifindex": In(32),
            "rx_queue_index": In(32),
            # Load ports, then the helper's key port (``helper_port``); one store port.
            "pkt_read": Out(read_port_signature(self.pkt_bits)).array(self.read_ports),
            "pkt_write": Out(write_port_signature(self.pkt_bits)),
            # The map memory and the loaded program's map table.
            "map_read": Out(read_port_signature(self.map_bits)).array(self.read_ports),
            "map_write": Out(write_port_signature(self.map_bits)),
            # Map table ports: placing each lane's access, then a helper
            # call's key and value pointers; the called map's entry.
            "places": Out(table_read_signature(target, PLACE_FIELDS)).array(target.lanes + 2),
            "call_map": Out(table_read_signature(target)),
            "map_count": In(range(target.map_slots + 1)),
            # Keys in each hash map and each LRU map's use clock, and the
            # helper unit's changes to them.
            "map_used": In(data.ArrayLayout(32, target.map_slots)),
            "map_clock": In(data.ArrayLayout(STAMP_BITS, target.map_slots)),
            "used_slot": Out(range(target.map_slots)),
            "used_change": Out(signed(2)),
            "clock_tick": Out(1),
            # The map lock, shared by the engine's cores: a row storing to
            # the map memory issues only with the lock, and a hash-map call's
            # probe starts only with it (``lock_want``: the row would issue,
            # or the probe start, now but for the lock); the helper unit keeps
            # it until the call is done, an atomic on a map value until it
            # has written (``keeps_lock``).
            "lock_want": Out(1),
            "lock_grant": In(1),
            "keeps_lock": Out(1),
            # The outcome, in the cycle after the exit or fault.
            "finished": Out(1),
            "action": Out(64),
            "cycles": Out(32),
            "fault": Out(Fault),
            "egress": Out(32),          # where XDP_REDIRECT sends it (the last redirect helper's ifindex)
            "bounds": Out(packet_layout()),     # the packet's bytes, as the program left them
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        t = self.target
        lanes, nregs = t.lanes, t.registers

        # -- fetch and decode ---------------------------------------------------------
        # Instruction memory is read for the row the decode stage holds in the
        # next cycle: the row after its own when it passes that on to issue, its
        # own again when it waits, a taken branch's target in the cycle after
        # the branch. A second port reads the target of the row's first branch
        # to anywhere but the next row as the row goes to issue and holds it, so
        # that branch, taken, has its target decoded in the next cycle.
        # Rows are decoded as they are written (`store_row`), so decode reads
        # each slot's controls from the memory.
        stored = [stored_row(word, i, lanes) for i, word in enumerate(self.program)]
        imem = memory.Memory(shape=stored_row_layout(lanes).size, depth=t.imem_rows, init=stored)
        m.submodules.imem = imem
        iw = imem.write_port()
        ir = imem.read_port(transparent_for=(iw,))
        ir_target = imem.read_port(transparent_for=(iw,))
        m.d.comb += [iw.addr.eq(self.imem_addr), iw.data.eq(store_row(m, self.imem_data, self.imem_addr, lanes)),
                     iw.en.eq(self.imem_en)]
        # Row 0 is kept in a register as it is written: decode holds it
        # between packets, so that a packet may start in the cycle after
        # the one before it ends.
        row0 = Signal(stored_row_layout(lanes).size, init=stored[0] if stored else 0)
        with m.If(iw.en & (iw.addr == 0)):
            m.d.sync += row0.eq(iw.data)

        running = Signal()
        cycle = Signal(32)
        # The row at issue issues. Whether it faults is not part of that
        # decision: a row that faults issues too, and the packet ends in its
        # cycle (the registers and the scoreboard are set afresh between
        # packets); what would outlive the packet, its store and its helper
        # call, is cancelled in the next cycle, from the outcome's registers
        # (``cancelled``).
        issue = Signal()
        take = Signal()                 # the decode stage's row goes to issue in the next cycle
        advance = Signal()              # the same, in a packet (between packets issue takes row 0 in every cycle)
        # Decode's row: 0 between packets (so a packet's start, late in its
        # cycle, changes no address decode works with).
        d_pc = Signal(range(t.imem_rows + 1))
        d_valid = Signal()
        redirect = Signal()             # a branch was taken whose target was not read ahead: fetch it now
        from_target = Signal()          # one whose target was read ahead: decode the row ir_target holds
        redirect_pc = Signal(16)
        e_pc = Signal(range(t.imem_rows + 1))
        e_valid = Signal()
        fetch = Mux(redirect, redirect_pc, Mux(advance, d_pc + 1, d_pc))
        # Between packets instruction memory reads row 1, which decode holds
        # in the cycle after a start: neither a packet's end nor its start
        # reaches the memory's address.
        m.d.comb += ir.addr.eq(Mux(running, fetch, 1))
        d_row = data.View(stored_row_layout(lanes), Mux(running, Mux(from_target, ir_target.data, ir.data), row0))
        row = Signal(row_layout(lanes))

        # -- register file and scoreboard ----------------------------------------------
        # The decode stage reads a row's registers as they will be at the start
        # of its issue cycle: the file with this cycle's writes of earlier rows
        # (``regs_early``), then the row at issue's ALU results forwarded
        # past it, so the ALU meets one multiplexer on its way back to decode.
        # Decode passes the row on only when none of its registers still waits
        # for a result (``free_next``), so a row at issue never meets a
        # register changing.
        regs = Array(Signal(64, name=f"r{i}") for i in range(nregs))
        count = Array(Signal(range(t.latency.div + 1), name=f"count_r{i}") for i in range(nregs))
        regs_early = Array(Signal(64, name=f"r{i}_early") for i in range(nregs))
        regs_next = Array(Signal(64, name=f"r{i}_next") for i in range(nregs))
        free_next = Array(Signal(name=f"r{i}_free_next") for i in range(nregs))
        # Registers the row at issue writes more than a cycle after it (loads,
        # multiplies, divisions, calls), should it issue: found when decode
        # passes it on, so decode's check does not wait for issue's decision.
        slow = Signal(nregs)

        # Writes at the end of this cycle: (enable, register, value), of the
        # rows before this one, and of the row at issue (``writes``: its ALU
        # results, written in every cycle a row is at issue, waiting or not,
        # so no wait reaches the register file: its operands are held, so
        # each cycle writes the same values, and decode passed it on only
        # once no earlier row's write to those registers was still to come;
        # between packets they are overwritten by the next start). The
        # scoreboard keeps two writes of a register in different cycles.
        earlier_writes: list[tuple] = []
        writes: list[tuple] = []
        # What the row at issue claims, should it issue: (condition, register, latency).
        claims: list[tuple] = []

        # -- decode and operands --------------------------------------------------
        d_dec = [d_row[l].dec for l in range(lanes)]
        d_slots = [d_row[l].slot for l in range(lanes)]
        # The target read ahead is that of the row's first branch to anywhere
        # but the next row, which decode holds anyway when the row issues.
        first_target = Signal(16)
        d_to_next = [d_row[l].to_next for l in range(lanes)]
        ahead = [(d.branch | d.jump | d.bounds) & ~n for d, n in zip(d_dec, d_to_next)]
        ahead_lane = Signal(lanes)      # one-hot: the lane whose target is read ahead
        e_ahead_lane = Signal(lanes)    # the same, for the row at issue
        for l in reversed(range(lanes)):
            with m.If(ahead[l]):
                m.d.comb += [first_target.eq(d_slots[l].off), ahead_lane.eq(1 << l)]
        m.d.comb += [ir_target.addr.eq(first_target), ir_target.en.eq(take)]
        with m.If(take):
            m.d.sync += e_ahead_lane.eq(ahead_lane)
        dec = [Signal(decode_layout(), name=f"lane{l}") for l in range(lanes)]     # the row at issue's, decoded
        slots = [row[l] for l in range(lanes)]
        a_val = [Signal(64, name=f"a{l}") for l in range(lanes)]
        b_reg = [Signal(64, name=f"breg{l}") for l in range(lanes)]
        args = [Signal(64, name=f"arg{i}") for i in (1, 2, 3, 4)]     # a helper call's r1 to r4
        cmp_value = Signal(64)                                         # cmpxchg's expected value
        # What depends on the row alone is found in decode and carried to
        # issue in registers: which lane each load port serves (the p-th slot
        # that reads memory uses port p) and the store port's lane, the
        # branches to the next row, the map references that name no map.
        d_ld_lane = [Signal(range(lanes), name=f"d_ld{p}_lane") for p in range(self.loads)]
        d_ld_use = [Signal(name=f"d_ld{p}_use") for p in range(self.loads)]
        rank = Const(0, range(lanes + 1))
        for l, d in enumerate(d_dec):
            for p in range(self.loads):
                with m.If(d.load & (rank == p)):
                    m.d.comb += [d_ld_lane[p].eq(l), d_ld_use[p].eq(1)]
            rank = rank + d.load
        d_st_lane, d_st_use = Signal(range(lanes)), Signal()
        for l in reversed(range(lanes)):
            with m.If(d_dec[l].store):
                m.d.comb += [d_st_lane.eq(l), d_st_use.eq(1)]
        ld_lane = [Signal(range(lanes), name=f"ld{p}_lane") for p in range(self.loads)]
        ld_use = [Signal(name=f"ld{p}_use") for p in range(self.loads)]
        st_lane, st_use = Signal(range(lanes)), Signal()
        to_next = [Signal(name=f"to_next{l}") for l in range(lanes)]
        bad_map = [Signal(name=f"bad_map{l}") for l in range(lanes)]
        d_past_end = Signal()           # control ran past the program
        past_end = Signal()
        m.d.comb += d_past_end.eq(d_pc >= self.program_rows)
        with m.If(take):
            m.d.sync += [past_end.eq(d_past_end), *(x.eq(y) for x, y in zip(ld_lane + ld_use, d_ld_lane + d_ld_use)),
                         st_lane.eq(d_st_lane), st_use.eq(d_st_use)]
            for l, (s, d) in enumerate(zip(d_slots, d_dec)):
                m.d.sync += [to_next[l].eq(~d.exit & d_to_next[l]),
                             bad_map[l].eq((d.ldmap | d.ldmapv) & (s.imm.as_unsigned() >= self.map_count))]
        # The immediate as operand b, found in decode: sign-extended, or for
        # ldmap and ldmapv the map's handle or its values' address (which the
        # ALU moves to dst), so no mux follows the ALU on its way back.
        imm = [Signal(64, name=f"imm{l}") for l in range(lanes)]
        b_val = [Signal(64, name=f"b{l}") for l in range(lanes)]
        for l, (s, d) in enumerate(zip(d_slots, d_dec)):
            with m.If(take):
                m.d.sync += imm[l].eq(Mux(d.ldmap, HANDLE_BASE + (s.imm.as_unsigned() << HANDLE_SHIFT),
                                          Mux(d.ldmapv, MAP_BASE + (s.imm.as_unsigned() << MAP_SHIFT) +
                                              s.off.as_signed(), s.imm.as_signed())))
            m.d.comb += b_val[l].eq(Mux(dec[l].uses_imm, imm[l], b_reg[l]))

        # -- the packet's bounds: as received, until a helper moves them -----------------
        moved = Signal(packet_layout())
        is_moved = Signal()
        bounds = self.bounds
        m.d.comb += bounds.eq(Mux(is_moved, moved, Cat(Const(HEADROOM, len(bounds.meta)),
                                                         Const(HEADROOM, len(bounds.data)), self.pkt_end)))

        # -- addresses: where each memory access goes and whether it may go --------------
        slot_bits = (t.map_slots - 1).bit_length()

        def place(a: Signal, size, store, name: str, table) -> tuple[Signal, ...]:
            """Where ``size`` bytes at ``a`` are: in the packet, the stack,
            the context, a map (at which byte of the map memory); and whether
            the access may go."""
            offset = a[:32]
            frame, stack, ctx, in_map, ok = (Signal(name=f"{name}_{n}") for n in ("frame", "stack", "ctx", "map", "ok"))
            map_addr = Signal(self.map_bits, name=f"{name}_map_addr")
            region = a[MAP_SHIFT:MAP_SHIFT + slot_bits]
            m.d.comb += table.slot.eq(region)
            entry = table.entry
            frame_end = a[:FRAME_ADDR_BITS] + size
            m.d.comb += [
                frame.eq(a[FRAME_ADDR_BITS:] == PACKET_BASE >> FRAME_ADDR_BITS),
                stack.eq((a[32:] == STACK_BASE >> 32) & (offset + size <= t.stack_bytes)),
                ctx.eq(self.xdp & (a[32:] == CONTEXT_BASE >> 32) & (offset + size <= XDP_MD.size)),
                in_map.eq((a[MAP_SHIFT + slot_bits:] == MAP_BASE >> (MAP_SHIFT + slot_bits)) &
                          (region < self.map_count) & (a[:MAP_SHIFT] + size <= entry.size)),
                map_addr.eq(entry.offset + offset + self.cpu * entry.cpu_stride),
            ]
            packet_ok = frame & (a[:FRAME_ADDR_BITS] >= bounds.meta) & (frame_end <= bounds.end)
            m.d.comb += ok.eq(packet_ok | stack | (ctx & ~store) | (in_map & ~(store & entry.readonly)))
            return stack, ctx, in_map, map_addr, ok

        addr, bound, in_stack, in_ctx, in_map, map_addr, mem_ok, faults = ([] for _ in range(8))
        for l, (s, d) in enumerate(zip(slots, dec)):
            a = Signal(64, name=f"addr{l}")
            m.d.comb += a.eq(a_val[l] + s.off.as_signed())
            stack, ctx, lane_map, lane_map_addr, ok = place(a, d.size, d.store, f"lane{l}", self.places[l])
            x = Signal(64, name=f"bound{l}")
            m.d.comb += x.eq(a_val[l] + imm[l])
            fault = Signal(Fault, name=f"fault{l}")
            with m.If(d.active & ~d.known):
                m.d.comb += fault.eq(Fault.UNSUPPORTED)
            with m.Elif((d.load | d.store) & ~ok & ~d.never_faults):
                m.d.comb += fault.eq(Fault.MEMORY)
            with m.Elif(d.bounds & ~self.xdp):
                m.d.comb += fault.eq(Fault.NO_CONTEXT)
            with m.Elif(bad_map[l]):
                m.d.comb += fault.eq(Fault.MAP)
            addr.append(a), bound.append(x), in_stack.append(stack), in_ctx.append(ctx)
            in_map.append(lane_map), map_addr.append(lane_map_addr)
            mem_ok.append(ok), faults.append(fault)

        # The helper call (one a row): its number, the map r1 names, its key
        # at r2 and (an update) its value at r3.
        helper_addr_bits = max((t.stack_bytes - 1).bit_length(), FRAME_ADDR_BITS, self.map_bits)
        helper = HelperUnit(t, helper_addr_bits, FRAME_ADDR_BITS, self.cpu)
        helper_cancelled = Signal()     # the call's row faulted: the unit goes back to idle
        m.submodules.helper = ResetInserter(helper_cancelled)(helper)
        calls = Signal()
        number = Signal(32)
        for l in reversed(range(lanes)):
            with m.If(dec[l].helper):
                m.d.comb += [calls.eq(1), number.eq(Mux(dec[l].uses_a, a_val[l][:32], slots[l].imm))]
        map_slot, is_handle = slot_of_handle(m, t, args[0])
        m.d.comb += self.call_map.slot.eq(map_slot)
        entry = self.call_map.entry
        updates, on_map, keyed = Signal(), Signal(), Signal()
        m.d.comb += [updates.eq(number == HelperId.MAP_UPDATE_ELEM),
                     on_map.eq(one_of(number, MAP_HELPERS)), keyed.eq(one_of(number, KEYED_HELPERS))]
        pointed = []
        for n, (name, at, size) in enumerate((("key", args[1], entry.key_size), ("value", args[2], entry.value_size))):
            to_stack, to_ctx, to_map, phys, ok = place(at, size, Const(0), name, self.places[lanes + n])
            space = Signal(Space, name=f"{name}_space")
            m.d.comb += space.eq(Mux(to_stack, Space.STACK, Mux(to_map, Space.MAP, Space.PACKET)))
            pointed.append((space, Mux(to_map, phys, at[:helper_addr_bits]), ok & ~to_ctx))
        (key_space, key_phys, key_ok), (value_space, value_phys, value_ok) = pointed
        # A busy helper unit on several cores takes its map's key count and
        # use clock again when its probe gets the map lock.
        used_at = Mux(helper.busy, helper.used_slot, map_slot) if t.cores > 1 else map_slot
        m.d.comb += [helper.number.eq(number), helper.slot.eq(map_slot), helper.entry.eq(entry),
                     helper.used.eq(self.map_used[used_at]), helper.clock.eq(self.map_clock[used_at]),
                     self.clock_tick.eq(helper.clock_tick), helper.key_space.eq(key_space),
                     helper.key_addr.eq(key_phys), helper.value_space.eq(value_space),
                     helper.value_addr.eq(value_phys), *(helper.args[i].eq(a) for i, a in enumerate(args)),
                     helper.conformance.eq(~self.xdp),
                     self.used_slot.eq(helper.used_slot), self.used_change.eq(helper.used_change)]
        m.d.comb += helper.packet.eq(bounds)
        with m.If(self.start):
            m.d.sync += is_moved.eq(0)
        with m.Elif(helper.move_packet):
            m.d.sync += [is_moved.eq(1), moved.eq(helper.moved)]
        helper_fault = Signal(Fault)
        with m.If(calls & ~helper.supported):
            m.d.comb += helper_fault.eq(Fault.UNSUPPORTED)
        with m.Elif(calls & on_map & ~(is_handle & (map_slot < self.map_count))):
            m.d.comb += helper_fault.eq(Fault.MAP)
        with m.Elif(calls & keyed & ~(key_ok & (~updates | value_ok))):
            m.d.comb += helper_fault.eq(Fault.MEMORY)
        faults.append(helper_fault)

        # -- stall -----------------------------------------------------------------
        divider = Divider()
        m.submodules.divider = divider
        divider_free = Signal()
        div_count = Signal(range(t.latency.div + 1))
        m.d.comb += divider_free.eq(div_count == 0)
        stall = Signal()
        atomic_pending = Signal()       # the row before is an atomic: it reads now and writes next cycle
        conflicts = [d.div & ~divider_free for d in dec]
        conflicts += [helper.busy, atomic_pending]
        held_up = Signal()          # by anything but the map lock
        # The one core of an engine has the lock: its own helper calls stall it anyway.
        granted = self.lock_grant if t.cores > 1 else Const(1)
        needs_lock = Signal()
        m.d.comb += [
            held_up.eq(Cat(*conflicts).any()),
            needs_lock.eq(Cat(*(d.store & lane_map for d, lane_map in zip(dec, in_map))).any()),
            self.lock_want.eq(running & e_valid & needs_lock & ~held_up | helper.lock_want),
            helper.lock_grant.eq(granted),
            stall.eq(held_up | needs_lock & ~granted),
        ]
        active = Signal()
        watchdog = Signal()
        m.d.comb += [
            active.eq(running & e_valid),
            watchdog.eq(cycle > self.max_cycles),
        ]
        row_fault = Signal(Fault)
        with m.If(watchdog):
            m.d.comb += row_fault.eq(Fault.WATCHDOG)
        with m.Elif(past_end):
            m.d.comb += row_fault.eq(Fault.PAST_END)
        with m.Elif(~stall):
            for fault in reversed(faults):
                with m.If(fault != Fault.NONE):
                    m.d.comb += row_fault.eq(fault)
        m.d.comb += issue.eq(active & ~stall)
        # The packet ended on a fault in the cycle before: the row that faulted
        # issued, so its store and its helper call are cancelled now.
        cancelled = Signal()
        m.d.comb += cancelled.eq(self.finished & (self.fault != Fault.NONE))

        # -- ALU, multiplier, divider ------------------------------------------------
        for l, (s, d) in enumerate(zip(slots, dec)):
            alu = Alu()
            m.submodules[f"alu{l}"] = alu
            m.d.comb += [alu.ctl.eq(d.alu_ctl), alu.a.eq(a_val[l]), alu.b.eq(b_val[l])]
            claims.append((d.alu & d.writes_dst, s.dst, t.latency.alu))
            writes.append((d.alu & d.writes_dst, s.dst, alu.result))
        # One multiplier (the compiler puts at most `MULTIPLIERS` a row): its
        # operands are registered as the row issues, so it is pipelined.
        multiplier = Multiplier()
        m.submodules.multiplier = multiplier
        mul_en, mul_dst = Signal(), Signal(range(nregs))
        for l in reversed(range(lanes)):
            with m.If(dec[l].mul):
                m.d.comb += [multiplier.wide.eq(dec[l].wide), multiplier.a.eq(a_val[l]),
                             multiplier.b.eq(b_val[l])]
                m.d.sync += mul_dst.eq(slots[l].dst)
            claims.append((dec[l].mul, slots[l].dst, t.latency.mul))
        starts_mul = issue & Cat(*(d.mul for d in dec)).any()
        m.d.comb += multiplier.start.eq(starts_mul)
        m.d.sync += mul_en.eq(starts_mul)
        earlier_writes.append((mul_en, mul_dst, multiplier.result))
        div_dst = Signal(range(nregs))
        for l in reversed(range(lanes)):
            with m.If(dec[l].div):
                m.d.comb += [divider.op.eq(slots[l].op), divider.a.eq(a_val[l]), divider.b.eq(b_val[l])]
                with m.If(issue):
                    m.d.sync += div_dst.eq(slots[l].dst)
            claims.append((dec[l].div, slots[l].dst, t.latency.div))
        starts_div = issue & Cat(*(d.div for d in dec)).any()
        m.d.comb += divider.start.eq(starts_div)
        with m.If(starts_div):
            m.d.sync += div_count.eq(t.latency.div - 1)
        with m.Elif(div_count != 0):
            m.d.sync += div_count.eq(div_count - 1)
        # A division still running when a packet ends must not write into the next.
        earlier_writes.append((divider.done & (div_count == 1), div_dst, divider.result))

        # -- load and store ports ------------------------------------------------------
        stack = ByteMemory(t.stack_bytes, self.read_ports, zeroed=True)
        m.submodules.stack = stack
        stack_bits = stack.addr_bits
        ctx_bytes = Signal(8 * XDP_MD.size)
        ctx_fields = {"data": PACKET_BASE + bounds.data, "data_end": PACKET_BASE + bounds.end,
                      "data_meta": PACKET_BASE + bounds.meta, "ingress_ifindex": self.ingress_ifindex,
                      "rx_queue_index": self.rx_queue_index, "egress_ifindex": Const(0, 32)}
        field_values = [Signal(8 * XDP_MD_FIELD_BYTES, name=f"ctx_{f}") for f in XDP_MD_FIELDS]
        m.d.comb += [v.eq(ctx_fields[f]) for v, f in zip(field_values, XDP_MD_FIELDS)]
        m.d.comb += ctx_bytes.eq(Cat(*field_values))

        atomic_old = Signal(64)
        atomic_port = Signal(range(self.loads))
        for p, lane, use in zip(range(self.loads), ld_lane, ld_use):
            d = {k: Array(getattr(x, k) for x in dec)[lane] for k in ("size", "sign_extends", "store")}
            a = Array(addr)[lane]
            go = issue & use
            m.d.comb += [
                stack.read[p].addr.eq(a[:stack_bits]), stack.read[p].en.eq(go),
                self.pkt_read[p].addr.eq(Cat(a[:FRAME_ADDR_BITS], self.pkt_buffer)), self.pkt_read[p].en.eq(go),
                self.map_read[p].addr.eq(Array(map_addr)[lane]), self.map_read[p].en.eq(go),
            ]
            space_stack = Array(in_stack)[lane]
            space_ctx = Array(in_ctx)[lane]
            space_map = Array(in_map)[lane]
            ok = Array(mem_ok)[lane]
            dst = Array(s.dst for s in slots)[lane]
            writes_dst = Array(x.writes_dst for x in dec)[lane]
            # Latency as the model gives it (`Latency`, by the memory reached):
            # every load's value is written in the cycle after its row, and a
            # row reading it is decoded then.
            fast = space_stack | space_ctx | ~ok
            claims.append((use & writes_dst, dst, Mux(d["store"] | space_map, t.latency.load_map,
                                                     Mux(fast, t.latency.load_stack, t.latency.load_packet))))
            # Every load's value is there a cycle later: from block RAM, or
            # (the context) from the packet's state as it was at issue.
            r_en, r_stack, r_ctx, r_map, r_ok, r_dst, r_size, r_sign, r_ctx_value = (
                Signal(name=f"ld{p}_{n}", shape=w) for n, w in
                (("en", 1), ("stack", 1), ("ctx", 1), ("map", 1), ("ok", 1), ("dst", range(nregs)),
                 ("size", range(9)), ("sign", 1), ("ctx_value", 64)))
            m.d.sync += [r_en.eq(go & writes_dst), r_stack.eq(space_stack), r_ctx.eq(space_ctx),
                         r_map.eq(space_map), r_ok.eq(ok),
                         r_dst.eq(dst), r_size.eq(d["size"]), r_sign.eq(d["sign_extends"]),
                         r_ctx_value.eq((ctx_bytes >> (a[:5] * 8))[:64])]
            word = _pick(r_ctx, r_ctx_value, r_stack, stack.read[p].data, r_map, self.map_read[p].data,
                         self.pkt_read[p].data)
            raw = Mux(r_ok, word & low_bytes(r_size, 8), 0)
            value = Signal(64, name=f"ld{p}_value")
            m.d.comb += value.eq(Mux(r_sign, _sign_extend(m, raw, r_size), raw))
            earlier_writes.append((r_en, r_dst, value))
            with m.If(go & d["store"]):
                m.d.sync += atomic_port.eq(p)
            with m.If(atomic_port == p):
                m.d.comb += atomic_old.eq(raw)

        # The helper unit's port (``helper_port``): when it is a load port,
        # the unit takes it in the cycles it reads, which no load meets.
        kp = self.helper_port
        starts_helper = issue & calls
        called = Signal()               # a call started in the cycle before
        m.d.sync += called.eq(starts_helper)
        m.d.comb += helper_cancelled.eq(cancelled & called)
        for port, space in ((stack.read[kp], Space.STACK), (self.pkt_read[kp], Space.PACKET),
                            (self.map_read[kp], Space.MAP)):
            at = Cat(helper.read_addr[:FRAME_ADDR_BITS], self.pkt_buffer) if space == Space.PACKET else helper.read_addr
            with m.If(helper.read_en):
                m.d.comb += [port.addr.eq(at[:len(port.addr)]), port.en.eq(helper.read_space == space)]
        asked = Signal(Space)
        with m.If(helper.read_en):
            m.d.sync += asked.eq(helper.read_space)
        m.d.comb += [helper.offered.eq(active & calls), helper.start.eq(starts_helper),
                     helper.read_data.eq(_pick(asked == Space.STACK, stack.read[kp].data,
                                               asked == Space.MAP, self.map_read[kp].data,
                                               self.pkt_read[kp].data))]
        claims.append((calls & ((entry.kind != MapKind.HASH) | ~on_map), 0, t.latency.helper))
        with m.If(self.start):
            m.d.sync += self.egress.eq(0)
        with m.Elif(helper.redirect):
            m.d.sync += self.egress.eq(helper.ifindex)
        earlier_writes.append((helper.done, 0, helper.result))

        # The store port, a cycle after its row.
        s_en, s_stack, s_map, s_addr, s_map_addr, s_data, s_size, s_kind, s_cmp = (
            Signal(name=f"st_{n}", shape=w) for n, w in
            (("en", 1), ("stack", 1), ("map", 1), ("addr", 64), ("map_addr", self.map_bits), ("data", 64),
             ("size", range(9)), ("kind", range(len(Atomic) + 1)), ("cmp", 64)))
        st_dec = {k: Array(getattr(x, k) for x in dec)[st_lane] for k in ("size", "load", "atomic")}
        m.d.sync += [
            s_en.eq(issue & st_use), s_stack.eq(Array(in_stack)[st_lane]), s_addr.eq(Array(addr)[st_lane]),
            s_map.eq(Array(in_map)[st_lane]), s_map_addr.eq(Array(map_addr)[st_lane]),
            s_data.eq(Array(b_val)[st_lane]), s_size.eq(st_dec["size"]),
            s_kind.eq(Mux(st_dec["load"], st_dec["atomic"] + 1, 0)),
            s_cmp.eq(cmp_value),
        ]
        st_mask = low_bytes(s_size, 8)
        new = Signal(64)
        store = Signal()
        m.d.comb += store.eq(s_en)
        with m.Switch(s_kind):
            with m.Case(0):
                m.d.comb += new.eq(s_data)
            for kind, expr in ((Atomic.ADD, atomic_old + s_data), (Atomic.OR, atomic_old | s_data),
                               (Atomic.AND, atomic_old & s_data), (Atomic.XOR, atomic_old ^ s_data),
                               (Atomic.XCHG, s_data)):
                with m.Case(kind + 1):
                    m.d.comb += new.eq(expr)
            with m.Case(Atomic.CMPXCHG + 1):
                m.d.comb += [new.eq(s_data), store.eq(s_en & (atomic_old == (s_cmp & st_mask)))]
        # An atomic writes from registers in the cycle after it read the old
        # value, so that no cycle holds a memory's read, the operation and the
        # write; the next row issues no sooner (``atomic_pending``), so no
        # store meets it and that row reads what it wrote. A new packet starting
        # meanwhile drops the write to its stack, and with one packet buffer
        # to its packet; with more, the write keeps its packet's buffer.
        late_en, late_stack, late_map, late_addr, late_map_addr, late_data, late_size, late_buffer = (
            Signal(name=f"atomic_{n}", shape=w) for n, w in
            (("en", 1), ("stack", 1), ("map", 1), ("addr", 64), ("map_addr", self.map_bits), ("data", 64),
             ("size", range(9)), ("buffer", range(t.packet_buffers))))
        survives = s_map if t.packet_buffers == 1 else ~s_stack
        m.d.comb += [atomic_pending.eq(s_en & (s_kind != 0)), self.keeps_lock.eq(helper.locked | atomic_pending & s_map)]
        m.d.sync += [late_en.eq(store & atomic_pending & ~cancelled & (survives | ~self.start)),
                     late_stack.eq(s_stack), late_map.eq(s_map), late_addr.eq(s_addr), late_buffer.eq(self.pkt_buffer),
                     late_map_addr.eq(s_map_addr), late_data.eq(new), late_size.eq(s_size)]
        plain = s_en & (s_kind == 0) & ~cancelled     # not behind cmpxchg's compare of the word read
        # The stack is cleared in every cycle between packets (``running``
        # low), so a store to it after the packet's exit is dropped: the
        # next packet's stack is zero.
        # A plain store writes in the cycle after its row, before the next
        # packet's buffer is the core's.
        for port, at, here, late_at, late_here in (
                (stack.write, s_addr, s_stack, late_addr, late_stack),
                (self.map_write, s_map_addr, s_map, late_map_addr, late_map),
                (self.pkt_write, Cat(s_addr[:FRAME_ADDR_BITS], self.pkt_buffer), ~s_stack & ~s_map,
                 Cat(late_addr[:FRAME_ADDR_BITS], late_buffer), ~late_stack & ~late_map)):
            m.d.comb += [port.addr.eq(Mux(late_en, late_at, at)[:len(port.addr)]),
                         port.data.eq(Mux(late_en, late_data, s_data)),
                         port.mask.eq(low_ones(Mux(late_en, late_size, s_size), 8)),
                         port.en.eq(Mux(late_en, late_here, plain & here))]
        # The helper unit writes the memories while the core waits for it.
        with m.If(helper.zero_en):
            m.d.comb += [self.pkt_write.addr.eq(Cat(helper.zero_addr, self.pkt_buffer)), self.pkt_write.data.eq(0),
                         self.pkt_write.mask.eq(helper.zero_mask), self.pkt_write.en.eq(1)]
        with m.If(helper.write_en):
            m.d.comb += [self.map_write.addr.eq(helper.write_addr), self.map_write.data.eq(helper.write_data),
                         self.map_write.mask.eq(helper.write_mask), self.map_write.en.eq(1)]
        m.d.comb += stack.clear.eq(~running)

        # -- control: the first taken branch or exit in lane order --------------------
        taken, exits = [], []
        for l, (s, d) in enumerate(zip(slots, dec)):
            comparator = Comparator()
            m.submodules[f"cmp{l}"] = comparator
            m.d.comb += [comparator.ctl.eq(d.cmp_ctl), comparator.a.eq(a_val[l]), comparator.b.eq(b_val[l])]
            beyond = Signal(name=f"beyond{l}")
            m.d.comb += beyond.eq(bound[l] > PACKET_BASE + bounds.end)
            go = Signal(name=f"taken{l}")
            m.d.comb += go.eq(d.exit | d.jump | d.branch & comparator.taken |
                              d.bounds & (beyond == d.bounds_out))
            taken.append(go)
            exits.append(d.exit)
        target_row = Signal(16)
        is_exit = Signal()
        first_taken = Signal()          # the deciding branch's target was read ahead (ir_target)
        to_next_taken = Signal()        # the deciding branch goes to the next row: control carries on
        action = Signal(64)
        decided = Signal()
        leaves = Signal()               # an exit, or a branch elsewhere than the next row
        for l in reversed(range(lanes)):
            with m.If(taken[l]):
                m.d.comb += [decided.eq(1), is_exit.eq(exits[l]), target_row.eq(slots[l].off),
                             first_taken.eq(e_ahead_lane[l]),
                             to_next_taken.eq(to_next[l]),
                             action.eq(Mux(dec[l].uses_imm, imm[l], a_val[l]))]
        m.d.comb += leaves.eq(decided & ~to_next_taken)

        # -- register writes and the scoreboard ------------------------------------------
        # The winning write of each register is found on one bit a source;
        # the value is then an AND-OR of the sources, not a chain of muxes.
        def newest(sources: list[tuple], index, otherwise: Value, gate=1) -> Value:
            """Register ``index`` after the writes of ``sources`` (enabled
            with ``gate``), the last of them winning; ``otherwise`` if none."""
            written = Const(0)
            picked = []
            for en, reg, value in reversed(sources):
                hit = gate & en & (reg == index)
                picked.append(Mux(hit & ~written, value, 0))
                written = written | hit
            return Mux(written, functools.reduce(operator.or_, picked), otherwise) if picked else otherwise

        # Between packets (``running`` low, the start's cycle among them) the
        # registers hold their first values, and decode reads them for row 0:
        # a packet's start, which comes late in its cycle (the packet before
        # may leave in it), reaches none of the registers' values, nor the
        # scoreboard's counts, nor issue's clock enables.
        initial = Array(Const(0, 64) for _ in range(nregs))
        initial[1], initial[2], initial[10] = self.r1, self.r2, Const(STACK_BASE + t.stack_bytes, 64)
        for i in range(nregs):
            m.d.comb += [regs_early[i].eq(newest(earlier_writes, i, regs[i])),
                         regs_next[i].eq(Mux(running, newest(writes, i, regs_early[i], e_valid), initial[i]))]
            m.d.sync += regs[i].eq(regs_next[i])
            later = Const(0, range(t.latency.div + 1))
            claimed = Const(0)
            for would, reg, latency in claims:
                hit = would & (reg == i)
                later = Mux(hit, latency - 1, later)
                claimed = claimed | hit
            with m.If(~running):
                m.d.sync += count[i].eq(0)
            with m.Elif(issue & claimed):
                m.d.sync += count[i].eq(later)
            with m.Elif(count[i] != 0):
                m.d.sync += count[i].eq(count[i] - 1)
            # Decode passes a row on only when the row at issue issues (or
            # there is none), so it counts that row's writes as made; a count
            # of 1 is this cycle's write, which decode reads.
            m.d.comb += free_next[i].eq((count[i] <= 1) & ~(e_valid & slow[i]))

        def operand(index) -> Value:
            """Decode's read: the row at issue's results count, as that row
            issues whenever decode passes its row on."""
            return Mux(running, newest(writes, index, regs_early[index], e_valid), initial[index])

        with m.If(take):
            m.d.sync += [*(row[l].eq(s) for l, s in enumerate(d_slots)), e_pc.eq(d_pc),
                         *(v.eq(operand(i)) for v, i in zip(args, (1, 2, 3, 4))),
                         cmp_value.eq(operand(Array(s.dst for s in d_slots)[d_st_lane]))]
            for l, s in enumerate(d_slots):
                m.d.sync += [a_val[l].eq(operand(s.a)), b_reg[l].eq(operand(s.b)), dec[l].eq(d_dec[l])]

        # -- the decode stage: its row goes to issue when its registers are free ------------
        # (a call reads r1 to r5 and writes r0) and no helper call holds the
        # core, or is about to; a row past the program goes at once, to fault.
        waits_free = []
        for s, d in zip(d_slots, d_dec):
            waits_free += [d.uses_a & ~free_next[s.a], d.uses_b & ~free_next[s.b],
                           (d.reads_dst | d.writes_dst) & ~free_next[s.dst]]
        d_calls = Cat(*(d.helper for d in d_dec)).any()
        writes_late = [d.mul | d.div | d.load & d.writes_dst for d in d_dec]     # ALU results come in a cycle
        with m.If(take):
            for i in range(nregs):
                m.d.sync += slow[i].eq(Cat(*(w & (s.dst == i) for w, s in zip(writes_late, d_slots))).any()
                                       | (d_calls if i == 0 and t.latency.helper > 1 else 0))
        waits_free += [d_calls & ~free_next[i] for i in range(6)]
        held = (helper.busy & ~helper.done) | (e_valid & calls & helper.holds)
        d_ready = Signal()
        m.d.comb += [d_ready.eq(d_past_end | ~(Cat(*waits_free).any() | held)),
                     advance.eq(running & d_valid & d_ready & (~e_valid | issue & ~leaves)),
                     take.eq(~running | advance)]

        # -- packet start and end -------------------------------------------------------
        m.d.sync += [self.finished.eq(0), from_target.eq(0)]
        with m.If(~running):
            m.d.sync += [cycle.eq(1), div_count.eq(0)]
        with m.If(self.start):
            m.d.sync += [running.eq(1), d_pc.eq(1), d_valid.eq(1), e_pc.eq(0), e_valid.eq(1), redirect.eq(0)]
        with m.Elif(running):
            m.d.sync += cycle.eq(cycle + 1)
            with m.If(active & (row_fault != Fault.NONE) | watchdog):
                m.d.sync += [running.eq(0), d_pc.eq(0), self.finished.eq(1), self.fault.eq(row_fault),
                             self.action.eq(0), self.cycles.eq(cycle)]
            with m.Elif(issue & decided & is_exit):
                m.d.sync += [running.eq(0), d_pc.eq(0), self.finished.eq(1), self.fault.eq(Fault.NONE),
                             self.action.eq(action), self.cycles.eq(cycle)]
            with m.Elif(issue & leaves & first_taken):
                # A branch whose target was read ahead: the row behind it is dropped, the target decoded next.
                m.d.sync += [from_target.eq(1), d_pc.eq(target_row), d_valid.eq(1), e_valid.eq(0)]
            with m.Elif(issue & leaves):
                # Another branch: the rows fetched behind it are dropped.
                m.d.sync += [redirect.eq(1), redirect_pc.eq(target_row), d_valid.eq(0), e_valid.eq(0)]
            with m.Else():
                m.d.sync += [redirect.eq(0), d_pc.eq(fetch), d_valid.eq(d_valid | redirect),
                             e_valid.eq(advance | e_valid & ~issue)]
        return m


def _pick(*choices) -> Value:
    """The value after the first true condition of (condition, value)
    pairs, or the last value."""
    *pairs, last = choices
    for i in reversed(range(0, len(pairs), 2)):
        last = Mux(pairs[i], pairs[i + 1], last)
    return last


def _sign_extend(m: Module, value, size) -> Signal:
    """``value``'s low ``size`` bytes (1, 2 or 4) sign-extended to 64 bits."""
    out = Signal(64)
    with m.Switch(size):
        for n in (1, 2, 4):
            with m.Case(n):
                m.d.comb += out.eq(value[:8 * n].as_signed())
        with m.Default():
            m.d.comb += out.eq(value)
    return out
