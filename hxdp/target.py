"""The hxdp core: its parameters and the encoding of its VLIW bundles.

This is the one definition the compiler emits with, the model decodes with
and the gateware decodes with. docs/isa.md is generated from it
(`hxdp target --doc`).

A bundle (one row of instruction memory) holds ``lanes`` slots that issue
together. A slot is one operation of the extended instruction set: eBPF's
operations made three-operand (``dst = a op b``), loads and stores of 1, 2,
4, 6 and 8 bytes, compare-and-branch to an absolute row, helper calls, and
an exit that carries its action.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields as dc_fields
from typing import Sequence

from .ebpf.isa import Form, OpSpec, by_mnemonic
from .errors import HxdpError

__all__ = ["Unit", "Space", "Operand", "OpInfo", "Op", "OPS_BY_CODE", "SlotField", "SLOT_FIELDS",
           "SLOT_BITS", "Slot", "ebpf_spec", "non_faulting", "encode_slot", "decode_slot", "encode_row", "decode_row",
           "Latency", "DIVIDERS", "MULTIPLIERS", "MAX_CYCLES", "MAX_CORES", "Target", "ENGINE_CLOCK_MHZ", "markdown", "target_to_dict", "target_from_dict"]


class Unit(enum.Enum):
    """The functional unit an operation occupies."""
    ALU = "alu"
    MUL = "mul"
    DIV = "div"
    LSU = "load/store"
    BRANCH = "branch"
    HELPER = "helper"
    EXIT = "exit"


class Space(enum.Enum):
    """Memories a load/store port can reach."""
    STACK = "stack"
    PACKET = "packet"
    CONTEXT = "context"
    MAP = "map"


ALL_SPACES = frozenset(Space)


class Operand(enum.Enum):
    """How an operation uses the slot's fields."""
    DST = "dst"       # register written
    A = "a"           # first source register (or address base)
    B = "b"           # second source register
    OFF = "off"       # address offset, or branch target row
    IMM = "imm"       # immediate: second source, stored value, helper id or action


@dataclass(frozen=True)
class OpInfo:
    name: str
    unit: Unit
    operands: tuple[Operand, ...]
    semantics: str
    width: int = 64       # operation width in bits, or access size in bytes for memory ops
    # The eBPF instruction (mnemonic, form) whose arithmetic, condition or
    # atomic update this operation performs: the one definition of its meaning.
    ebpf: tuple[str, Form] | None = None

    @property
    def reads_memory(self) -> bool:
        """Loads and atomics."""
        return self.unit is Unit.LSU and self.name.startswith(("ld", "atomic"))

    @property
    def writes_memory(self) -> bool:
        """Stores and atomics."""
        return self.unit is Unit.LSU and not self.name.startswith("ld")

    @property
    def reads_dst(self) -> bool:
        """cmpxchg compares memory with its destination register before writing it."""
        return self.name.startswith("atomic_cmpxchg")

    @property
    def never_faults(self) -> bool:
        """The non-faulting loads: 0 where no memory is."""
        return self.unit is Unit.LSU and self.name.startswith("ld") and self.name.endswith("n")

    @property
    def sign_extends(self) -> bool:
        return self.name.startswith("lds")

    @property
    def reads_packet_end(self) -> bool:
        """The bounds-check branches, which compare with the packet's end."""
        return self.name in ("bout", "bin")


