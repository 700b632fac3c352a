"""What `hxdp load` and `hxdp maps` do with a board over its control link:
load a program (with its maps' first entries) into the running engine, and
read back the engine's counters, the program's maps and the ports'
counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from hxdp.compiler.driver import compile_program
from hxdp.ebpf.program import Program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import MapDump, MapEntry
from hxdp.errors import HxdpError
from hxdp.gateware.host import (BusRead, Job, check_supported, load_writes, maps_to_runtime, readback_steps,
                               starting_maps, take_readback)
from hxdp.gateware.registers import ADDR, Params
from hxdp.image import Image
from hxdp.target import Target

from .link import BoardLink, board_counters
from .nic import EcpBoard

__all__ = ["BoardState", "compile_for", "load_onto", "read_back"]


@dataclass
class BoardState:
    counters: dict[str, int]        # the engine's status registers
    maps: MapDump                   # the program's maps, as the interpreter dumps them
    ports: dict[str, int]           # the board's port counters


def compile_for(board: EcpBoard, program: Program) -> Image:
    image = compile_program(program, board.target)
    check_supported(image, board.target)
    return image


def _check_params(link: BoardLink, target: Target) -> None:
    found, built = Params.decode(link.check()), Params.of(target)
    if found != built:
        raise HxdpError(f"{link.device}: the board's engine has {found}, this build of its board {built}: "
                        "build and load its bitstream again, or give --lanes")


def load_onto(link: BoardLink, board: EcpBoard, program: Program, setup: Iterable[MapEntry] = ()) -> Image:
    """Stop the engine, load ``program`` with its maps holding ``setup``, start it."""
    _check_params(link, board.target)
    image = compile_for(board, program)
    job = Job(image, [], maps=starting_maps(board.target, image, program, setup))
    writes = load_writes(board.target, job)
    # The bridge takes requests in order: the read's answer says every write is done.
    (ctrl,) = link.run([*writes, BusRead(ADDR["CTRL"])], "the program's load")
    if ctrl != writes[-1].value:
        raise HxdpError(f"{link.device}: after the load, CTRL reads 0x{ctrl:x}, not 0x{writes[-1].value:x}: "
                        "the link lost requests; load again")
    return image


def read_back(link: BoardLink, board: EcpBoard, program: Program) -> BoardState:
    """What the engine running ``program`` holds now."""
    _check_params(link, board.target)
    image = compile_for(board, program)
    job = Job(image, [])
    take_readback(board.target, job, link.run(readback_steps(board.target, job), "the maps' read"))
    runtime = XdpRuntime(program)
    maps_to_runtime(board.target, job, runtime.maps)
    names = board_counters(board.ports)
    ports = dict(zip(names, link.counters(len(names))))
    return BoardState(job.counters, runtime.dump_maps(), ports)
