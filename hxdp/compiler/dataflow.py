"""Forward dataflow to a fixed point, for the passes that track facts from
the entry down (constants and copies, written stack bytes, pointer kinds)."""

from __future__ import annotations

from typing import Callable, TypeVar

from .cfg import Cfg

__all__ = ["solve_forward", "meet_agreeing"]

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