def _ops() -> list[OpInfo]:
    D, A, B, O, I = Operand.DST, Operand.A, Operand.B, Operand.OFF, Operand.IMM
    ops = [OpInfo("nop", Unit.ALU, (), "nothing (an all-zero slot)")]
    binary = {
        "add": ("a + b", Unit.ALU), "sub": ("a - b", Unit.ALU), "mul": ("a * b", Unit.MUL),
        "div": ("a / b unsigned; 0 when b = 0", Unit.DIV),
        "sdiv": ("a / b signed, truncated; 0 when b = 0", Unit.DIV),
        "mod": ("a % b unsigned; a when b = 0", Unit.DIV),
        "smod": ("a % b signed, sign of a; a when b = 0", Unit.DIV),
        "or": ("a | b", Unit.ALU), "and": ("a & b", Unit.ALU), "xor": ("a ^ b", Unit.ALU),
        "lsh": ("a << (b mod width)", Unit.ALU), "rsh": ("a >> (b mod width), logical", Unit.ALU),
        "arsh": ("a >> (b mod width), arithmetic", Unit.ALU),
    }
    R, IM, U = Form.ALU_REG, Form.ALU_IMM, Form.UNARY
    for width, suffix in ((64, ""), (32, "32")):
        for name, (text, unit) in binary.items():
            ops.append(OpInfo(f"{name}{suffix}", unit, (D, A, B), f"dst = {text}", width, (name + suffix, R)))
            ops.append(OpInfo(f"{name}{suffix}i", unit, (D, A, I), f"dst = {text.replace('b', 'imm')}",
                              width, (name + suffix, IM)))
        ops.append(OpInfo(f"mov{suffix}", Unit.ALU, (D, A), "dst = a", width, ("mov" + suffix, R)))
        ops.append(OpInfo(f"mov{suffix}i", Unit.ALU, (D, I), "dst = imm (sign-extended)", width,
                          ("mov" + suffix, IM)))
        ops.append(OpInfo(f"neg{suffix}", Unit.ALU, (D, A), "dst = -a", width, ("neg" + suffix, U)))
        for bits in (8, 16, 32):
            if bits < width:
                ops.append(OpInfo(f"movsx{bits}{suffix}", Unit.ALU, (D, A),
                                  f"dst = a's low {bits} bits, sign-extended", width,
                                  (f"movsx{bits}{width}", R)))
    for bits in (16, 32, 64):
        ops.append(OpInfo(f"zext{bits}", Unit.ALU, (D, A), f"dst = a's low {bits} bits", bits,
                          (f"le{bits}", U)))
        ops.append(OpInfo(f"bswap{bits}", Unit.ALU, (D, A), f"dst = a's low {bits} bits, bytes reversed",
                          bits, (f"bswap{bits}", U)))
    ops.append(OpInfo("ldhi", Unit.ALU, (D, A, I), "dst = (a & 0xffffffff) | imm << 32"))
    ops.append(OpInfo("ldmap", Unit.ALU, (D, I), "dst = the handle of map number imm"))
    ops.append(OpInfo("ldmapv", Unit.ALU, (D, I, O), "dst = address of map imm's value (key 0) + off"))
    for size in (1, 2, 4, 6, 8):
        ops.append(OpInfo(f"ld{size}", Unit.LSU, (D, A, O), f"dst = {size} bytes at a + off", size))
        if size in (1, 2, 4):
            ops.append(OpInfo(f"lds{size}", Unit.LSU, (D, A, O),
                              f"dst = {size} bytes at a + off, sign-extended", size))
            ops.append(OpInfo(f"lds{size}n", Unit.LSU, (D, A, O),
                              f"dst = {size} bytes at a + off, sign-extended, or 0 where no memory is",
                              size))
        ops.append(OpInfo(f"ld{size}n", Unit.LSU, (D, A, O),
                          f"dst = {size} bytes at a + off, or 0 where no memory is (never faults)", size))
        ops.append(OpInfo(f"st{size}", Unit.LSU, (A, B, O), f"{size} bytes at a + off = b", size))
        ops.append(OpInfo(f"st{size}i", Unit.LSU, (A, I, O), f"{size} bytes at a + off = imm", size))
    atomics = {"add": "+", "or": "|", "and": "&", "xor": "^"}
    for size, suffix in ((8, ""), (4, "32")):
        for name, sym in atomics.items():
            ops.append(OpInfo(f"atomic_{name}{suffix}", Unit.LSU, (A, B, O),
                              f"[a + off] {sym}= b, atomically", size, (f"lock {name}{suffix}", Form.ATOMIC)))
            ops.append(OpInfo(f"atomic_fetch_{name}{suffix}", Unit.LSU, (D, A, B, O),
                              f"dst = [a + off]; [a + off] {sym}= b, atomically", size,
                              (f"lock fetch {name}{suffix}", Form.ATOMIC)))
        ops.append(OpInfo(f"atomic_xchg{suffix}", Unit.LSU, (D, A, B, O),
                          "dst = [a + off]; [a + off] = b, atomically", size, (f"lock xchg{suffix}", Form.ATOMIC)))
        ops.append(OpInfo(f"atomic_cmpxchg{suffix}", Unit.LSU, (D, A, B, O),
                          "dst = [a + off]; if it equalled the old dst: [a + off] = b", size,
                          (f"lock cmpxchg{suffix}", Form.ATOMIC)))
    conditions = {"eq": "a == b", "ne": "a != b", "gt": "a > b", "ge": "a >= b", "lt": "a < b",
                  "le": "a <= b", "sgt": "a > b signed", "sge": "a >= b signed", "slt": "a < b signed",
                  "sle": "a <= b signed", "set": "a & b != 0"}
    for width, suffix in ((64, ""), (32, "32")):
        for name, test in conditions.items():
            ops.append(OpInfo(f"b{name}{suffix}", Unit.BRANCH, (A, B, O), f"if {test}: go to row off", width,
                              (f"j{name}{suffix}", Form.JUMP_REG)))
            ops.append(OpInfo(f"b{name}{suffix}i", Unit.BRANCH, (A, I, O),
                              f"if {test.replace('b', 'imm', 1) if name != 'set' else 'a & imm != 0'}: "
                              "go to row off", width, (f"j{name}{suffix}", Form.JUMP_IMM)))
    ops.append(OpInfo("jump", Unit.BRANCH, (O,), "go to row off"))
    ops.append(OpInfo("call", Unit.HELPER, (I,), "r0 = helper imm (r1..r5); r1..r5 undefined after"))
    ops.append(OpInfo("callr", Unit.HELPER, (A,), "r0 = helper number a (r1..r5); r1..r5 undefined after"))
    ops.append(OpInfo("exit", Unit.EXIT, (A,), "end the packet with action a"))
    ops.append(OpInfo("exiti", Unit.EXIT, (I,), "end the packet with action imm"))
    # Bounds checks answered by the core, which knows the packet's end: no
    # load of data_end.
    ops.append(OpInfo("bout", Unit.BRANCH, (A, I, O), "if a + imm > the packet's end (data_end): go to row off"))
    ops.append(OpInfo("bin", Unit.BRANCH, (A, I, O), "if a + imm <= the packet's end (data_end): go to row off"))
    return ops


