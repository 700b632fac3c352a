"""Bounds checks answered by the packet buffer.

Every XDP program compares packet pointers with ``data_end`` before it
reads: ``if (data + 14 > data_end) goto out``. The core knows the packet's
end without a load. So a compare with the packet's end becomes ``bout a,
imm`` (taken if a + imm lies past the end) or ``bin`` (taken if it does
not), with the pointer arithmetic feeding it folded into ``imm``: no load
of ``data_end`` and no add before the check, which issues as soon as its
pointer is ready. The meaning is unchanged: the branch compares with the
same ``data_end``.
"""

from __future__ import annotations

from ..target import Op
from .cfg import Cfg
from .mir import MOp, defs
from .spaces import END, pointer_kinds

__all__ = ["fuse_bounds_checks"]

# (compare, end on the right?) -> (fused op, added to the pointer)
# x > end: out; x <= end: in; x >= end ⇔ x + 1 > end; x < end ⇔ x + 1 <= end.
_FUSED = {
    (Op.BGT, True): (Op.BOUT, 0), (Op.BLE, True): (Op.BIN, 0),
    (Op.BGE, True): (Op.BOUT, 1), (Op.BLT, True): (Op.BIN, 1),
    (Op.BLT, False): (Op.BOUT, 0), (Op.BGE, False): (Op.BIN, 0),
    (Op.BLE, False): (Op.BOUT, 1), (Op.BGT, False): (Op.BIN, 1),
}
I32 = range(-(1 << 31), 1 << 31)


def _fold_offset(insns: list[MOp], at: int) -> MOp:
    """The check at ``at`` reading ``addi x, p, k`` from earlier in its block
    as ``p`` with ``k`` added, when ``p`` still holds the same value there."""
    check = insns[at]
    for i in range(at - 1, -1, -1):
        m = insns[i]
        if check.a in defs(m):
            if m.op is Op.ADDI and m.a != m.dst and m.imm + check.imm in I32 \
                    and not any(m.a in defs(n) for n in insns[i + 1:at]):
                return check.replace(a=m.a, imm=check.imm + m.imm, origin=check.origin + m.origin)
            return check
    return check


def fuse_bounds_checks(cfg: Cfg, context_in_r1: bool) -> int:
    """Rewrite compares with ``data_end`` in place; returns how many changed."""
    if not context_in_r1:
        return 0
    changed = 0
    for block, i, kinds in pointer_kinds(cfg, context_in_r1):
        m = block.insns[i]
        for end_right in (True, False):
            fused = _FUSED.get((m.op, end_right))
            end, other = (m.b, m.a) if end_right else (m.a, m.b)
            if fused and kinds.get(end) == END and kinds.get(other) != END:
                block.insns[i] = m.replace(op=fused[0], a=other, b=0, imm=fused[1])
                changed += 1
                break
    for block in cfg.blocks:
        for i, m in enumerate(block.insns):
            if m.op in (Op.BOUT, Op.BIN):
                folded = _fold_offset(block.insns, i)
                changed += folded is not m
                block.insns[i] = folded
    return changed
