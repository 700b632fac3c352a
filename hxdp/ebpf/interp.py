"""The reference interpreter: plain, exact eBPF semantics, one instruction at a time.

This is the oracle every later stage (model, gateware) is checked against, so
it favours obviousness over speed. It knows nothing about XDP: the runtime
that does (`hxdp.ebpf.runtime`) gives it an `Environment` for helper calls
and map references, and the `Memory` holding packet, context and maps.

API used by the XDP runtime and the helpers:

* ``Machine(code, memory, env, max_insns=...)``; ``machine.run(r1=..., r2=...) -> r0``
* ``machine.regs`` (list of 11 unsigned 64-bit values), ``machine.memory``,
  ``machine.insns_executed``, ``machine.tail_calls``
* ``Environment.call_helper(machine, helper_id, pc) -> r0`` (arguments in
  ``machine.regs[1..5]``), ``map_handle(map_index, pc)``,
  ``map_value_address(map_index, offset, pc)``
* a helper raises ``TailCall(program)`` to continue at pc 0 of ``program``
  with the same r1 (the helper checks ``machine.tail_calls`` against
  ``MAX_TAIL_CALLS`` first, as the kernel's helper does);
* anything going wrong raises ``ExecutionFault`` naming the pc.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from ..errors import HxdpError
from .isa import NUM_REGS, AluOp, AtomicOp, Form, Insn, JmpOp, Kind, Pseudo, sign_extend as _sx
from .memory import Memory, MemoryFault, Region
from .program import Program

__all__ = ["Machine", "Environment", "ExecutionFault", "TailCall", "run_raw",
           "STACK_SIZE", "MAX_CALL_DEPTH", "MAX_TAIL_CALLS", "alu", "condition", "atomic_access",
           "CONFORMANCE_HELPERS", "CONFORMANCE_IDENTITY"]

STACK_SIZE = 512
MAX_CALL_DEPTH = 8
MAX_TAIL_CALLS = 33
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
# What ``lddw rX, function`` gives (a bpf_loop callback): an opaque number,
# FUNCTION_BASE + the function's pc, which no address or map handle is.
FUNCTION_BASE = 0xFFFF_9000_0000_0000


class ExecutionFault(HxdpError):
    """A program did something the machine cannot do; ``pc`` names where."""

    def __init__(self, pc: int, reason: str, program: str = ""):
        where = f"{program} pc {pc}" if program else f"pc {pc}"
        super().__init__(f"{where}: {reason}")
        self.pc = pc
        self.reason = reason


class TailCall(Exception):
    """Raised by the tail_call helper: continue in ``program``."""

    def __init__(self, program: Program):
        super().__init__(program.name)
        self.program = program


class Environment(Protocol):
    def call_helper(self, machine: "Machine", helper_id: int, pc: int) -> int: ...
    def map_handle(self, map_index: int, pc: int) -> int: ...
    def map_value_address(self, map_index: int, offset: int, pc: int) -> int: ...


def _tdiv(a: int, b: int) -> int:
    """Division truncating toward zero, as C and the RFC's sdiv do."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def _bswap(value: int, bits: int) -> int:
    return int.from_bytes((value & ((1 << bits) - 1)).to_bytes(bits // 8, "little"), "big")


def alu(insn: Insn, dst: int, src: int) -> int:
    """The result of an ALU or byte-order instruction; ``src`` is the register
    value or the sign-extended immediate."""
    spec = insn.spec
    if spec.kind is Kind.END:
        bits = spec.width
        if spec.mnemonic.startswith("le"):
            return dst & ((1 << bits) - 1)
        return _bswap(dst, bits)
    width = spec.width
    mask = M64 if width == 64 else M32
    a, b = dst & mask, src & mask
    op = spec.op
    if op == AluOp.ADD:
        r = a + b
    elif op == AluOp.SUB:
        r = a - b
    elif op == AluOp.MUL:
        r = a * b
    elif op == AluOp.DIV:
        if spec.signed:
            r = 0 if b == 0 else _tdiv(_sx(a, width), _sx(b, width))
        else:
            r = 0 if b == 0 else a // b
    elif op == AluOp.MOD:
        if b == 0:
            r = a
        elif spec.signed:
            sa, sb = _sx(a, width), _sx(b, width)
            r = sa - sb * _tdiv(sa, sb)
        else:
            r = a % b
    elif op == AluOp.OR:
        r = a | b
    elif op == AluOp.AND:
        r = a & b
    elif op == AluOp.XOR:
        r = a ^ b
    elif op == AluOp.LSH:
        r = a << (b & (width - 1))
    elif op == AluOp.RSH:
        r = a >> (b & (width - 1))
    elif op == AluOp.ARSH:
        r = _sx(a, width) >> (b & (width - 1))
    elif op == AluOp.NEG:
        r = -a
    elif op == AluOp.MOV:
        r = _sx(src, insn.off) if spec.signed else b
    else:
        raise AssertionError(f"ALU op {op:#x}")
    return r & mask


def condition(insn: Insn, a: int, b: int) -> bool:
    """Whether a conditional jump is taken."""
    spec = insn.spec
    width = spec.width
    mask = M64 if width == 64 else M32
    a &= mask
    b &= mask
    if spec.signed:
        a, b = _sx(a, width), _sx(b, width)
    op = spec.op
    if op == JmpOp.JEQ:
        return a == b
    if op == JmpOp.JNE:
        return a != b
    if op == JmpOp.JSET:
        return a & b != 0
    if op in (JmpOp.JGT, JmpOp.JSGT):
        return a > b
    if op in (JmpOp.JGE, JmpOp.JSGE):
        return a >= b
    if op in (JmpOp.JLT, JmpOp.JSLT):
        return a < b
    if op in (JmpOp.JLE, JmpOp.JSLE):
        return a <= b
    raise AssertionError(f"jump op {op:#x}")


def _atomic(op: int, old: int, value: int) -> int:
    base = op & ~0x01
    if base == AtomicOp.ADD:
        return old + value
    if base == AtomicOp.OR:
        return old | value
    if base == AtomicOp.AND:
        return old & value
    if base == AtomicOp.XOR:
        return old ^ value
    raise AssertionError(f"atomic op {op:#x}")


class _Frame:
    """A BPF-to-BPF call's return point and the caller's r6-r10."""
    __slots__ = ("return_pc", "saved")

    def __init__(self, return_pc: int, saved: list[int]):
        self.return_pc = return_pc
        self.saved = saved


class Machine:
    """Runs one program (and the programs it tail-calls) on given memory."""

    cycles: int | None = None      # the interpreter does not count cycles

    def __init__(self, code: Program | Sequence[Insn], memory: Memory, env: Environment,
                 *, max_insns: int = 1_000_000):
        self.memory = memory
        self.env = env
        self.max_insns = max_insns
        self.regs = [0] * NUM_REGS
        self.insns_executed = 0
        self.tail_calls = 0
        self._depth = 0                  # the call depth the code running is at
        self._stacks: list[Region] = []
        self.entry = code
        self.load(code)

    def load(self, code: Program | Sequence[Insn]) -> None:
        """Make ``code`` the program the next run starts in."""
        insns = code.insns if isinstance(code, Program) else list(code)
        self.program_name = code.name if isinstance(code, Program) else ""
        slots = sum(i.slots for i in insns)
        self._slots: list[Insn | None] = [None] * slots
        for insn in insns:
            self._slots[insn.pc] = insn

    def fault(self, pc: int, reason: str) -> ExecutionFault:
        return ExecutionFault(pc, reason, self.program_name)

    def _stack(self, depth: int) -> Region:
        """The zeroed stack region of call depth ``depth`` (reused across calls)."""
        while len(self._stacks) <= depth:
            self._stacks.append(self.memory.allocate(f"stack frame {len(self._stacks)}",
                                                     bytearray(STACK_SIZE)))
        region = self._stacks[depth]
        region.data[:] = bytes(STACK_SIZE)
        return region

    def run(self, r1: int = 0, r2: int = 0) -> int:
        """Execute from pc 0 of the entry program until the outermost exit; return r0."""
        if self.tail_calls:
            self.load(self.entry)
            self.tail_calls = 0
        regs = self.regs
        regs[:] = [0] * NUM_REGS
        regs[1], regs[2] = r1 & M64, r2 & M64
        regs[10] = self._stack(0).base + STACK_SIZE
        self._depth = 0
        return self._execute(0)

    def function_handle(self, pc: int) -> int:
        """What ``lddw rX, function`` gives: an opaque number for the function at ``pc``."""
        return FUNCTION_BASE + pc

    def invoke(self, handle: int, args: Sequence[int], pc: int) -> int:
        """Call the function ``handle`` names from a helper at ``pc`` (a
        bpf_loop callback) with ``args`` in r1..., in a stack frame of its
        own; its r0. The caller's registers are as they were."""
        target = handle - FUNCTION_BASE
        if not 0 <= target < len(self._slots) or self._slots[target] is None:
            raise self.fault(pc, f"{handle:#x} is not a function of the program")
        if self._depth + 1 >= MAX_CALL_DEPTH:
            raise self.fault(pc, f"call depth exceeds {MAX_CALL_DEPTH}")
        saved, depth = list(self.regs), self._depth
        self._depth += 1
        self.regs[1:6] = [a & M64 for a in args] + [0] * (5 - len(args))
        self.regs[10] = self._stack(self._depth).base + STACK_SIZE
        try:
            return self._execute(target)
        finally:
            self.regs[:] = saved
            self._depth = depth

    def _execute(self, pc: int) -> int:
        """Run from ``pc`` until the function it is in returns: r0."""
        regs = self.regs
        base = self._depth
        frames: list[_Frame] = []
        while True:
            if not 0 <= pc < len(self._slots):
                raise self.fault(pc, "jump or fall-through outside the program")
            insn = self._slots[pc]
            if insn is None:
                raise self.fault(pc, "jump into the middle of a 64-bit immediate load")
            self.insns_executed += 1
            if self.insns_executed > self.max_insns:
                raise self.fault(pc, f"more than {self.max_insns} instructions executed: "
                                     "runaway loop?")
            try:
                kind = insn.spec.kind
                if kind is Kind.ALU or kind is Kind.END:
                    src = regs[insn.src] if insn.spec.form is Form.ALU_REG else insn.imm & M64
                    regs[insn.dst] = alu(insn, regs[insn.dst], src)
                elif kind is Kind.JUMP:
                    if insn.spec.form is Form.JA:
                        pc += insn.off
                    elif insn.spec.form is Form.JA32:
                        pc += insn.imm
                    else:
                        b = regs[insn.src] if insn.spec.form is Form.JUMP_REG else insn.imm & M64
                        if condition(insn, regs[insn.dst], b):
                            pc += insn.off
                elif kind is Kind.LOAD:
                    size = insn.spec.width
                    value = self.memory.read((regs[insn.src] + insn.off) & M64, size, pc)
                    regs[insn.dst] = _sx(value, 8 * size) & M64 if insn.spec.signed else value
                elif kind is Kind.STORE:
                    value = regs[insn.src] if insn.spec.form is Form.STORE_REG else insn.imm
                    self.memory.write((regs[insn.dst] + insn.off) & M64, insn.spec.width, value, pc)
                elif kind is Kind.LDDW:
                    regs[insn.dst] = self._lddw(insn, pc)
                elif kind is Kind.ATOMIC:
                    self._atomic(insn, pc)
                elif kind is Kind.CALL:
                    form = insn.spec.form
                    if form is Form.CALL_LOCAL:
                        if base + len(frames) + 1 >= MAX_CALL_DEPTH:
                            raise self.fault(pc, f"call depth exceeds {MAX_CALL_DEPTH}")
                        frames.append(_Frame(pc + 1, regs[6:11]))
                        self._depth = base + len(frames)
                        regs[10] = self._stack(self._depth).base + STACK_SIZE
                        pc += insn.imm
                    elif form is Form.CALL_KFUNC:
                        raise self.fault(pc, f"kernel function calls (BTF id {insn.imm}) "
                                             "are not supported")
                    else:
                        helper = regs[insn.dst] if form is Form.CALLX else insn.imm
                        try:
                            regs[0] = self.env.call_helper(self, helper, pc) & M64
                        except TailCall as tail:
                            if base:
                                raise self.fault(pc, "bpf_tail_call from a callback") from None
                            self.tail_calls += 1
                            self.load(tail.program)
                            frames.clear()
                            r1 = regs[1]
                            regs[:] = [0] * NUM_REGS
                            regs[1] = r1
                            regs[10] = self._stack(0).base + STACK_SIZE
                            pc = 0
                            continue
                elif kind is Kind.EXIT:
                    if not frames:
                        return regs[0]
                    frame = frames.pop()
                    self._depth = base + len(frames)
                    regs[6:11] = frame.saved
                    pc = frame.return_pc
                    continue
                else:
                    raise self.fault(pc, f"{insn.mnemonic}: legacy packet loads are for socket "
                                         "filters and are not supported in XDP programs")
            except MemoryFault as err:
                raise self.fault(pc, err.reason) from None
            pc += insn.slots

    def _lddw(self, insn: Insn, pc: int) -> int:
        if insn.src == Pseudo.IMM64:
            return insn.imm
        if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
            return self.env.map_handle(insn.imm & M32, pc)
        if insn.src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
            return self.env.map_value_address(insn.imm & M32, insn.imm >> 32, pc)
        if insn.src == Pseudo.FUNC:
            return self.function_handle(pc + 1 + _sx(insn.imm & M32, 32))
        raise self.fault(pc, f"lddw with source {Pseudo(insn.src).name} (BTF ids) is not supported")

    def _atomic(self, insn: Insn, pc: int) -> None:
        regs = self.regs
        fetched = atomic_access(self.memory, insn.imm, insn.spec.width, (regs[insn.dst] + insn.off) & M64,
                                regs[insn.src], regs[0], pc)
        if insn.imm == AtomicOp.CMPXCHG:
            regs[0] = fetched
        elif insn.imm & 0x01:
            regs[insn.src] = fetched


def atomic_access(memory: Memory, op: int, size: int, addr: int, value: int, r0: int, pc: int) -> int:
    """One atomic read-modify-write (``op`` is eBPF's atomic imm); returns the
    old memory value, which fetch, xchg and cmpxchg put in a register."""
    mask = M64 if size == 8 else M32
    old = memory.read(addr, size, pc)
    if op == AtomicOp.CMPXCHG:
        if old == r0 & mask:
            memory.write(addr, size, value, pc)
        return old
    new = value if op == AtomicOp.XCHG else _atomic(op, old, value)
    memory.write(addr, size, new & mask, pc)
    return old


class ConformanceEnv:
    """The environment of the conformance suite: a few numbered helpers, no maps."""

    def __init__(self, helpers: dict[int, Callable[[Machine], int]]):
        self.helpers = helpers

    def call_helper(self, machine: Machine, helper_id: int, pc: int) -> int:
        helper = self.helpers.get(helper_id)
        if helper is None:
            raise machine.fault(pc, f"call to unknown helper {helper_id}")
        return helper(machine)

    def map_handle(self, map_index: int, pc: int) -> int:
        raise ExecutionFault(pc, "this program has no maps")

    def map_value_address(self, map_index: int, offset: int, pc: int) -> int:
        raise ExecutionFault(pc, "this program has no maps")


# Helper 5 of the conformance suite only has to return; it returns r1.
# The one helper the conformance suite calls: number 5 gives back r1.
CONFORMANCE_IDENTITY = 5
CONFORMANCE_HELPERS: dict[int, Callable[[Machine], int]] = {CONFORMANCE_IDENTITY: lambda m: m.regs[1]}


def run_raw(insns: Sequence[Insn], mem: bytes = b"",
            helpers: dict[int, Callable[[Machine], int]] | None = None,
            max_insns: int = 1_000_000) -> int:
    """Run with the conformance suite's entry state: r1 = memory, r2 = its length."""
    memory = Memory()
    region = memory.allocate("input memory", bytearray(mem))
    machine = Machine(insns, memory, ConformanceEnv(helpers or CONFORMANCE_HELPERS),
                      max_insns=max_insns)
    return machine.run(region.base if mem else 0, len(mem))