_OP_LIST = _ops()
Op = enum.IntEnum("Op", [(info.name.upper(), code) for code, info in enumerate(_OP_LIST)])
Op.__doc__ = "Operation codes of the extended instruction set (code 0 is nop)."
OPS_BY_CODE: dict[Op, OpInfo] = {Op(code): info for code, info in enumerate(_OP_LIST)}


def non_faulting(op: Op) -> Op:
    """The load that reads like ``op`` but gives 0 instead of faulting: what a
    load becomes when the compiler moves it above a branch guarding it."""
    return Op[op.name + "N"]


_INVERSE_TESTS = {"eq": "ne", "gt": "le", "ge": "lt", "sgt": "sle", "sge": "slt", "out": "in"}
_INVERSE_TESTS.update({v: k for k, v in _INVERSE_TESTS.items()})


def inverse_branch(op: Op) -> Op | None:
    """The branch taken exactly when ``op`` is not (same operands), or None
    where the instruction set has none (``bset``)."""
    name = op.name.lower()
    test = name[1:].removesuffix("i").removesuffix("32") if name not in ("bout", "bin") else name[1:]
    inverse = _INVERSE_TESTS.get(test)
    return None if inverse is None else Op[("b" + inverse + name[1 + len(test):]).upper()]


def ebpf_spec(op: Op) -> OpSpec | None:
    """The eBPF table entry ``op`` computes like (see OpInfo.ebpf)."""
    return _EBPF_SPECS[op]


def _find_spec(info: OpInfo) -> OpSpec | None:
    if info.ebpf is None:
        return None
    mnemonic, form = info.ebpf
    return next(s for s in by_mnemonic(mnemonic) if s.form is form)


_EBPF_SPECS: dict[Op, OpSpec | None] = {op: _find_spec(info) for op, info in OPS_BY_CODE.items()}


@dataclass(frozen=True)
class SlotField:
    name: str
    width: int
    signed: bool = False

    @property
    def values(self) -> range:
        """The values the field holds."""
        return range(-(1 << (self.width - 1)), 1 << (self.width - 1)) if self.signed else range(1 << self.width)


# Slot layout, least significant field first. The gateware builds its
# amaranth.lib.data layout from this tuple.
SLOT_FIELDS: tuple[SlotField, ...] = (
    SlotField("op", 8), SlotField("dst", 5), SlotField("a", 5), SlotField("b", 5),
    SlotField("off", 16, signed=True), SlotField("imm", 32, signed=True),
)
SLOT_BITS = sum(f.width for f in SLOT_FIELDS)


@dataclass(frozen=True)
class Slot:
    op: Op = Op.NOP
    dst: int = 0
    a: int = 0
    b: int = 0
    off: int = 0
    imm: int = 0

    @property
    def info(self) -> OpInfo:
        return OPS_BY_CODE[self.op]

    def __str__(self) -> str:
        text = {Operand.DST: f"r{self.dst}", Operand.A: f"r{self.a}", Operand.B: f"r{self.b}",
                Operand.OFF: str(self.off), Operand.IMM: str(self.imm)}
        return " ".join([self.info.name, ", ".join(text[o] for o in self.info.operands)]).strip()


