"""The eBPF instruction set of RFC 9669, as one table.

Every consumer (decoder, encoder, assembler, disassembler, interpreter, and
later the compiler) reads the same `OPS` table, so an instruction is defined
exactly once: its opcode byte, the fixed values it puts in the ``src``,
``off`` and ``imm`` fields to tell it apart from its neighbours, and the
operand `Form` that says which remaining fields carry operands. Fields that
are neither fixed nor operands are reserved and must be zero.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Iterable

from ..errors import HxdpError

__all__ = [
    "Cls", "Src", "AluOp", "JmpOp", "Size", "Mode", "AtomicOp", "Pseudo", "Form", "Kind",
    "OpSpec", "OPS", "Insn", "DecodeError", "decode", "decode_one", "decode_hex", "encode",
    "lookup", "by_mnemonic", "sign_extend", "SIZE_BYTES", "NUM_REGS", "FRAME_POINTER",
]

NUM_REGS = 11
FRAME_POINTER = 10


class Cls(enum.IntEnum):
    """Instruction class: the low three bits of the opcode."""
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Src(enum.IntEnum):
    """Source bit of arithmetic and jump opcodes."""
    K = 0x00
    X = 0x08


class AluOp(enum.IntEnum):
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class JmpOp(enum.IntEnum):
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0


class Size(enum.IntEnum):
    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


SIZE_BYTES = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}


class Mode(enum.IntEnum):
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class AtomicOp(enum.IntEnum):
    """Values of ``imm`` for atomic instructions."""
    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH_ADD = 0x01
    FETCH_OR = 0x41
    FETCH_AND = 0x51
    FETCH_XOR = 0xA1
    XCHG = 0xE1
    CMPXCHG = 0xF1


class Pseudo(enum.IntEnum):
    """``src`` values of ``lddw`` (64-bit immediate load) and of ``call``."""
    # lddw
    IMM64 = 0
    MAP_FD = 1          # imm: map; dst = map handle
    MAP_VALUE = 2       # imm: map, next imm: offset; dst = address of value + offset
    BTF_ID = 3          # imm: BTF id of a kernel variable
    FUNC = 4            # imm: pc-relative offset of a subprogram
    MAP_IDX = 5         # like MAP_FD, by index into the program's map array
    MAP_IDX_VALUE = 6   # like MAP_VALUE, by index
    # call
    CALL_HELPER = 0
    CALL_LOCAL = 1
    CALL_KFUNC = 2


class Form(enum.Enum):
    """Operand syntax of an instruction, and so which fields are operands.

    The value is the operand syntax, prefixed by the form's name so that no
    two forms share a value.
    """
    ALU_REG = "alu_reg: dst, src"
    ALU_IMM = "alu_imm: dst, imm"
    UNARY = "unary: dst"                        # neg, byte swaps
    LOAD = "load: dst, [src+off]"               # ldx, ldsx
    STORE_IMM = "store_imm: [dst+off], imm"     # st
    STORE_REG = "store_reg: [dst+off], src"     # stx
    ATOMIC = "atomic: [dst+off], src"           # lock ...
    LDDW = "lddw: dst, imm64"                   # two slots
    LD_ABS = "ld_abs: imm"                      # legacy packet load, absolute
    LD_IND = "ld_ind: src, imm"                 # legacy packet load, indirect
    JA = "ja: off"
    JA32 = "ja32: imm"                          # gotol: target in imm
    JUMP_REG = "jump_reg: dst, src, off"
    JUMP_IMM = "jump_imm: dst, imm, off"
    CALL = "call: imm"                          # helper by id
    CALL_LOCAL = "call_local: local imm"        # BPF-to-BPF, imm is pc-relative
    CALL_KFUNC = "call_kfunc: kfunc imm"        # kernel function by BTF id
    CALLX = "callx: dst"                        # call through a register
    EXIT = "exit:"


class Kind(enum.Enum):
    """What the instruction does, for the interpreter and the compiler."""
    ALU = "alu"
    END = "end"          # le/be/bswap
    LOAD = "load"
    STORE = "store"
    ATOMIC = "atomic"
    LDDW = "lddw"
    LD_PACKET = "ld_packet"   # legacy ABS/IND
    JUMP = "jump"
    CALL = "call"
    EXIT = "exit"


FORM_OPERANDS: dict[Form, frozenset[str]] = {
    form: frozenset(fields.split()) for form, fields in {
        Form.ALU_REG: "dst src", Form.ALU_IMM: "dst imm", Form.UNARY: "dst",
        Form.LOAD: "dst src off", Form.STORE_IMM: "dst off imm", Form.STORE_REG: "dst src off",
        Form.ATOMIC: "dst src off", Form.LDDW: "dst src imm", Form.LD_ABS: "imm",
        Form.LD_IND: "src imm", Form.JA: "off", Form.JA32: "imm", Form.JUMP_REG: "dst src off",
        Form.JUMP_IMM: "dst imm off", Form.CALL: "imm", Form.CALL_LOCAL: "imm",
        Form.CALL_KFUNC: "imm", Form.CALLX: "dst", Form.EXIT: "",
    }.items()
}

# Which field tells apart the entries that share an opcode.
_DISCRIMINANT = {Kind.CALL: "src", Kind.ALU: "off", Kind.END: "imm", Kind.ATOMIC: "imm"}


@dataclass(frozen=True)
class OpSpec:
    """One instruction of the table.

    ``src``, ``off`` and ``imm`` are the values fixed by the instruction
    itself (None when the field is an operand or reserved). ``width`` is the
    operation width in bits (32/64) for ALU and jumps, the access size in
    bytes for memory instructions, the swap width for byte swaps.
    """
    mnemonic: str
    opcode: int
    form: Form
    kind: Kind
    src: int | None = None
    off: int | None = None
    imm: int | None = None
    width: int = 64
    signed: bool = False

    @property
    def cls(self) -> Cls:
        return Cls(self.opcode & 0x07)

    @property
    def op(self) -> int:
        """The operation bits (ALU op, jump op, atomic op or load mode)."""
        if self.kind is Kind.ATOMIC:
            return self.imm
        if self.cls in (Cls.ALU, Cls.ALU64, Cls.JMP, Cls.JMP32):
            return self.opcode & 0xF0
        return self.opcode & 0xE0

    @property
    def operands(self) -> frozenset[str]:
        """The fields (of dst, src, off, imm) that carry operands."""
        return FORM_OPERANDS[self.form]

    @property
    def slots(self) -> int:
        return 2 if self.form is Form.LDDW else 1


def _build() -> list[OpSpec]:
    ops: list[OpSpec] = []
    alu_names = {
        AluOp.ADD: "add", AluOp.SUB: "sub", AluOp.MUL: "mul", AluOp.DIV: "div",
        AluOp.OR: "or", AluOp.AND: "and", AluOp.LSH: "lsh", AluOp.RSH: "rsh",
        AluOp.MOD: "mod", AluOp.XOR: "xor", AluOp.MOV: "mov", AluOp.ARSH: "arsh",
    }
    for cls, suffix, width in ((Cls.ALU64, "", 64), (Cls.ALU, "32", 32)):
        for op, name in alu_names.items():
            for src, form in ((Src.X, Form.ALU_REG), (Src.K, Form.ALU_IMM)):
                ops.append(OpSpec(name + suffix, op | src | cls, form, Kind.ALU, off=0, width=width))
        for op, name in ((AluOp.DIV, "sdiv"), (AluOp.MOD, "smod")):
            for src, form in ((Src.X, Form.ALU_REG), (Src.K, Form.ALU_IMM)):
                ops.append(OpSpec(name + suffix, op | src | cls, form, Kind.ALU, off=1,
                                  width=width, signed=True))
        ops.append(OpSpec("neg" + suffix, AluOp.NEG | Src.K | cls, Form.UNARY, Kind.ALU,
                          src=0, off=0, imm=0, width=width))
    # Sign-extending moves: off gives the source width.
    for bits in (8, 16, 32):
        ops.append(OpSpec(f"movsx{bits}64", AluOp.MOV | Src.X | Cls.ALU64, Form.ALU_REG, Kind.ALU,
                          off=bits, width=64, signed=True))
        if bits < 32:
            ops.append(OpSpec(f"movsx{bits}32", AluOp.MOV | Src.X | Cls.ALU, Form.ALU_REG, Kind.ALU,
                              off=bits, width=32, signed=True))
    # Byte order: le/be convert from host (little endian) order; bswap always swaps.
    for bits in (16, 32, 64):
        ops.append(OpSpec(f"le{bits}", AluOp.END | Src.K | Cls.ALU, Form.UNARY, Kind.END,
                          src=0, off=0, imm=bits, width=bits))
        ops.append(OpSpec(f"be{bits}", AluOp.END | Src.X | Cls.ALU, Form.UNARY, Kind.END,
                          src=0, off=0, imm=bits, width=bits))
        ops.append(OpSpec(f"bswap{bits}", AluOp.END | Src.K | Cls.ALU64, Form.UNARY, Kind.END,
                          src=0, off=0, imm=bits, width=bits))

    size_names = {Size.B: "b", Size.H: "h", Size.W: "w", Size.DW: "dw"}
    for size, sn in size_names.items():
        nbytes = SIZE_BYTES[size]
        ops.append(OpSpec(f"ldx{sn}", Mode.MEM | size | Cls.LDX, Form.LOAD, Kind.LOAD, imm=0, width=nbytes))
        if size != Size.DW:
            ops.append(OpSpec(f"ldxs{sn}", Mode.MEMSX | size | Cls.LDX, Form.LOAD, Kind.LOAD,
                              imm=0, width=nbytes, signed=True))
        ops.append(OpSpec(f"st{sn}", Mode.MEM | size | Cls.ST, Form.STORE_IMM, Kind.STORE, src=0, width=nbytes))
        ops.append(OpSpec(f"stx{sn}", Mode.MEM | size | Cls.STX, Form.STORE_REG, Kind.STORE, imm=0, width=nbytes))
        if size != Size.DW:
            ops.append(OpSpec(f"ldabs{sn}", Mode.ABS | size | Cls.LD, Form.LD_ABS, Kind.LD_PACKET,
                              src=0, off=0, width=nbytes))
            ops.append(OpSpec(f"ldind{sn}", Mode.IND | size | Cls.LD, Form.LD_IND, Kind.LD_PACKET,
                              off=0, width=nbytes))

    atomic_names = {
        AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor",
        AtomicOp.FETCH_ADD: "fetch add", AtomicOp.FETCH_OR: "fetch or",
        AtomicOp.FETCH_AND: "fetch and", AtomicOp.FETCH_XOR: "fetch xor",
        AtomicOp.XCHG: "xchg", AtomicOp.CMPXCHG: "cmpxchg",
    }
    for size, suffix in ((Size.DW, ""), (Size.W, "32")):
        for aop, name in atomic_names.items():
            ops.append(OpSpec(f"lock {name}{suffix}", Mode.ATOMIC | size | Cls.STX, Form.ATOMIC,
                              Kind.ATOMIC, imm=aop, width=SIZE_BYTES[size]))

    ops.append(OpSpec("lddw", Mode.IMM | Size.DW | Cls.LD, Form.LDDW, Kind.LDDW, off=0))

    jump_names = {
        JmpOp.JEQ: ("jeq", False), JmpOp.JGT: ("jgt", False), JmpOp.JGE: ("jge", False),
        JmpOp.JSET: ("jset", False), JmpOp.JNE: ("jne", False), JmpOp.JSGT: ("jsgt", True),
        JmpOp.JSGE: ("jsge", True), JmpOp.JLT: ("jlt", False), JmpOp.JLE: ("jle", False),
        JmpOp.JSLT: ("jslt", True), JmpOp.JSLE: ("jsle", True),
    }
    ops.append(OpSpec("ja", JmpOp.JA | Src.K | Cls.JMP, Form.JA, Kind.JUMP, src=0, imm=0))
    ops.append(OpSpec("ja32", JmpOp.JA | Src.K | Cls.JMP32, Form.JA32, Kind.JUMP, src=0, off=0))
    for cls, suffix, width in ((Cls.JMP, "", 64), (Cls.JMP32, "32", 32)):
        for op, (name, signed) in jump_names.items():
            ops.append(OpSpec(name + suffix, op | Src.X | cls, Form.JUMP_REG, Kind.JUMP, imm=0,
                              width=width, signed=signed))
            ops.append(OpSpec(name + suffix, op | Src.K | cls, Form.JUMP_IMM, Kind.JUMP, src=0,
                              width=width, signed=signed))
    call = JmpOp.CALL | Src.K | Cls.JMP
    ops.append(OpSpec("call", call, Form.CALL, Kind.CALL, src=Pseudo.CALL_HELPER, off=0))
    ops.append(OpSpec("call", call, Form.CALL_LOCAL, Kind.CALL, src=Pseudo.CALL_LOCAL, off=0))
    ops.append(OpSpec("call", call, Form.CALL_KFUNC, Kind.CALL, src=Pseudo.CALL_KFUNC, off=0))
    ops.append(OpSpec("callx", JmpOp.CALL | Src.X | Cls.JMP, Form.CALLX, Kind.CALL, src=0, off=0, imm=0))
    ops.append(OpSpec("exit", JmpOp.EXIT | Src.K | Cls.JMP, Form.EXIT, Kind.EXIT, src=0, off=0, imm=0))
    return ops


OPS: tuple[OpSpec, ...] = tuple(_build())

_BY_OPCODE: dict[int, list[OpSpec]] = {}
for _spec in OPS:
    _BY_OPCODE.setdefault(_spec.opcode, []).append(_spec)

_BY_MNEMONIC: dict[str, list[OpSpec]] = {}
for _spec in OPS:
    _BY_MNEMONIC.setdefault(_spec.mnemonic, []).append(_spec)


def by_mnemonic(mnemonic: str) -> list[OpSpec]:
    """All table entries spelled ``mnemonic`` (register and immediate forms)."""
    return _BY_MNEMONIC.get(mnemonic, [])


class DecodeError(HxdpError):
    """A slot that is not a valid instruction; ``pc`` names the slot."""

    def __init__(self, pc: int, message: str):
        super().__init__(f"instruction {pc}: {message}")
        self.pc = pc
        self.reason = message


@dataclass(frozen=True)
class Insn:
    """One decoded instruction.

    ``imm`` is sign-extended from 32 bits, except for ``lddw`` where it holds
    the full 64-bit constant (unsigned) assembled from both slots. ``pc`` is
    the slot index of the instruction in its program.
    """
    spec: OpSpec
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    pc: int = 0

    @property
    def opcode(self) -> int:
        return self.spec.opcode

    @property
    def mnemonic(self) -> str:
        return self.spec.mnemonic

    @property
    def slots(self) -> int:
        return self.spec.slots

    @property
    def jump_target(self) -> int | None:
        """The pc a jump goes to, or None for other instructions."""
        form = self.spec.form
        if form in (Form.JA, Form.JUMP_REG, Form.JUMP_IMM):
            return self.pc + 1 + self.off
        if form is Form.JA32:
            return self.pc + 1 + self.imm
        return None

    @property
    def call_target(self) -> int | None:
        """The pc a BPF-to-BPF call goes to, or None."""
        return self.pc + 1 + self.imm if self.spec.form is Form.CALL_LOCAL else None

    def __str__(self) -> str:
        from .disasm import format_insn
        return format_insn(self)


_SLOT = struct.Struct("<BBhi")


def _slot_fields(raw: bytes, pc: int) -> tuple[int, int, int, int, int]:
    opcode, regs, off, imm = _SLOT.unpack(raw)
    return opcode, regs & 0x0F, regs >> 4, off, imm


def lookup(opcode: int, src: int, off: int, imm: int, pc: int = 0) -> OpSpec:
    """The table entry for a slot's fields, or DecodeError."""
    candidates = _BY_OPCODE.get(opcode)
    if not candidates:
        raise DecodeError(pc, f"unknown opcode 0x{opcode:02x}")
    if len(candidates) == 1:
        return candidates[0]
    field = _DISCRIMINANT[candidates[0].kind]
    value = {"src": src, "off": off, "imm": imm}[field]
    for spec in candidates:
        if getattr(spec, field) == value:
            return spec
    raise DecodeError(pc, f"opcode 0x{opcode:02x} ({candidates[0].mnemonic}) has no variant "
                          f"with {field} {value}")


