"""Which memory each load and store reaches: stack, packet, context or map.

A forward dataflow of pointer kinds: r10 points to the stack, r1 at entry to
the context (for XDP programs), loads of ``data``/``data_end``/``data_meta``
from the context give packet pointers, map lookups and map-value references
give map pointers, and adding a number to a pointer keeps its kind. The
scheduler uses the result to pick latencies and ports and to keep apart
accesses to different memories.
"""

from __future__ import annotations

from ..ebpf.helpers import HelperId
from ..target import Op, Operand, Space, Unit
from .cfg import Cfg
from .dataflow import meet_agreeing, solve_forward
from .mir import FP, MOp, defs

__all__ = ["infer_spaces", "SCALAR"]

SCALAR = "scalar"
Kind = Space | str
PACKET_FIELDS = (0, 4, 8)          # struct xdp_md: data, data_end, data_meta
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
        base = kinds.get(m.a)
        if base is Space.CONTEXT and m.info.width == 4 and m.off in PACKET_FIELDS:
            return Space.PACKET
        return None if base is not Space.CONTEXT else SCALAR
    if m.info.unit is Unit.HELPER:
        return Space.MAP if m.imm == HelperId.MAP_LOOKUP_ELEM else SCALAR
    return SCALAR


def _transfer(m: MOp, kinds: dict[int, Kind]) -> None:
    result = None if m.op is None else _result(m, kinds)
    for r in defs(m):
        kinds.pop(r, None)
    if result is not None:
        if m.info.unit is Unit.HELPER:
            kinds[0] = result
        elif Operand.DST in m.info.operands:
            kinds[m.dst] = result


def infer_spaces(cfg: Cfg, context_in_r1: bool) -> int:
    """Set ``space`` on every load and store whose memory is known; returns how many."""
    entry: dict[int, Kind] = {FP: Space.STACK}
    if context_in_r1:
        entry[1] = Space.CONTEXT
    def start(bid: int, out: dict[int, dict[int, Kind]]) -> dict[int, Kind]:
        if bid == 0:
            return dict(entry)
        state = meet_agreeing([out[p] for p in cfg.blocks[bid].preds if p in out])
        state[FP] = Space.STACK
        return state

    def step(m: MOp, kinds: dict[int, Kind]) -> dict[int, Kind]:
        _transfer(m, kinds)
        return kinds

    out = solve_forward(cfg, start, step)
    known = 0
    for bid in cfg.reverse_postorder():
        kinds = start(bid, out)
        block = cfg.blocks[bid]
        for i, m in enumerate(block.insns):
            if m.op is not None and m.info.unit is Unit.LSU:
                space = kinds.get(m.a)
                space = space if isinstance(space, Space) else None
                block.insns[i] = m = m.replace(space=space)
                known += space is not None
            _transfer(m, kinds)
    return known
