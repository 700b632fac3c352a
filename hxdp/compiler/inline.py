"""Inlining of BPF-to-BPF calls: one straight program for the core, which has
no call stack.

Each call site gets its own copy of the callee. The copy's r6-r9 become
fresh virtual registers (so the caller's survive, as the calling convention
promises) and its frame pointer a virtual register pointing just below the
caller's frame; its exits jump back to the code after the call.
"""

from __future__ import annotations

from ..ebpf.interp import MAX_CALL_DEPTH, STACK_SIZE
from ..target import Op, Operand, Unit
from .cfg import Block, Cfg
from .lower import CompileError
from .mir import FP, VIRTUAL_BASE, MOp, rename

__all__ = ["inline_calls", "frame_bytes"]


def frame_bytes(cfg: Cfg) -> int:
    """How many bytes below its frame pointer a function uses: the deepest
    r10-relative access or pointer, or the whole eBPF frame when a frame
    pointer is used in a way this does not follow."""
    deepest = 0
    for block in cfg.blocks:
        fp_plus: dict[int, int] = {FP: 0}     # registers holding r10 + constant
        for m in block.insns:
            call = m.op is None or m.info.unit is Unit.HELPER
            if call:
                deepest = max([deepest] + [-v for r, v in fp_plus.items() if 1 <= r <= 5])
                written = set(range(6))
            else:
                ops = m.info.operands
                for operand, reg in ((Operand.A, m.a), (Operand.B, m.b)):
                    if operand not in ops or reg not in fp_plus:
                        continue
                    if m.info.unit is Unit.LSU and operand is Operand.A:
                        deepest = max(deepest, -(fp_plus[reg] + m.off))
                    elif m.op not in (Op.MOV, Op.ADDI):
                        return STACK_SIZE       # the frame pointer escapes: assume the whole frame
                written = {m.dst} if Operand.DST in ops else set()
            new = None
            if m.op is Op.MOV and m.a in fp_plus:
                new = fp_plus[m.a]
            elif m.op is Op.ADDI and m.a in fp_plus:
                new = fp_plus[m.a] + m.imm
            for r in written:
                fp_plus.pop(r, None)
            if new is not None:
                fp_plus[m.dst] = new
                deepest = max(deepest, -new)
    return min(STACK_SIZE, (deepest + 7) // 8 * 8)


def inline_calls(functions: dict[int, Cfg], stack_bytes: int, where: str = "") -> tuple[Cfg, int]:
    """The entry function (pc 0) with every call inlined, and the stack bytes
    it needs. Blocks are renumbered; edges are kept in ``succs``/``preds``."""
    entry = functions[0]
    frames = {pc: frame_bytes(cfg) for pc, cfg in functions.items()}
    blocks: list[Block] = [Block(b.id, list(b.insns), list(b.succs)) for b in entry.blocks]
    offset_of_fp: dict[int, tuple[int, int]] = {FP: (0, frames[0])}   # fp reg -> (offset, frame bytes)
    need = frames[0]
    virtual = VIRTUAL_BASE
    work = list(range(len(blocks)))
    while work:
        block = blocks[work.pop()]
        at = next((i for i, m in enumerate(block.insns) if m.op is None), None)
        if at is None:
            continue
        call = block.insns[at]
        depth = call.imm + 1
        if depth >= MAX_CALL_DEPTH:
            raise CompileError(f"{where}pc {call.origin[0]}: calls nest deeper than {MAX_CALL_DEPTH} "
                               "(recursion cannot be inlined)")
        callee = functions[call.callee]
        caller_offset, caller_frame = offset_of_fp[call.a]
        regs = {r: virtual + i for i, r in enumerate(range(6, 11))}
        virtual += 5
        offset_of_fp[regs[FP]] = (caller_offset + caller_frame, frames[call.callee])
        need = max(need, caller_offset + caller_frame + frames[call.callee])
        # The code after the call continues in a new block.
        after = Block(len(blocks), block.insns[at + 1:], block.succs)
        blocks.append(after)
        work.append(after.id)
        base = len(blocks)
        block.insns = block.insns[:at] + [MOp(Op.ADDI, regs[FP], a=call.a, imm=-caller_frame,
                                              origin=call.origin)]
        block.succs = [base]
        for b in callee.blocks:
            ops = []
            for m in b.insns:
                m = rename(m, regs)
                if m.op is None:
                    m = m.replace(imm=depth)
                if m.target is not None:
                    m = m.replace(target=m.target + base)
                ops.append(m)
            succs = [s + base for s in b.succs]
            if ops and ops[-1].op is Op.EXIT:
                ops.pop()
                succs = [after.id]
            blocks.append(Block(len(blocks), ops, succs))
            work.append(len(blocks) - 1)
    if need > stack_bytes:
        raise CompileError(f"{where}needs {need} bytes of stack with its calls inlined; the target "
                           f"has {stack_bytes} (Target.stack_bytes)")
    for b in blocks:
        b.preds = []
    for b in blocks:
        for s in b.succs:
            blocks[s].preds.append(b.id)
    return Cfg(entry.name, blocks), need