def _check_fields(spec: OpSpec, dst: int, src: int, off: int, imm: int, pc: int) -> None:
    """Reject non-zero reserved fields and out-of-range registers."""
    for field, value in (("dst", dst), ("src", src), ("off", off), ("imm", imm)):
        if field in spec.operands:
            continue
        fixed = getattr(spec, field, None) or 0
        if value != fixed:
            raise DecodeError(pc, f"{spec.mnemonic}: field {field} must be {fixed}, is {value}")
    for field, value in (("dst", dst), ("src", src)):
        is_register = field in spec.operands and not (spec.form is Form.LDDW and field == "src")
        if is_register and value >= NUM_REGS:
            raise DecodeError(pc, f"{spec.mnemonic}: no register r{value} (r0-r10 exist)")


def decode_one(raw: bytes, pc: int = 0, next_raw: bytes | None = None) -> Insn:
    """Decode the instruction whose first slot is ``raw``."""
    opcode, dst, src, off, imm = _slot_fields(raw, pc)
    spec = lookup(opcode, src, off, imm, pc)
    _check_fields(spec, dst, src, off, imm, pc)
    if spec.form is Form.LDDW:
        if next_raw is None:
            raise DecodeError(pc, "lddw is missing its second slot")
        op2, dst2, src2, off2, imm2 = _slot_fields(next_raw, pc + 1)
        if op2 or dst2 or src2 or off2:
            raise DecodeError(pc + 1, "second slot of lddw must have only imm set")
        if src not in (Pseudo.IMM64, Pseudo.MAP_FD, Pseudo.MAP_VALUE, Pseudo.BTF_ID,
                       Pseudo.FUNC, Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE):
            raise DecodeError(pc, f"lddw with unknown source {src}")
        imm = (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32)
    return Insn(spec, dst, src, off, imm, pc)


