"""The core, one row per cycle: the specification the gateware matches.

Timing rules (docs/model.md explains them with examples):

* The first row issues in cycle 1. The packet is whole in its buffer
  before the core starts on it, so no row waits for its bytes.
* A row issues when every register it reads or writes has its latest value
  (a result is usable ``latency`` cycles after its row issued); until then
  the core stalls.
* The core has one divider, busy for ``latency.div`` cycles from the row
  that starts it: a division waits until it is free.
* A helper call's r0 is usable ``latency.helper`` cycles after it, except
  for calls that hold the core (hash maps; `helper_timing` gives their
  cycles): the next row issues when they are done.
* An atomic lets the next row issue two cycles after it, not one.
* A row reads all its registers and memory before anything in it writes.
  Its branches are tried in lane order and the first taken one (or an exit)
  decides; a taken branch to the next row costs nothing, one elsewhere
  ``branch_penalty`` extra cycles if it is the row's first branch to
  anywhere but the next row, ``late_branch_penalty`` if not.
* A packet's cycle count is the cycle its exit issues, or the cycle of the
  row that faults (``max_cycles`` + 1 for a runaway program).
"""

from __future__ import annotations

from dataclasses import dataclass
from .helper_timing import helper_hold
from .waits import CycleSplit, Wait
from ..ebpf.interp import M64, Environment, ExecutionFault, alu, atomic_access, condition
from ..ebpf.isa import Insn, sign_extend
from ..ebpf.memory import STACK_BASE, Memory, MemoryFault
from ..ebpf.xdp import XDP_MD_FIELD_BYTES, xdp_md_offset
from ..image import Image
from ..target import MAX_CYCLES, Op, OpInfo, Operand, Slot, Unit, ebpf_spec

__all__ = ["Core"]


@dataclass
class _Exec:
    """A decoded slot, ready to run."""
    slot: Slot
    info: OpInfo
    writes: int | None
    needs: tuple[int, ...]  # registers that must hold their latest value: those read and the one written
    template: Insn | None
    pc: int                 # eBPF pc, for fault messages


def _decode(slot: Slot, pc: int) -> _Exec:
    info = slot.info
    spec = ebpf_spec(slot.op)
    template = Insn(spec, 0, 0, spec.off or 0, spec.imm or 0, pc) if spec else None
    reads = [r for o, r in ((Operand.A, slot.a), (Operand.B, slot.b)) if o in info.operands]
    if info.reads_dst:
        reads.append(slot.dst)
    if info.unit is Unit.HELPER:
        reads += [1, 2, 3, 4, 5]
    writes = 0 if info.unit is Unit.HELPER else slot.dst if Operand.DST in info.operands else None
    needs = tuple(reads) + ((writes,) if writes is not None else ())
    return _Exec(slot, info, writes, needs, template, pc)


