"""Parametrized exit: ``mov r0, 2; exit`` becomes ``exit 2``, one operation
that carries its action, and the move usually dies."""

from __future__ import annotations

from ..target import Op
from .cfg import Cfg
from .mir import defs

__all__ = ["fold_exit_actions"]


def fold_exit_actions(cfg: Cfg) -> int:
    changed = 0
    for block in cfg.blocks:
        ops = block.insns
        if not ops or ops[-1].op is not Op.EXIT:
            continue
        reg = ops[-1].a
        for m in reversed(ops[:-1]):
            if reg not in defs(m):
                continue
            if m.op is Op.MOVI or m.op is Op.MOV32I and m.imm >= 0:
                ops[-1] = ops[-1].replace(op=Op.EXITI, a=0, imm=m.imm, origin=ops[-1].origin + m.origin)
                changed += 1
            break
    return changed
