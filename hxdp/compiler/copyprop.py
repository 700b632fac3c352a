"""Copy propagation in machine IR, which makes eBPF's two-operand code
three-operand: ``mov r2, r10; add r2, r2, -8`` reads r10 directly as
``add r2, r10, -8``, and dead-code elimination then drops the move.

A ``mov32`` of a register whose upper half is known zero (a 32-bit
operation's or a zero-extending load's result) is a copy too: clang
zero-extends every 32-bit value it moves (``w5 = w14``), and on a hash's
chain of 32-bit operations each such move was a row.

Copies are followed within a block and into a block whose only
predecessor is the block before (an extended basic block).
"""

from __future__ import annotations

from ..target import Op, Unit
from .cfg import Cfg
from .dataflow import extended_blocks
from .mir import MOp, defs, is_load, rename

__all__ = ["propagate_copies"]


def _upper_zero(m: MOp) -> bool:
    """Whether ``m`` leaves its destination's upper 32 bits zero."""
    if m.op is None:
        return False
    if m.info.unit in (Unit.ALU, Unit.MUL, Unit.DIV):
        return m.info.width <= 32
    return is_load(m) and m.info.width <= 4 and not m.info.sign_extends


def propagate_copies(cfg: Cfg) -> int:
    """Rewrite reads of copies in place; returns how many operations changed."""
    changed = 0
    for block, (copies, zero) in extended_blocks(cfg, lambda: ({}, set()),
                                                 lambda state: (dict(state[0]), set(state[1]))):
        new = []
        for m in block.insns:
            better = rename(m, copies, writes=False)
            if better.op is Op.MOV32 and better.a in zero:
                better = better.replace(op=Op.MOV)
            changed += better is not m
            new.append(better)
            for r in defs(better):
                copies.pop(r, None)
                zero.discard(r)
                for k in [k for k, v in copies.items() if v == r]:
                    del copies[k]
            if better.op is Op.MOV and better.dst != better.a:
                copies[better.dst] = better.a
            if _upper_zero(better) or better.op is Op.MOV and better.a in zero:
                zero.add(better.dst)
        block.insns = new
    return changed