def encode_slot(slot: Slot) -> int:
    word, shift = 0, 0
    for f in SLOT_FIELDS:
        value = int(getattr(slot, f.name))
        if value not in f.values:
            raise HxdpError(f"slot field {f.name} = {value} does not fit in {f.width} bits ({slot})")
        word |= (value & ((1 << f.width) - 1)) << shift
        shift += f.width
    return word


def decode_slot(word: int) -> Slot:
    values, shift = {}, 0
    for f in SLOT_FIELDS:
        value = (word >> shift) & ((1 << f.width) - 1)
        if f.signed and value >> (f.width - 1):
            value -= 1 << f.width
        values[f.name] = value
        shift += f.width
    try:
        values["op"] = Op(values["op"])
    except ValueError:
        raise HxdpError(f"slot has unknown operation code {values['op']}") from None
    return Slot(**values)


def encode_row(slots: Sequence[Slot], lanes: int) -> int:
    """One bundle: slot i in bits [i*SLOT_BITS, (i+1)*SLOT_BITS); missing slots are nops."""
    if len(slots) > lanes:
        raise HxdpError(f"a bundle of {len(slots)} slots does not fit {lanes} lanes")
    return sum(encode_slot(s) << (i * SLOT_BITS) for i, s in enumerate(slots))


def decode_row(word: int, lanes: int) -> list[Slot]:
    mask = (1 << SLOT_BITS) - 1
    return [decode_slot((word >> (i * SLOT_BITS)) & mask) for i in range(lanes)]


@dataclass(frozen=True)
class Latency:
    """Cycles from issue until a result can be used by the next row that reads it
    (1 = the very next row, through forwarding)."""
    alu: int = 1
    mul: int = 2
    div: int = 34
    load_stack: int = 2
    load_packet: int = 2
    load_map: int = 2
    helper: int = 2
    branch_penalty: int = 1      # rows lost when a row's first branch is taken (its target is read ahead)
    late_branch_penalty: int = 2  # rows lost when a branch in a later lane is taken

    def of(self, info: OpInfo, space: Space | None = None) -> int:
        if info.unit is Unit.MUL:
            return self.mul
        if info.unit is Unit.DIV:
            return self.div
        if info.unit is Unit.HELPER:
            return self.helper
        if info.unit is Unit.LSU:
            by_space = {Space.STACK: self.load_stack, Space.CONTEXT: self.load_stack,
                        Space.PACKET: self.load_packet, Space.MAP: self.load_map}
            return by_space[space] if space else max(by_space.values())
        return self.alu


# The watchdog: a packet still running after this many cycles is aborted
# (the model's and the engine's default; the engine's MAX_CYCLES register).
MAX_CYCLES = 1_000_000

# Dividers in a core: a division occupies one for ``Latency.div`` cycles
# (radix-4, two quotient bits a cycle), so at most one starts in a row.
DIVIDERS = 1

# Multipliers in a core: pipelined, one product started a cycle, shared by
# the lanes (a multiplier a lane took about 650 ECP5 LUTs and 11 DSPs each,
# and another write source for every register), so at most one a row.
MULTIPLIERS = 1

# The engine clock packets a second are figured at, unless a command's
# --clock gives another: the clock the Versa board's engine is built for
# and meets (1 lane; docs/boards.md), so that no figure claims a clock the
# hardware does not reach. (hXDP's published figures are at 156.25 MHz.)
# The Versa's PLL makes it from its 500 MHz VCO over 15.
ENGINE_CLOCK_MHZ = 500 / 15


# Cores an engine may have behind its dispatcher.
MAX_CORES = 16


