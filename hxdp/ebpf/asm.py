"""Assembler for the eBPF syntax of the conformance suite.

``mov %r0, 1``, ``ldxw %r1, [%r2+4]``, ``jeq %r1, 0x10, label``,
``lock fetch add [%r10-8], %r1``, ``call local func``, ``call %r2``... Every
mnemonic is looked up in `hxdp.ebpf.isa.OPS`; this module only parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import HxdpError
from .isa import NUM_REGS, OPS, Form, Insn, OpSpec, Pseudo, by_mnemonic, encode

__all__ = ["AsmError", "assemble", "assemble_hex"]


class AsmError(HxdpError):
    """Malformed assembly; the message names file:line."""


# 64-bit ALU mnemonics also accept an explicit "64" suffix (add64, mov64...).
_ALIASES = {spec.mnemonic + "64": spec.mnemonic for spec in OPS
            if spec.form in (Form.ALU_REG, Form.ALU_IMM, Form.UNARY) and spec.width == 64
            and spec.mnemonic.isalpha()}
_ALIASES.update({f"swap{bits}": f"bswap{bits}" for bits in (16, 32, 64)})

_MEM = re.compile(r"^\[\s*%?(r\d+)\s*(?:([+-])\s*(\w+))?\s*\]$")
_REG = re.compile(r"^%?(r\d+)$")


@dataclass
class _Line:
    number: int
    mnemonic: str
    operands: list[str]


def _split(text: str) -> tuple[list[_Line], dict[str, int]]:
    """Parse lines into instructions and record label positions (in instructions)."""
    lines: list[_Line] = []
    labels: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split("//", 1)[0].strip()
        while line:
            m = re.match(r"^([A-Za-z_.$][\w.$]*):\s*", line)
            if not m:
                break
            labels[m.group(1)] = len(lines)
            line = line[m.end():]
        if not line:
            continue
        parts = line.split(None, 1)
        mnemonic = parts[0].lower()
        rest = parts[1] if len(parts) > 1 else ""
        if mnemonic == "lock":
            words = rest.split(None, 2)
            if words and words[0].lower() == "fetch" and len(words) > 1:
                mnemonic = f"lock fetch {words[1].lower()}"
                rest = words[2] if len(words) > 2 else ""
            elif words:
                mnemonic = f"lock {words[0].lower()}"
                rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
            else:
                mnemonic = "lock"
        operands = [o.strip() for o in _split_operands(rest)] if rest.strip() else []
        lines.append(_Line(number, mnemonic, operands))
    return lines, labels


def _split_operands(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


class _Assembler:
    def __init__(self, text: str, filename: str):
        self.filename = filename
        self.lines, self.labels = _split(text)
        # pc (slot) of each instruction, and of each label
        self.pcs: list[int] = []
        self.line: _Line | None = None
        self.exit_pcs: list[int] = []

    def error(self, message: str) -> AsmError:
        where = f"{self.filename}:{self.line.number}" if self.line else self.filename
        return AsmError(f"{where}: {message}")

    def run(self) -> list[Insn]:
        specs: list[tuple[_Line, OpSpec]] = []
        pc = 0
        for line in self.lines:
            self.line = line
            spec = self.choose(line)
            specs.append((line, spec))
            self.pcs.append(pc)
            pc += spec.slots
        self.pcs.append(pc)
        self.exit_pcs = [p for (_, spec), p in zip(specs, self.pcs) if spec.form is Form.EXIT]
        label_pcs = {name: self.pcs[index] for name, index in self.labels.items()}
        insns = []
        for (line, spec), pc in zip(specs, self.pcs):
            self.line = line
            insns.append(self.build(spec, line.operands, pc, label_pcs))
        self.line = None
        if not insns:
            raise self.error("no instructions")
        return insns

    def choose(self, line: _Line) -> OpSpec:
        name = _ALIASES.get(line.mnemonic, line.mnemonic)
        specs = by_mnemonic(name)
        if not specs:
            if line.mnemonic == "lock":
                raise self.error("invalid number of operands for lock: expected "
                                 "'lock [fetch] OP [%rD+OFF], %rS'")
            raise self.error(f"unknown mnemonic {line.mnemonic!r}")
        ops = line.operands
        if name == "call":
            if ops and ops[0].lower().startswith("local"):
                return next(s for s in specs if s.form is Form.CALL_LOCAL)
            if ops and ops[0].lower().startswith("kfunc"):
                return next(s for s in specs if s.form is Form.CALL_KFUNC)
            if len(ops) == 1 and _REG.match(ops[0]):
                return by_mnemonic("callx")[0]
            return next(s for s in specs if s.form is Form.CALL)
        if len(specs) == 1:
            return specs[0]
        # Register and immediate variants: the operand that differs decides.
        position = {Form.ALU_REG: 1, Form.JUMP_REG: 1}
        reg_spec = next((s for s in specs if s.form in position), None)
        imm_spec = next((s for s in specs if s.form in (Form.ALU_IMM, Form.JUMP_IMM)), None)
        if reg_spec and imm_spec:
            if len(ops) > 1 and _REG.match(ops[1]):
                return reg_spec
            return imm_spec
        return specs[0]

    def expect(self, spec: OpSpec, ops: list[str], count: int, shape: str) -> None:
        if len(ops) != count:
            raise self.error(f"{spec.mnemonic} takes {count} operand{'s' if count != 1 else ''} "
                             f"({spec.mnemonic} {shape}), got {len(ops)}")

    def reg(self, text: str) -> int:
        m = _REG.match(text.strip().lower())
        if not m:
            raise self.error(f"expected a register like %r1, got {text!r}")
        n = int(m.group(1)[1:])
        if n >= NUM_REGS:
            raise self.error(f"invalid register {text!r}: registers are %r0-%r10")
        return n

    def number(self, text: str, bits: int, what: str, signed_only: bool = False) -> int:
        try:
            value = int(text.strip(), 0)
        except ValueError:
            raise self.error(f"expected a number for the {what}, got {text!r}") from None
        lo = -(1 << (bits - 1))
        hi = (1 << (bits - 1)) - 1 if signed_only else (1 << bits) - 1
        if not lo <= value <= hi:
            raise self.error(f"{what} {text} does not fit in {bits} bits")
        if value > (1 << (bits - 1)) - 1:
            value -= 1 << bits
        return value

    def imm32(self, text: str) -> int:
        # Decimal immediates are signed 32-bit; hex may spell the unsigned pattern.
        text = text.strip()
        is_hex = text.lower().lstrip("-").startswith("0x")
        return self.number(text, 32, "immediate", signed_only=not is_hex)

    def memory(self, text: str) -> tuple[int, int]:
        m = _MEM.match(text.strip().lower())
        if not m:
            raise self.error(f"expected a memory operand like [%r1+8], got {text!r}")
        reg = self.reg(m.group(1))
        off = 0
        if m.group(3):
            off = self.number(m.group(2) + m.group(3), 16, "offset", signed_only=True)
        return reg, off

    def target(self, text: str, pc: int, labels: dict[str, int], bits: int) -> int:
        """A jump target (label or signed offset) as an offset from pc+1."""
        text = text.strip()
        if text in labels:
            value = labels[text] - (pc + 1)
        elif text == "exit" and self.exit_pcs:
            # "exit" without such a label means the next exit instruction.
            value = next((p for p in self.exit_pcs if p > pc), self.exit_pcs[-1]) - (pc + 1)
        elif re.match(r"^[+-]?(0x[0-9a-fA-F]+|\d+)$", text):
            value = int(text, 0)
        else:
            raise self.error(f"unknown label {text!r}")
        if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise self.error(f"jump to {text} is out of range for a {bits}-bit offset")
        return value

    def build(self, spec: OpSpec, ops: list[str], pc: int, labels: dict[str, int]) -> Insn:
        f = spec.form
        fixed = dict(src=spec.src or 0, off=spec.off or 0, imm=spec.imm or 0)
        if f is Form.ALU_REG:
            self.expect(spec, ops, 2, "%rD, %rS")
            return Insn(spec, self.reg(ops[0]), self.reg(ops[1]), fixed["off"], 0, pc)
        if f is Form.ALU_IMM:
            self.expect(spec, ops, 2, "%rD, IMM")
            return Insn(spec, self.reg(ops[0]), 0, fixed["off"], self.imm32(ops[1]), pc)
        if f is Form.UNARY:
            self.expect(spec, ops, 1, "%rD")
            return Insn(spec, self.reg(ops[0]), 0, 0, fixed["imm"], pc)
        if f is Form.LOAD:
            self.expect(spec, ops, 2, "%rD, [%rS+OFF]")
            src, off = self.memory(ops[1])
            return Insn(spec, self.reg(ops[0]), src, off, 0, pc)
        if f is Form.STORE_IMM:
            self.expect(spec, ops, 2, "[%rD+OFF], IMM")
            dst, off = self.memory(ops[0])
            return Insn(spec, dst, 0, off, self.imm32(ops[1]), pc)
        if f in (Form.STORE_REG, Form.ATOMIC):
            self.expect(spec, ops, 2, "[%rD+OFF], %rS")
            dst, off = self.memory(ops[0])
            return Insn(spec, dst, self.reg(ops[1]), off, fixed["imm"], pc)
        if f is Form.LDDW:
            self.expect(spec, ops, 2, "%rD, IMM64")
            value = self.number(ops[1], 64, "64-bit immediate")
            return Insn(spec, self.reg(ops[0]), Pseudo.IMM64, 0, value & ((1 << 64) - 1), pc)
        if f is Form.LD_ABS:
            self.expect(spec, ops, 1, "IMM")
            return Insn(spec, 0, 0, 0, self.imm32(ops[0]), pc)
        if f is Form.LD_IND:
            self.expect(spec, ops, 2, "%rS, IMM")
            return Insn(spec, 0, self.reg(ops[0]), 0, self.imm32(ops[1]), pc)
        if f is Form.JA:
            self.expect(spec, ops, 1, "TARGET")
            return Insn(spec, 0, 0, self.target(ops[0], pc, labels, 16), 0, pc)
        if f is Form.JA32:
            self.expect(spec, ops, 1, "TARGET")
            return Insn(spec, 0, 0, 0, self.target(ops[0], pc, labels, 32), pc)
        if f is Form.JUMP_REG:
            self.expect(spec, ops, 3, "%rD, %rS, TARGET")
            return Insn(spec, self.reg(ops[0]), self.reg(ops[1]),
                        self.target(ops[2], pc, labels, 16), 0, pc)
        if f is Form.JUMP_IMM:
            self.expect(spec, ops, 3, "%rD, IMM, TARGET")
            return Insn(spec, self.reg(ops[0]), 0, self.target(ops[2], pc, labels, 16),
                        self.imm32(ops[1]), pc)
        if f is Form.CALL:
            self.expect(spec, ops, 1, "HELPER_ID")
            return Insn(spec, 0, spec.src, 0, self.imm32(ops[0]), pc)
        if f in (Form.CALL_LOCAL, Form.CALL_KFUNC):
            words = " ".join(ops).split(None, 1)
            if len(ops) != 1 or len(words) != 2:
                raise self.error(f"call {words[0] if words else 'local'} takes one target")
            if f is Form.CALL_LOCAL:
                return Insn(spec, 0, spec.src, 0, self.target(words[1], pc, labels, 32), pc)
            return Insn(spec, 0, spec.src, 0, self.imm32(words[1]), pc)
        if f is Form.CALLX:
            self.expect(spec, ops, 1, "%rD")
            return Insn(spec, self.reg(ops[0]), 0, 0, 0, pc)
        if f is Form.EXIT:
            self.expect(spec, ops, 0, "")
            return Insn(spec, 0, 0, 0, 0, pc)
        raise self.error(f"cannot assemble form {f}")


def assemble(text: str, filename: str = "<stdin>") -> list[Insn]:
    """Instructions of an assembly listing; AsmError names file:line on bad input."""
    return _Assembler(text, filename).run()


def assemble_hex(text: str, filename: str = "<stdin>") -> str:
    """The program bytes of ``text`` as one line of hex."""
    return encode(assemble(text, filename)).hex()