def decode(code: bytes) -> list[Insn]:
    """Decode a whole program. ``lddw`` takes two slots; pcs count slots."""
    if len(code) % 8:
        raise DecodeError(len(code) // 8, f"program length {len(code)} is not a multiple of 8 bytes")
    insns: list[Insn] = []
    pc = 0
    nslots = len(code) // 8
    while pc < nslots:
        raw = code[pc * 8:pc * 8 + 8]
        nxt = code[pc * 8 + 8:pc * 8 + 16] if pc + 1 < nslots else None
        insn = decode_one(raw, pc, nxt)
        insns.append(insn)
        pc += insn.slots
    return insns


def decode_hex(text: str, name: str) -> list[Insn]:
    """A program written as hex bytes (whitespace and a leading ``0x``
    ignored), as files and the conformance plugin protocol give it; its
    faults are named by ``name``, the file or stream it came from."""
    digits = "".join(text.split())
    if digits.lower().startswith("0x"):
        digits = digits[2:]
    try:
        code = bytes.fromhex(digits)
    except ValueError:
        raise HxdpError(f"{name}: expected hex bytes of a program") from None
    if not code:
        raise HxdpError(f"{name}: no instructions")
    try:
        return decode(code)
    except DecodeError as err:
        raise HxdpError(f"{name}: {err}") from None


def _pack(opcode: int, dst: int, src: int, off: int, imm: int) -> bytes:
    return _SLOT.pack(opcode, (src << 4) | dst, off, imm)


def encode(insns: Iterable[Insn]) -> bytes:
    """The program bytes of ``insns`` (inverse of `decode`)."""
    out = bytearray()
    for insn in insns:
        if insn.spec.form is Form.LDDW:
            lo = insn.imm & 0xFFFFFFFF
            hi = (insn.imm >> 32) & 0xFFFFFFFF
            out += _pack(insn.opcode, insn.dst, insn.src, 0, sign_extend(lo, 32))
            out += _pack(0, 0, 0, 0, sign_extend(hi, 32))
        else:
            out += _pack(insn.opcode, insn.dst, insn.src, insn.off, sign_extend(insn.imm, 32))
    return bytes(out)


def sign_extend(value: int, bits: int) -> int:
    """``value``'s low ``bits`` bits as a signed number."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value