@dataclass(frozen=True)
class Target:
    """Every parameter of one core (and of the engine around it)."""
    lanes: int = 4
    registers: int = 16
    stack_bytes: int = 512
    imem_rows: int = 512
    load_ports: tuple[frozenset[Space], ...] = (ALL_SPACES, ALL_SPACES)
    store_ports: tuple[frozenset[Space], ...] = (ALL_SPACES,)
    packet_frame_bytes: int = 32
    map_bytes: int = 65536       # on-chip memory holding every map's keys and values
    map_slots: int = 8           # maps a program may have on the engine
    helper_units: int = 1
    branch_slots: int = 4
    latency: Latency = field(default_factory=Latency)
    cores: int = 1
    packet_buffers: int = 2      # a core's packet buffers: the next packet comes in, the last goes out

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.lanes <= 8, f"lanes must be 1 to 8, not {self.lanes}"),
            (11 <= self.registers <= 32, f"registers must be 11 (eBPF's) to 32, not {self.registers}"),
            (0 < self.stack_bytes <= 32768 and self.stack_bytes % 8 == 0,
             f"stack_bytes must be a multiple of 8 up to 32768, not {self.stack_bytes}"),
            (0 < self.imem_rows <= 1 << 15, f"imem_rows must be 1 to 32768, not {self.imem_rows}"),
            (len(self.load_ports) >= 1 and len(self.store_ports) >= 1, "at least one load and one store port"),
            (self.packet_frame_bytes in (8, 16, 32, 64), "packet_frame_bytes must be 8, 16, 32 or 64"),
            (1024 <= self.map_bytes <= 1 << 20 and not self.map_bytes & (self.map_bytes - 1),
             f"map_bytes must be a power of two from 1024 to 1048576, not {self.map_bytes}"),
            (self.map_slots in (1, 2, 4, 8, 16, 32, 64), f"map_slots must be a power of two up to 64, "
             f"not {self.map_slots}"),
            (self.helper_units >= 1, "at least one helper unit"),
            (1 <= self.branch_slots <= self.lanes, f"branch_slots must be 1 to lanes ({self.lanes})"),
            (1 <= self.cores <= MAX_CORES, f"cores must be 1 to {MAX_CORES}, not {self.cores}"),
            (self.packet_buffers in (1, 2, 4), f"packet_buffers must be 1, 2 or 4, not {self.packet_buffers}"),
        ]
        for ok, message in checks:
            if not ok:
                raise HxdpError(f"target: {message}")

    @classmethod
    def with_lanes(cls, lanes: int, **kw) -> "Target":
        """The default target with ``lanes`` lanes, a branch slot in every lane,
        and no more load ports than lanes (a row of one slot loads once)."""
        kw.setdefault("load_ports", cls.load_ports[:lanes])
        return cls(lanes=lanes, branch_slots=lanes, **kw)

    @property
    def row_bits(self) -> int:
        return self.lanes * SLOT_BITS

    def describe(self) -> list[tuple[str, str]]:
        rows = []
        for f in dc_fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_ports"):
                value = "; ".join("+".join(sorted(s.value for s in port)) for port in value)
            elif isinstance(value, Latency):
                value = ", ".join(f"{k.name} {getattr(value, k.name)}" for k in dc_fields(value))
            rows.append((f.name, str(value)))
        rows.append(("bits per slot / row", f"{SLOT_BITS} / {self.row_bits}"))
        return rows


def markdown(target: Target | None = None) -> str:
    """docs/isa.md: the target parameters, the slot layout and every operation."""
    target = target or Target()
    lines = ["# hxdp core: parameters and instruction encoding", "",
             "Generated by `hxdp target --doc` from `hxdp/target.py`; do not edit.", "",
             "## Parameters (defaults)", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in target.describe()]
    lines += ["", f"## Slot layout ({SLOT_BITS} bits, least significant first)", "",
              "| field | bits | width | signed |", "|---|---|---|---|"]
    shift = 0
    for f in SLOT_FIELDS:
        lines.append(f"| {f.name} | {shift + f.width - 1}:{shift} | {f.width} | {'yes' if f.signed else 'no'} |")
        shift += f.width
    lines += ["", "A bundle of N lanes is N slots, slot i at bits "
              f"[{SLOT_BITS}·i, {SLOT_BITS}·(i+1)). Fields an operation does not use are zero.",
              "", "## Operations", "", "| code | name | unit | operands | width | semantics |",
              "|---|---|---|---|---|---|"]
    for op, info in OPS_BY_CODE.items():
        operands = ", ".join(o.value for o in info.operands) or "—"
        lines.append(f"| {int(op)} | `{info.name}` | {info.unit.value} | {operands} | {info.width} | "
                     f"{info.semantics} |")
    return "\n".join(lines) + "\n"


def target_to_dict(target: Target) -> dict:
    """The target as plain data (for image files)."""
    out = {}
    for f in dc_fields(target):
        value = getattr(target, f.name)
        if f.name.endswith("_ports"):
            value = [sorted(s.value for s in port) for port in value]
        elif isinstance(value, Latency):
            value = {k.name: getattr(value, k.name) for k in dc_fields(value)}
        out[f.name] = value
    return out


def target_from_dict(data: dict) -> Target:
    known = {f.name for f in dc_fields(Target)}
    unknown = set(data) - known
    if unknown:
        raise HxdpError(f"target: unknown parameters {', '.join(sorted(unknown))}")
    kw = dict(data)
    for name in ("load_ports", "store_ports"):
        if name in kw:
            kw[name] = tuple(frozenset(Space(s) for s in port) for port in kw[name])
    if "latency" in kw:
        kw["latency"] = Latency(**kw["latency"])
    return Target(**kw)
