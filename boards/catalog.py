"""Every board hxdp builds for, by name."""

from __future__ import annotations

from hxdp.errors import HxdpError

from . import alveo_u50, alveo_u280, butterstick, colorlight_5a75b, ecpix5, kc705, kcu105, netfpga_sume, versa_ecp5
from .nic import EcpBoard
from .xilinx import XilinxBoard

__all__ = ["BOARDS", "board"]

BOARDS: dict[str, EcpBoard | XilinxBoard] = {b.name: b for b in (
    versa_ecp5.BOARD, colorlight_5a75b.BOARD, butterstick.BOARD, ecpix5.BOARD,
    netfpga_sume.BOARD, kc705.BOARD, kcu105.BOARD, alveo_u50.BOARD, alveo_u280.BOARD)}


def board(name: str) -> EcpBoard | XilinxBoard:
    try:
        return BOARDS[name]
    except KeyError:
        raise HxdpError(f"board {name!r}: hxdp builds for {', '.join(sorted(BOARDS))}") from None
