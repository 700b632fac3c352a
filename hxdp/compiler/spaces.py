"""Which memory each load and store reaches: stack, packet, context or map.

A forward dataflow of pointer kinds: r10 points to the stack, r1 at entry to
the context (for XDP programs), loads of ``data``/``data_meta`` from the
context give packet pointers and of ``data_end`` the packet's end (`END`,
forgotten across helpers that move it), map lookups and map-value references
give map pointers, and adding a number to a pointer keeps its kind. A
pointer spilled to the stack (an 8-byte store at a fixed offset from r10)
keeps its kind until that slot is written again, so reloading it gives the
kind back. The scheduler uses the result to pick latencies and ports and to
keep apart accesses to different memories; the wide-access and bounds-check
passes to know what they may merge and which compares are with data_end.
"""

from __future__ import annotations

from typing import Iterator

from ..ebpf.helpers import SUPPORTED_HELPERS, WRITES_THROUGH_ARGUMENTS, HelperId
from ..ebpf.xdp import XDP_MD_FIELD_BYTES, xdp_md_offset
from ..target import Op, Operand, Space, Unit
from .cfg import Block, Cfg
from .dataflow import meet_agreeing, solve_forward
from .mir import FP, MOp, defs

__all__ = ["infer_spaces", "pointer_kinds", "may_move_packet", "SCALAR", "END"]

SCALAR = "scalar"
END = "packet end"
Kind = Space | str
Slot = tuple[str, int]              # ("slot", offset from r10): a spilled pointer
PACKET_FIELDS = {xdp_md_offset("data"): Space.PACKET, xdp_md_offset("data_end"): END,
                 xdp_md_offset("data_meta"): Space.PACKET}
MOVES_PACKET = frozenset({HelperId.XDP_ADJUST_HEAD, HelperId.XDP_ADJUST_TAIL, HelperId.XDP_ADJUST_META})
_ADDS = (Op.ADD, Op.ADDI, Op.SUB, Op.SUBI)


def _result(m: MOp, kinds: dict[int, Kind]) -> Kind | None:
    if m.op is Op.MOV:
        return kinds.get(m.a)
    if m.op in _ADDS:
        a = kinds.get(m.a)
        b = SCALAR if Operand.IMM in m.info.operands else kinds.get(m.b)
        if isinstance(a, Space) and b == SCALAR:
            return a
        if m.op is Op.ADD and a == SCALAR and isinstance(b, Space):
            return b
        return SCALAR if a == b == SCALAR else None
    if m.op is Op.LDMAPV:
        return Space.MAP
    if m.info.unit is Unit.LSU:
        if m.a == FP and m.op is Op.LD8 and ("slot", m.off) in kinds:
            return kinds[("slot", m.off)]
        base = kinds.get(m.a)
        if base is Space.CONTEXT and m.info.width == XDP_MD_FIELD_BYTES and m.off in PACKET_FIELDS:
            return PACKET_FIELDS[m.off]
        return None if base is not Space.CONTEXT else SCALAR
    if m.info.unit is Unit.HELPER:
        return Space.MAP if m.imm == HelperId.MAP_LOOKUP_ELEM else SCALAR
    return SCALAR


def _forget_slots(kinds: dict, lo: int = -(1 << 31), hi: int = 1 << 31) -> None:
    for key in [k for k in kinds if isinstance(k, tuple) and k[1] < hi and lo < k[1] + 8]:
        del kinds[key]


def _unknown_call(m: MOp) -> bool:
    """An operation hxdp does not know, or a call of a helper it cannot name."""
    return m.op is None or m.op is Op.CALLR or m.info.unit is Unit.HELPER and m.imm not in SUPPORTED_HELPERS


def may_move_packet(m: MOp) -> bool:
    """Whether ``m`` may move the packet's start or end (`MOVES_PACKET`)."""
    return _unknown_call(m) or m.info.unit is Unit.HELPER and m.imm in MOVES_PACKET


def _spill(m: MOp, kinds: dict) -> None:
    """What a store or helper call does to the spilled pointers (and to
    copies of the packet's end)."""
    if m.op is None or m.info.unit is Unit.HELPER:
        if _unknown_call(m) or m.imm in WRITES_THROUGH_ARGUMENTS:
            _forget_slots(kinds)
        if may_move_packet(m):
            for key in [k for k, kind in kinds.items() if kind == END]:
                del kinds[key]
    elif m.info.writes_memory:
        if m.a == FP:
            _forget_slots(kinds, m.off, m.off + m.info.width)
            if m.op is Op.ST8 and kinds.get(m.b) is not None:
                kinds[("slot", m.off)] = kinds[m.b]
        elif not isinstance(kinds.get(m.a), Space) or kinds[m.a] is Space.STACK:
            _forget_slots(kinds)


def _transfer(m: MOp, kinds: dict[int | Slot, Kind]) -> None:
    result = None if m.op is None else _result(m, kinds)
    _spill(m, kinds)
    for r in defs(m):
        kinds.pop(r, None)
    if result is not None:
        if m.info.unit is Unit.HELPER:
            kinds[0] = result
        elif Operand.DST in m.info.operands:
            kinds[m.dst] = result


def pointer_kinds(cfg: Cfg, context_in_r1: bool) -> Iterator[tuple[Block, int, dict[int | Slot, Kind]]]:
    """Each reachable block, the index of each of its operations, and the
    kinds known just before it (the dict is updated in place as the walk
    goes on: copy it to keep it)."""
    entry: dict[int | Slot, Kind] = {FP: Space.STACK}
    if context_in_r1:
        entry[1] = Space.CONTEXT

    def start(bid: int, out: dict[int, dict[int | Slot, Kind]]) -> dict[int | Slot, Kind]:
        if bid == 0:
            return dict(entry)
        state = meet_agreeing([out[p] for p in cfg.blocks[bid].preds if p in out])
        state[FP] = Space.STACK
        return state

    def step(m: MOp, kinds: dict[int | Slot, Kind]) -> dict[int | Slot, Kind]:
        _transfer(m, kinds)
        return kinds

    out = solve_forward(cfg, start, step)
    for bid in cfg.reverse_postorder():
        kinds = start(bid, out)
        block = cfg.blocks[bid]
        for i in range(len(block.insns)):
            yield block, i, kinds
            _transfer(block.insns[i], kinds)


def infer_spaces(cfg: Cfg, context_in_r1: bool) -> int:
    """Set ``space`` on every load and store whose memory is known; returns how many."""
    known = 0
    for block, i, kinds in pointer_kinds(cfg, context_in_r1):
        m = block.insns[i]
        if m.op is not None and m.info.unit is Unit.LSU:
            space = kinds.get(m.a)
            space = space if isinstance(space, Space) else None
            block.insns[i] = m.replace(space=space)
            known += space is not None
    return known
