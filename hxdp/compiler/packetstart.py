"""The packet's start as a constant: until a helper moves it, every packet
starts at the same address (its buffer's headroom in), so a load of
``data`` or ``data_meta`` from the context becomes a move of that address.

Every XDP program begins with ``data = ctx->data`` and every header access
hangs off it: a move is ready a row before a load is, and that row comes
off each packet's critical path. A path through a helper that may move
the packet (`MOVES_PACKET`, or a call hxdp does not know) loads as before.
Runs after the passes that follow pointer kinds from the context loads
(bounds checks, wide accesses): the accesses keep the spaces found then.
"""

from __future__ import annotations

from ..ebpf.memory import PACKET_BASE
from ..ebpf.xdp import HEADROOM, XDP_MD_FIELD_BYTES, xdp_md_offset
from ..target import Op, Space
from .cfg import Cfg
from .dataflow import solve_forward
from .mir import MOp, is_load
from .spaces import may_move_packet

__all__ = ["fold_packet_start", "PACKET_START"]

PACKET_START = PACKET_BASE + HEADROOM
_START_FIELDS = frozenset({xdp_md_offset("data"), xdp_md_offset("data_meta")})


def fold_packet_start(cfg: Cfg) -> int:
    """Turn loads of the unmoved packet's start into moves; returns how many."""
    def start(bid: int, out: dict[int, bool]) -> bool:
        """Whether the packet may have moved on some path into the block."""
        return bid != 0 and any(out.get(p, False) for p in cfg.blocks[bid].preds)

    out = solve_forward(cfg, start, lambda m, moved: moved or may_move_packet(m))
    folded = 0
    for bid in cfg.reverse_postorder():
        block = cfg.blocks[bid]
        moved = start(bid, out)
        for i, m in enumerate(block.insns):
            if not moved and is_load(m) and m.space is Space.CONTEXT and m.off in _START_FIELDS \
                    and m.info.width == XDP_MD_FIELD_BYTES:
                block.insns[i] = MOp(Op.MOV32I, m.dst, imm=PACKET_START, origin=m.origin)
                folded += 1
            moved = moved or may_move_packet(m)
    return folded
