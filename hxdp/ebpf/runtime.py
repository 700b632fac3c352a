"""XDP on the reference interpreter: packets, context, maps and helpers.

`XdpRuntime` is the interpreter's `XdpEngine`. Each packet gets a fresh
frame laid out as the kernel's BPF_PROG_TEST_RUN lays it out: a 4096-byte
page with 256 bytes of headroom in front of the data and 320 bytes reserved
at the end, so adjust_head/meta/tail have the same limits as in the kernel.

Pointers to packet data: ``struct xdp_md`` has 32-bit ``data``, ``data_end``
and ``data_meta`` fields which the kernel rewrites into 64-bit pointer
loads. Here the packet frame lives below 2**32, so the 32-bit values a
program loads are the frame's real addresses and need no rewriting.
"""

from __future__ import annotations

import random
from typing import Callable
from dataclasses import dataclass, field

from ..errors import HxdpError
from .fib import RouteTable
from .helpers import call_helper
from .interp import ExecutionFault, Machine
from .maps import MapSet, ProgArray, RingBufMap
from .memory import CONTEXT_BASE, PACKET_BASE, Memory, Region
from .program import Program
from .xdp import ETH_HLEN, HEADROOM, TAILROOM, XDP_MD, MapDump, Redirect, XdpAction, XdpInput, XdpResult

__all__ = ["XdpRuntime", "PacketContext", "FRAME_SIZE", "MAX_PACKET", "ETH_HLEN", "check_packet_size"]

FRAME_SIZE = 4096
MAX_PACKET = FRAME_SIZE - HEADROOM - TAILROOM
XDP_FRAME_STRUCT = 40      # the kernel keeps struct xdp_frame at the start of the headroom
MAX_META = 255             # skb_shared_info.meta_len is a u8


@dataclass
class PacketContext:
    """The state of one packet while the program runs, as the helpers see it."""
    frame: bytearray
    region: Region
    ctx: Region
    maps: MapSet
    routes: RouteTable
    cpu: int
    clock_ns: int
    random: random.Random
    data: int
    data_end: int
    meta: int
    inp: XdpInput
    trace: list[str] = field(default_factory=list)
    redirect: Redirect | None = None

    def sync(self) -> None:
        """Publish the current bounds to the packet region and to struct xdp_md."""
        self.region.start, self.region.end = self.meta, self.data_end
        self.ctx.data[:] = XDP_MD.pack(PACKET_BASE + self.data, PACKET_BASE + self.data_end,
                                       PACKET_BASE + self.meta, self.inp.ingress_ifindex,
                                       self.inp.rx_queue_index, 0)

    def set_redirect(self, key: int, map_name: str | None, ifindex: int | None = None) -> None:
        self.redirect = Redirect(key, map_name, ifindex if map_name else key)

    def adjust_head(self, delta: int) -> int:
        metalen = self.data - self.meta
        data = self.data + delta
        if data < XDP_FRAME_STRUCT + metalen or data > self.data_end - ETH_HLEN:
            return -22  # -EINVAL
        if metalen:
            self.frame[data - metalen:data] = self.frame[self.meta:self.data]
        self.data, self.meta = data, data - metalen
        self.sync()
        return 0

    def adjust_meta(self, delta: int) -> int:
        meta = self.meta + delta
        if meta < XDP_FRAME_STRUCT or meta > self.data:
            return -22  # -EINVAL
        metalen = self.data - meta
        if metalen & 3 or metalen > MAX_META:
            return -13  # -EACCES
        self.meta = meta
        self.sync()
        return 0

    def adjust_tail(self, delta: int) -> int:
        end = self.data_end + delta
        if end > FRAME_SIZE - TAILROOM or end - self.data < ETH_HLEN:
            return -22  # -EINVAL
        if delta > 0:
            self.frame[self.data_end:end] = bytes(delta)
        self.data_end = end
        self.sync()
        return 0