class Core:
    """Runs an image on ``memory`` with ``env`` providing helpers and maps.
    Offers what helpers expect of a machine: ``regs``, ``memory``, ``fault``,
    ``tail_calls``; and after each run ``cycles``, ``insns_executed`` and
    ``split``, the cycles by what they were spent on."""

    def __init__(self, image: Image, memory: Memory, env: Environment, *, max_cycles: int = MAX_CYCLES):
        self.image = image
        self.target = image.target
        self.memory = memory
        self.env = env
        self.max_cycles = max_cycles
        self.program_name = image.name
        self.regs = [0] * self.target.registers
        self.tail_calls = 0
        self.cycles = 0
        self.held_until = 0           # the cycle a holding helper call or an atomic lets the next row issue
        self.held_by = Wait.HELPER
        self.insns_executed = 0
        self.split = CycleSplit()
        self.stack = memory.allocate("stack", bytearray(self.target.stack_bytes), base=STACK_BASE)
        self.rows: list[list[_Exec]] = []
        for r, row in enumerate(image.rows):
            decoded = []
            for lane, slot in enumerate(row):
                if slot.op is Op.NOP:
                    continue
                pcs = image.source[r][lane] if r < len(image.source) else ()
                decoded.append(_decode(slot, pcs[0] if pcs else -1))
            self.rows.append(decoded)

    def fault(self, pc: int, reason: str) -> ExecutionFault:
        return ExecutionFault(pc, reason, self.program_name)

    def run(self, r1: int = 0, r2: int = 0) -> int:
        """Run from row 0 to an exit; returns the action (r0 at exit)."""
        target = self.target
        lat = target.latency
        regs = self.regs
        regs[:] = [0] * len(regs)
        regs[1], regs[2] = r1 & M64, r2 & M64
        self.stack.data[:] = bytes(len(self.stack.data))
        regs[10] = self.stack.base + len(self.stack.data)
        self.context = r1 if self.image.context_in_r1 else None
        ready = [0] * len(regs)
        made_by = [Wait.ALU] * len(regs)       # what a register's pending value waits on
        divider_free = 0
        cycle, row = 1, 0
        split = self.split = CycleSplit()
        rows = self.rows
        issue = cycle

        def wait(until: int, cause: Wait) -> None:
            """The row issues no sooner than ``until``, waiting for ``cause``."""
            nonlocal issue
            if until > issue:
                split[cause] += until - issue
                issue = until
        while True:
            if row >= len(rows):
                self.cycles = cycle
                raise self.fault(-1, f"control ran past the last row ({len(rows)})")
            ops = rows[row]
            issue = cycle
            divides = False
            for e in ops:
                for r in e.needs:
                    wait(ready[r], made_by[r])
                divides |= e.info.unit is Unit.DIV
            if divides:
                wait(divider_free, Wait.DIVIDE)
            if issue > self.max_cycles:
                self.cycles = self.max_cycles + 1
                raise self.fault(ops[0].pc if ops else -1,
                                 f"more than {self.max_cycles} cycles: runaway loop?")
            split[Wait.ROW if ops else Wait.EMPTY] += 1
            self.insns_executed += len(ops)
            self.cycles = issue
            if divides:
                divider_free = issue + lat.div
            self.held_until = 0
            try:
                outcome = self._execute(ops, row, issue, ready, made_by, lat)
            except MemoryFault as err:
                raise self.fault(err.pc if err.pc is not None else -1, err.reason) from None
            if outcome is None:
                row, cycle = row + 1, issue + 1
            elif outcome[0] == "exit":
                return outcome[1]
            else:
                penalty = 0 if outcome[1] == row + 1 else lat.branch_penalty if outcome[2] \
                    else lat.late_branch_penalty
                row, cycle = outcome[1], issue + 1 + penalty
                if penalty:
                    split[Wait.BRANCH] += penalty
            if self.held_until > cycle:
                split[self.held_by] += self.held_until - cycle
                cycle = self.held_until

    def _execute(self, ops: list[_Exec], row: int, cycle: int, ready: list[int], made_by: list[Wait],
                 lat) -> tuple[str, int, bool] | None:
        """Row ``row``'s effects; what decides it, if anything: ("exit",
        action, _) or ("branch", target, whether it is the row's first branch
        to anywhere but the next row, whose target the core reads ahead)."""
        regs = self.regs
        memory = self.memory
        results: list[tuple[int, int, int, Wait]] = []      # (register, value, ready cycle, its unit)
        stores: list[_Exec] = []
        decision: tuple[str, int, bool] | None = None
        first = True
        helper: _Exec | None = None
        for e in ops:
            s, unit = e.slot, e.info.unit
            if unit is Unit.BRANCH or unit is Unit.EXIT:
                if decision is None and (outcome := self._control(e)) is not None:
                    decision = (*outcome, first)
                first &= unit is not Unit.BRANCH or s.off == row + 1
            elif unit is Unit.LSU:
                if not e.info.writes_memory:
                    addr = (regs[s.a] + s.off) & M64
                    try:
                        region, _ = memory.find(addr, e.info.width, e.pc)
                        value = memory.read(addr, e.info.width, e.pc)
                    except MemoryFault:
                        if not e.info.never_faults:
                            raise
                        region, value = None, 0
                    if e.info.sign_extends:
                        value = sign_extend(value, 8 * e.info.width) & M64
                    results.append((s.dst, value, cycle + self._load_latency(region, lat), Wait.LOAD))
                else:
                    stores.append(e)
            elif unit is Unit.HELPER:
                helper = e
            else:
                results.append((s.dst, self._alu(e), cycle + lat.of(s.info),
                                Wait.DIVIDE if unit is Unit.DIV else Wait.ALU))
        if helper is not None:
            number = regs[helper.slot.a] if helper.slot.op is Op.CALLR else helper.slot.imm
            hold = helper_hold(number, self.env, regs, memory, self.target.cores)
            value = self.env.call_helper(self, number, helper.pc) & M64
            if hold is not None:
                self.held_until, self.held_by = cycle + hold, Wait.HELPER
            results.append((0, value, cycle + (lat.helper if hold is None else hold), Wait.HELPER))
        for e in stores:
            s = e.slot
            addr = (regs[s.a] + s.off) & M64
            if e.info.reads_memory:       # an atomic: it writes a cycle later, and the next row waits for it
                if cycle + 2 > self.held_until:
                    self.held_until, self.held_by = cycle + 2, Wait.ATOMIC
                old = atomic_access(memory, e.template.imm, e.info.width, addr, regs[s.b], regs[s.dst], e.pc)
                if e.writes is not None:
                    results.append((s.dst, old, cycle + lat.load_map, Wait.LOAD))
            else:
                value = regs[s.b] if Operand.B in s.info.operands else s.imm
                memory.write(addr, e.info.width, value, e.pc)
        for reg, value, when, unit in results:
            regs[reg] = value
            ready[reg], made_by[reg] = when, unit
        return decision

    def _load_latency(self, region, lat) -> int:
        """By the memory the load reached (regions carry their names)."""
        if region is None or region is self.stack or region.name.startswith("context"):
            return lat.load_stack
        if region.name == "packet":
            return lat.load_packet
        return lat.load_map

    def _control(self, e: _Exec) -> tuple[str, int] | None:
        s = e.slot
        if e.info.unit is Unit.EXIT:
            return ("exit", self.regs[s.a] if s.op is Op.EXIT else s.imm & M64)
        if s.op is Op.JUMP:
            return ("branch", s.off)
        if e.info.reads_packet_end:
            beyond = (self.regs[s.a] + s.imm) & M64 > self._packet_end(e)
            return ("branch", s.off) if beyond == (s.op is Op.BOUT) else None
        b = self.regs[s.b] if Operand.B in s.info.operands else s.imm & M64
        return ("branch", s.off) if condition(e.template, self.regs[s.a], b) else None

    def _packet_end(self, e: _Exec) -> int:
        """data_end, as the context holds it now."""
        if self.context is None:
            raise self.fault(e.pc, f"{e.info.name} needs an XDP context")
        return self.memory.read(self.context + xdp_md_offset("data_end"), XDP_MD_FIELD_BYTES, e.pc)

    def _alu(self, e: _Exec) -> int:
        s, regs = e.slot, self.regs
        if s.op is Op.LDHI:
            return (regs[s.a] & 0xFFFFFFFF) | (s.imm & 0xFFFFFFFF) << 32
        if s.op is Op.LDMAP:
            return self.env.map_handle(s.imm, e.pc)
        if s.op is Op.LDMAPV:
            return self.env.map_value_address(s.imm, s.off, e.pc) & M64
        operands = s.info.operands
        b = regs[s.b] if Operand.B in operands else s.imm & M64
        if e.template.spec.mnemonic.startswith("mov"):
            return alu(e.template, 0, regs[s.a] if Operand.A in operands else b)
        return alu(e.template, regs[s.a], b)
