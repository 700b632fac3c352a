"""Copy propagation in machine IR, which makes eBPF's two-operand code
three-operand: ``mov r2, r10; add r2, r2, -8`` reads r10 directly as
``add r2, r10, -8``, and dead-code elimination then drops the move.

Copies are followed within a block and into a block whose only
predecessor is the block before (an extended basic block).
"""

from __future__ import annotations

from ..target import Op
from .cfg import Cfg
from .mir import defs, rename

__all__ = ["propagate_copies"]


def propagate_copies(cfg: Cfg) -> int:
    """Rewrite reads of copies in place; returns how many operations changed."""
    changed = 0
    out: dict[int, dict[int, int]] = {}
    for bid in cfg.reverse_postorder():
        block = cfg.blocks[bid]
        preds = block.preds
        copies = dict(out[preds[0]]) if len(preds) == 1 and preds[0] in out else {}
        new = []
        for m in block.insns:
            better = rename(m, copies, writes=False)
            changed += better is not m
            new.append(better)
            for r in defs(better):
                copies.pop(r, None)
                for k in [k for k, v in copies.items() if v == r]:
                    del copies[k]
            if better.op is Op.MOV and better.dst != better.a:
                copies[better.dst] = better.a
        block.insns = new
        out[bid] = copies
    return changed
