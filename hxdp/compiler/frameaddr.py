"""Stack addresses folded into the accesses: a load or store through a
register that holds r10 plus a constant goes through r10 itself, with the
constant added to its offset.

clang keeps the address of a local buffer in a register (``r6 = r10 - 48``)
and reaches the buffer's fields through it, across blocks and helper calls.
Through r10 the accesses leave the register's add off their dependence
path, and the passes that follow stack slots by offset from r10 see them:
a pointer spilled and reloaded through such a register keeps its memory
(`infer_spaces`), so the accesses through it can be told apart and merged.
"""

from __future__ import annotations

from ..target import Op, SLOT_FIELDS, Unit
from .cfg import Cfg
from .dataflow import meet_agreeing, solve_forward
from .mir import FP, MOp, defs

__all__ = ["fold_frame_addresses"]

_OFF = next(f for f in SLOT_FIELDS if f.name == "off")
Frame = dict[int, int]              # register -> the constant it holds r10 plus


def _held(m: MOp, frame: Frame) -> int | None:
    """What r10 plus constant ``m`` leaves in its destination, if it does."""
    base = 0 if m.a == FP else frame.get(m.a)
    if base is None:
        return None
    if m.op is Op.MOV:
        return base
    if m.op is Op.ADDI:
        return base + m.imm
    if m.op is Op.SUBI:
        return base - m.imm
    return None


def _step(m: MOp, frame: Frame) -> Frame:
    """The frame after ``m`` (updated in place)."""
    if m.op is None:
        frame.clear()
        return frame
    held = _held(m, frame)
    for r in defs(m):                   # a call's too: r1-r5 become undefined
        frame.pop(r, None)
    if held is not None:
        frame[m.dst] = held
    return frame


def fold_frame_addresses(cfg: Cfg) -> int:
    """Rewrite the accesses through r10-plus-constant registers; returns how many."""
    def start(bid: int, out: dict[int, Frame]) -> Frame:
        return meet_agreeing([out[p] for p in cfg.blocks[bid].preds if p in out]) if bid else {}

    out = solve_forward(cfg, start, _step)
    folded = 0
    for bid in cfg.reverse_postorder():
        block = cfg.blocks[bid]
        frame = start(bid, out)
        for i, m in enumerate(block.insns):
            if m.op is not None and m.info.unit is Unit.LSU and m.a != FP and m.a in frame \
                    and m.off + frame[m.a] in _OFF.values:
                block.insns[i] = m = m.replace(a=FP, off=m.off + frame[m.a])
                folded += 1
            frame = _step(m, frame)
    return folded
