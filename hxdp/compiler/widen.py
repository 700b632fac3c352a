"""Wide accesses: byte loads joined by shifts and ors, and stores of the
pieces of a value to adjacent bytes, merged into one 2-, 4-, 6- or 8-byte
load or store.

clang splits unaligned packet fields and copies of 6-byte MAC addresses
into byte loads, shifts and ors, and into byte stores of shifted values:
a dozen operations in a chain for what one ld6 and one st6 do. Within a
block this pass follows where each byte of every register comes from (a
byte of memory, a byte of a register's earlier value, or a constant)
through loads, shifts by whole bytes, ors of disjoint bytes, byte masks
and moves. An or whose result is adjacent memory bytes becomes one load;
stores that fill adjacent bytes with one register's low bytes, with
constants (as one store of an immediate) or with adjacent memory bytes
(after one new load) become one store.

A merged access happens where the last of its parts did, so nothing in
between may touch the same bytes, call a helper, or write memory that
outlives a fault. So stores merge only in the packet and the stack (a
packet that faults shows neither); loads merge there and in map values
(a map's bytes copied into the packet), and each merged load faults
exactly when one of the loads it replaces would have.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ..target import Op, Space, Unit
from .cfg import Cfg
from .dce import sweep_block
from .liveness import liveness
from .mir import MIR, VIRTUAL_BASE, MOp, defs, is_load, uses

__all__ = ["widen_accesses"]

WIDTHS = (2, 4, 6, 8)
# Stores merge, and writes may lie between a merged access's parts, in the
# memories a faulting packet leaves no trace in; loads merge in the maps too.
MERGEABLE = (Space.STACK, Space.PACKET)
LOADABLE = MERGEABLE + (Space.MAP,)
M32 = (1 << 32) - 1
M64 = (1 << 64) - 1


@dataclass(frozen=True)
class MemByte:
    """A byte of memory: ``offset`` from the ``version``-th value of register
    ``base``, read by the load at position ``at``."""
    base: int
    version: int
    offset: int
    space: Space
    at: int


@dataclass(frozen=True)
class RegByte:
    """Byte ``index`` of the ``version``-th value of register ``reg``."""
    reg: int
    version: int
    index: int


Byte = MemByte | RegByte | int | None    # int: a constant byte, None: a byte known to be zero
Bytes = tuple[Byte, ...]                 # eight, least significant first
ZEROS: Bytes = (None,) * 8

_LOADS = {Op.LD1: 1, Op.LD2: 2, Op.LD4: 4, Op.LD6: 6, Op.LD8: 8}
_LOAD_OF = {n: op for op, n in _LOADS.items()}
_STORES = {Op.ST1: 1, Op.ST2: 2, Op.ST4: 4, Op.ST6: 6, Op.ST8: 8}
_STORE_OF = {n: op for op, n in _STORES.items()}
_STORE_IMMS = {Op.ST1I: 1, Op.ST2I: 2, Op.ST4I: 4, Op.ST6I: 6, Op.ST8I: 8}
_STORE_IMM_OF = {n: op for op, n in _STORE_IMMS.items()}
_ORS = (Op.OR, Op.OR32)


def _narrow(value: Bytes, width: int) -> Bytes:
    """``value`` cut to ``width`` bytes, zero above."""
    return value[:width] + ZEROS[width:]


def _constant(value: int) -> Bytes:
    return tuple((value >> (8 * i)) & 0xFF or None for i in range(8))


def _store_imm(parts: Bytes) -> int | None:
    """The immediate a store of ``parts`` takes (sign-extended from 32
    bits), if they are constant bytes it can write."""
    if not all(b is None or isinstance(b, int) for b in parts):
        return None
    value = sum((b or 0) << (8 * i) for i, b in enumerate(parts))
    imm = value - (1 << 8 * len(parts)) if value >> (8 * len(parts) - 1) else value
    return imm if -(1 << 31) <= imm < 1 << 31 else None


def _mask(imm: int) -> list[bool] | None:
    """Which bytes an and-mask keeps, if it keeps or clears whole bytes."""
    kept = [(imm >> (8 * i)) & 0xFF for i in range(8)]
    return [k == 0xFF for k in kept] if all(k in (0, 0xFF) for k in kept) else None


class _Block:
    """One block rewritten left to right."""

    def __init__(self, fresh: list[int]):
        self.fresh = fresh                              # the next free virtual register
        self.version: dict[int, int] = defaultdict(int)
        self.known: dict[int, Bytes] = {}
        self.out: list[MOp | None] = []
        self.access: dict[int, tuple[int, int]] = {}   # position -> (base register, its version)
        self.covered: set[int] = set()                  # loads a wider load now reads for
        self.pending: dict[tuple[int, int, Space], list[int]] = defaultdict(list)
        self.stored: dict[int, Bytes] = {}              # position of a store -> the bytes it writes
        self.changed = 0

    def value(self, r: int) -> Bytes:
        return self.known.get(r) or tuple(RegByte(r, self.version[r], i) for i in range(8))

    # -- what an operation computes, byte by byte --------------------------

    def result(self, m: MOp, at: int) -> Bytes | None:
        op, info = m.op, m.info
        width = 4 if info.width == 32 else 8
        if op in _LOADS and m.space in LOADABLE:
            n = _LOADS[op]
            return tuple(MemByte(m.a, self.version[m.a], m.off + i, m.space, at) for i in range(n)) + ZEROS[n:]
        if op in (Op.MOV, Op.MOV32, Op.ZEXT16, Op.ZEXT32, Op.ZEXT64):
            keep = {Op.ZEXT16: 2, Op.ZEXT32: 4, Op.ZEXT64: 8}.get(op, width)
            return _narrow(self.value(m.a), keep)
        if op in (Op.MOVI, Op.MOV32I):
            return _constant(m.imm & (M64 if op is Op.MOVI else M32))
        if op in (Op.LSHI, Op.LSH32I, Op.RSHI, Op.RSH32I) and m.imm % 8 == 0 and 0 <= m.imm < 8 * width:
            src, k = _narrow(self.value(m.a), width)[:width], m.imm // 8
            moved = ZEROS[:k] + src[:width - k] if op in (Op.LSHI, Op.LSH32I) else src[k:] + ZEROS[:k]
            return _narrow(moved, width)
        if op in (Op.ANDI, Op.AND32I):
            keep = _mask(m.imm & (M32 if width == 4 else M64))
            if keep is not None:
                src = _narrow(self.value(m.a), width)
                return tuple(b if k else None for b, k in zip(src, keep))
        if op in _ORS:
            x, y = _narrow(self.value(m.a), width), _narrow(self.value(m.b), width)
            if all(p is None or q is None for p, q in zip(x, y)):
                return tuple(p if q is None else q for p, q in zip(x, y))
        return None

    # -- whether an access may move past what lies between ----------------

    def _may_touch(self, p: int, space: Space, base: tuple[int, int], lo: int, n: int) -> bool:
        m = self.out[p]
        if m.space is None:
            return True
        if m.space is not space:
            return False
        if self.access[p] != base:
            return True
        return m.off < lo + n and lo < m.off + m.info.width

    def quiet(self, since: int, space: Space, base: tuple[int, int], lo: int, n: int,
              *, reads: bool) -> bool:
        """Nothing after position ``since`` calls a helper, writes memory a
        fault would leave visible, or writes (with ``reads``, also reads) any
        of the ``n`` bytes at ``base`` + ``lo``."""
        for p in range(since + 1, len(self.out)):
            m = self.out[p]
            if m is None or m.op is None:
                continue
            if m.info.unit is Unit.HELPER:
                return False
            if m.info.writes_memory and (m.space not in MERGEABLE or self._may_touch(p, space, base, lo, n)):
                return False
            if reads and m.info.reads_memory and self._may_touch(p, space, base, lo, n):
                return False
        return True

    def adjacent_memory(self, parts: Bytes) -> MemByte | None:
        """The first byte, if ``parts`` are adjacent bytes of memory that a
        load placed here would still read."""
        first = parts[0]
        if not isinstance(first, MemByte) or self.version[first.base] != first.version:
            return None
        for i, b in enumerate(parts):
            if not (isinstance(b, MemByte) and (b.base, b.version, b.space) == (first.base, first.version, first.space)
                    and b.offset == first.offset + i):
                return None
        since = min(b.at for b in parts)
        if not self.quiet(since, first.space, (first.base, first.version), first.offset, len(parts), reads=False):
            return None
        return first

    # -- the rewrites -----------------------------------------------------

    def emit(self, m: MOp) -> int:
        at = len(self.out)
        if m.op is not None and m.info.unit is Unit.LSU:
            self.access[at] = (m.a, self.version[m.a])
        value = None if m.op is None else self.result(m, at)
        self.out.append(m)
        for r in defs(m):
            self.version[r] += 1
            self.known.pop(r, None)
        if value is not None:
            self.known[m.dst] = value
        return at

    def load_or(self, m: MOp) -> bool:
        """An or of adjacent memory bytes: one load instead."""
        value = self.result(m, len(self.out))
        if value is None:
            return False
        n = next((i for i, b in enumerate(value) if b is None), 8)
        if n not in WIDTHS or any(value[n:]):
            return False
        first = self.adjacent_memory(value[:n])
        if first is None:
            return False
        self.covered |= {b.at for b in value[:n]}
        origin = tuple(sorted(set(m.origin) | {pc for b in value[:n] for pc in self.out[b.at].origin}))
        self.emit(MOp(_LOAD_OF[n], m.dst, a=first.base, off=first.offset, space=first.space, origin=origin))
        return True

    def store(self, m: MOp) -> None:
        """Record a store, merging it with earlier ones next to it: the
        widest run of adjacent pending stores through it that can merge."""
        at = self.emit(m)
        self.stored[at] = (_constant(m.imm & M64) if m.op in _STORE_IMMS else self.value(m.b))[:m.info.width]
        group = self.pending[(m.a, self.version[m.a], m.space)]
        lo, hi = m.off, m.off + m.info.width
        group[:] = [p for p in group if not (self.out[p].off < hi and lo < self.out[p].off + self.out[p].info.width)]
        group.append(at)
        by_start = {self.out[p].off: p for p in group}
        by_end = {self.out[p].off + self.out[p].info.width: p for p in group}
        run = [at]
        while lo in by_end:
            run.insert(0, by_end[lo])
            lo = self.out[run[0]].off
        while hi in by_start:
            run.append(by_start[hi])
            hi += self.out[run[-1]].info.width
        here = run.index(at)
        spans = [(i, k) for i in range(here + 1) for k in range(max(here, i + 1), len(run))
                 if self.span(run[i:k + 1]) in WIDTHS]
        for i, k in sorted(spans, key=lambda s: -self.span(run[s[0]:s[1] + 1])):
            if self.merge(m, group, run[i:k + 1]):
                return

    def span(self, run: list[int]) -> int:
        return sum(self.out[p].info.width for p in run)

    def merge(self, m: MOp, group: list[int], run: list[int]) -> bool:
        """Replace the stores of ``run`` (adjacent, in address order) by one."""
        lo, width = self.out[run[0]].off, self.span(run)
        parts = tuple(b for p in run for b in self.stored[p])
        held = [self.out[p] for p in run]
        for p in run:
            self.out[p] = None
        source = imm = first = None
        if self.quiet(min(run), m.space, (m.a, self.version[m.a]), lo, width, reads=True):
            source = self.register_holding(parts)
            imm = None if source is not None else _store_imm(parts)
            first = None if source is not None or imm is not None else self.adjacent_memory(parts)
        if source is None and imm is None and first is None:
            for p, s in zip(run, held):
                self.out[p] = s
            return False
        origin = tuple(sorted({pc for s in held for pc in s.origin}))
        group[:] = [p for p in group if p not in run]
        if imm is not None:
            merged = self.emit(MOp(_STORE_IMM_OF[width], a=m.a, imm=imm, off=lo, space=m.space, origin=origin))
        else:
            merged = self.emit(MOp(_STORE_OF[width], a=m.a, b=self.source(parts, source, first, width, origin),
                                   off=lo, space=m.space, origin=origin))
        group.append(merged)
        self.stored[merged] = parts
        self.changed += 1
        return True

    def source(self, parts: Bytes, source: int | None, first: MemByte | None, width: int,
               origin: tuple[int, ...]) -> int:
        """The register a merged store writes: ``source``, or a new load of
        the memory at ``first``."""
        if source is None:
            source = self.fresh[0]
            self.fresh[0] += 1
            self.covered |= {b.at for b in parts}
            load = self.emit(MOp(_LOAD_OF[width], source, a=first.base, off=first.offset, space=first.space,
                                 origin=origin))
            self.covered.add(load)          # redundant once a wider merge takes this store in
        return source

    def register_holding(self, parts: Bytes) -> int | None:
        """A register whose low bytes are ``parts``, as it holds them now."""
        for r, value in self.known.items():
            if value[:len(parts)] == parts:
                return r
        first = parts[0]
        if isinstance(first, RegByte) and self.version[first.reg] == first.version \
                and parts == tuple(RegByte(first.reg, first.version, i) for i in range(len(parts))):
            return first.reg
        return None


def widen_accesses(cfg: Cfg) -> int:
    """Merge byte accesses in every block; returns how many merges were made.
    Needs the memory spaces (`infer_spaces`) of the loads and stores."""
    regs = {r for b in cfg.blocks for m in b.insns for r in uses(m) | defs(m)}
    fresh = [max(max(regs, default=0) + 1, VIRTUAL_BASE)]
    live = liveness(cfg, MIR)
    merges = 0
    for block in cfg.blocks:
        walk = _Block(fresh)
        for m in block.insns:
            if m.op in _ORS and walk.load_or(m):
                walk.changed += 1
            elif (m.op in _STORES or m.op in _STORE_IMMS) and m.space in MERGEABLE:
                walk.store(m)
            else:
                walk.emit(m)
        if walk.changed:
            kept = [(p, m) for p, m in enumerate(walk.out) if m is not None]
            insns = [m for _, m in kept]
            positions = [p for p, _ in kept]
            block.insns = sweep_block(insns, live.live_out[block.id], MIR,
                                      lambda i: positions[i] in walk.covered and is_load(insns[i]))
            merges += walk.changed
    return merges