def check_packet_size(index: int, packet: bytes) -> None:
    """Refuse packet ``index`` if an XDP frame cannot hold it."""
    if not ETH_HLEN <= len(packet) <= MAX_PACKET:
        raise HxdpError(f"packet {index} has {len(packet)} bytes; XDP frames here hold "
                        f"{ETH_HLEN} to {MAX_PACKET} bytes")


class XdpRuntime:
    """The interpreter as an XDP engine: maps persist across packets."""

    def __init__(self, program: Program, *, routes: RouteTable | None = None, nr_cpus: int = 1,
                 cpu: int = 0, max_insns: int = 1_000_000, seed: int = 0,
                 clock_ns: int = 1_000_000_000, clock_step_ns: int = 1_000,
                 core: Callable[["XdpRuntime"], Machine] | None = None):
        if not 0 <= cpu < nr_cpus:
            raise HxdpError(f"cpu {cpu} is not one of the {nr_cpus} CPUs")
        self.program = program
        self.routes = routes or RouteTable()
        self.cpu = cpu
        self.clock_ns = clock_ns
        self.clock_step_ns = clock_step_ns
        self.random = random.Random(seed)
        self.memory = Memory()
        self.maps = MapSet(program, self.memory, nr_cpus)
        for name, programs in program.prog_arrays.items():
            prog_array = self.maps[name]
            if not isinstance(prog_array, ProgArray):
                raise HxdpError(f"map {name} is not a prog_array")
            for index, prog in programs.items():
                prog_array.set_program(index, prog)
        self.frame = bytearray(FRAME_SIZE)
        self.region = Region("packet", PACKET_BASE, self.frame)
        self.memory.add(self.region)
        self.ctx = self.memory.allocate("context (struct xdp_md)", bytearray(XDP_MD.size),
                                        writable=False, base=CONTEXT_BASE)
        # The machine that runs the code: the interpreter, or another engine's
        # core (the model's) that offers the same interface to the helpers.
        self.machine = core(self) if core else Machine(program, self.memory, self, max_insns=max_insns)
        self.packet: PacketContext | None = None
        self.packets_run = 0

    # Environment of the interpreter
    def call_helper(self, machine: Machine, helper_id: int, pc: int) -> int:
        return call_helper(self.packet, machine, helper_id, pc)

    def map_handle(self, map_index: int, pc: int) -> int:
        if map_index >= len(self.maps.handles):
            raise ExecutionFault(pc, f"lddw refers to map {map_index}; the program has "
                                     f"{len(self.maps.handles)}")
        return self.maps.handles[map_index]

    def map_value_address(self, map_index: int, offset: int, pc: int) -> int:
        handle = self.map_handle(map_index, pc)
        return self.maps.from_handle(handle).address(0, self.cpu) + offset

    # XdpEngine
    def update_map(self, name: str, key: bytes, value: bytes) -> None:
        self.maps.update(name, key, value)

    def dump_maps(self) -> MapDump:
        return self.maps.dump()

    def run(self, inp: XdpInput) -> XdpResult:
        check_packet_size(self.packets_run, inp.packet)
        size = len(inp.packet)
        self.frame[:] = bytes(FRAME_SIZE)
        self.frame[HEADROOM:HEADROOM + size] = inp.packet
        pkt = PacketContext(self.frame, self.region, self.ctx, self.maps, self.routes, self.cpu,
                            self.clock_ns, self.random, HEADROOM, HEADROOM + size, HEADROOM, inp)
        pkt.sync()
        self.packet = pkt
        self.packets_run += 1
        self.clock_ns += self.clock_step_ns
        start = self.machine.insns_executed
        fault = None
        try:
            action = self.machine.run(r1=self.ctx.base) & 0xFFFFFFFF
        except ExecutionFault as err:
            action, fault = XdpAction.ABORTED, str(err)
        return XdpResult(action, bytes(self.frame[pkt.data:pkt.data_end]),
                         pkt.redirect if action == XdpAction.REDIRECT else None,
                         pkt.trace, fault, self.machine.insns_executed - start,
                         bytes(self.frame[pkt.meta:pkt.data]), self.machine.cycles,
                         [(m.name, record) for m in self.maps if isinstance(m, RingBufMap) for record in m.drain()])

