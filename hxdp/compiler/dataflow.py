"""Forward dataflow to a fixed point, for the passes that track facts from
the entry down (constants and copies, written stack bytes, pointer kinds),
and the one-pass walk of extended basic blocks for those that follow facts
only where nothing joins (copies, stack values)."""

from __future__ import annotations

from typing import Callable, Iterator, TypeVar

from .cfg import Block, Cfg

__all__ = ["solve_forward", "meet_agreeing", "extended_blocks"]

S = TypeVar("S")
K = TypeVar("K")
V = TypeVar("V")


def solve_forward(cfg: Cfg, start: Callable[[int, dict[int, S]], S],
                  step: Callable[[object, S], S]) -> dict[int, S]:
    """Each reachable block's exit state at the fixed point. ``start(block,
    out)`` is a block's entry state from the exit states known so far;
    ``step(insn, state)`` the state after an instruction."""
    order = cfg.reverse_postorder()
    out: dict[int, S] = {}
    changed = True
    while changed:
        changed = False
        for bid in order:
            state = start(bid, out)
            for insn in cfg.blocks[bid].insns:
                state = step(insn, state)
            if out.get(bid) != state:
                out[bid] = state
                changed = True
    return out


def meet_agreeing(states: list[dict[K, V]]) -> dict[K, V]:
    """The facts every state holds alike."""
    if not states:
        return {}
    first, *rest = states
    return {k: v for k, v in first.items() if all(s.get(k) == v for s in rest)}


def extended_blocks(cfg: Cfg, fresh: Callable[[], S], carry: Callable[[S], S]) -> Iterator[tuple[Block, S]]:
    """Each reachable block in reverse postorder with the state it starts
    from: ``carry`` of its only predecessor's state at that block's end, or
    ``fresh()`` where blocks join. The caller updates the state in place
    through the block."""
    out: dict[int, S] = {}
    for bid in cfg.reverse_postorder():
        block = cfg.blocks[bid]
        preds = block.preds
        state = carry(out[preds[0]]) if len(preds) == 1 and preds[0] in out else fresh()
        yield block, state
        out[bid] = state
