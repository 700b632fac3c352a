"""Kernel helper functions for XDP programs, by their kernel id.

Each helper is a small function ``(ctx, machine, pc) -> r0`` where ``ctx`` is
the per-packet `hxdp.ebpf.runtime.PacketContext`; arguments are in
``machine.regs[1..5]``. Errors are returned as negative errno, as the kernel
does; misuse the verifier would have refused (a bad map handle, a bad size)
is an ExecutionFault naming the pc.
"""

from __future__ import annotations

import enum
import errno
import re
from typing import TYPE_CHECKING, Callable

from .fib import DEFAULT_MTU, FIB_PARAMS_SIZE, fib_lookup
from .isa import sign_extend
from .interp import MAX_TAIL_CALLS, ExecutionFault, Machine, TailCall
from .maps import BpfMap, MapOfMaps, ProgArray, QueueMap, RingBufMap
from .program import MapType
from .xdp import ETH_HLEN, XdpAction

if TYPE_CHECKING:
    from .runtime import PacketContext

__all__ = ["HelperId", "HELPERS", "SUPPORTED_HELPERS", "ARITY", "WRITES_THROUGH_ARGUMENTS", "PACKET_HELPERS",
           "READS_THROUGH_ARGUMENTS", "call_helper"]

M64 = (1 << 64) - 1


class HelperId(enum.IntEnum):
    """Kernel helper ids (enum bpf_func_id) of the helpers hxdp provides."""
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    KTIME_GET_NS = 5
    TRACE_PRINTK = 6
    GET_PRANDOM_U32 = 7
    GET_SMP_PROCESSOR_ID = 8
    TAIL_CALL = 12
    REDIRECT = 23
    CSUM_DIFF = 28
    XDP_ADJUST_HEAD = 44
    REDIRECT_MAP = 51
    XDP_ADJUST_META = 54
    XDP_ADJUST_TAIL = 65
    FIB_LOOKUP = 69
    GET_NUMA_NODE_ID = 42
    KTIME_GET_BOOT_NS = 125
    JIFFIES64 = 118
    MAP_PUSH_ELEM = 87
    MAP_POP_ELEM = 88
    MAP_PEEK_ELEM = 89
    SPIN_LOCK = 93
    SPIN_UNLOCK = 94
    RINGBUF_OUTPUT = 130
    CHECK_MTU = 163
    LOOP = 181
    XDP_GET_BUFF_LEN = 188
    XDP_LOAD_BYTES = 189
    XDP_STORE_BYTES = 190


Helper = Callable[["PacketContext", Machine, int], int]


def _map(ctx: "PacketContext", machine: Machine, pc: int) -> BpfMap:
    m = ctx.maps.from_handle(machine.regs[1])
    if m is None:
        raise ExecutionFault(pc, f"r1 = {machine.regs[1]:#x} is not a map")
    return m


def _read(machine: Machine, addr: int, size: int, pc: int) -> bytes:
    return machine.memory.read_bytes(addr, size, pc)


def map_lookup_elem(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    m = _map(ctx, machine, pc)
    key = _read(machine, machine.regs[2], m.d.key_size, pc)
    if isinstance(m, ProgArray) or m.d.type in (MapType.CPUMAP, MapType.XSKMAP):
        raise ExecutionFault(pc, f"map {m.name}: lookup from a program is not allowed on "
                                 f"{m.d.type.name.lower()} maps")
    slot = m.find(key)
    if slot is None:
        return 0
    if isinstance(m, MapOfMaps):
        return m.inner[slot].handle
    return m.address(slot, ctx.cpu)


def map_update_elem(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    m = _map(ctx, machine, pc)
    if isinstance(m, (ProgArray, MapOfMaps)):
        raise ExecutionFault(pc, f"map {m.name}: programs cannot update {m.d.type.name.lower()} maps")
    key = _read(machine, machine.regs[2], m.d.key_size, pc)
    value = _read(machine, machine.regs[3], m.d.value_size, pc)
    return m.update(key, value, machine.regs[4], ctx.cpu)


def map_delete_elem(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    m = _map(ctx, machine, pc)
    key = _read(machine, machine.regs[2], m.d.key_size, pc)
    return m.delete(key)


def _queue(ctx: "PacketContext", machine: Machine, pc: int) -> QueueMap:
    m = _map(ctx, machine, pc)
    if not isinstance(m, QueueMap):
        raise ExecutionFault(pc, f"map {m.name} is a {m.d.type.name.lower()}, not a queue or stack map")
    return m


def map_push_elem(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    m = _queue(ctx, machine, pc)
    return m.push(_read(machine, machine.regs[2], m.d.value_size, pc), machine.regs[3])


def _take(ctx: "PacketContext", machine: Machine, pc: int, remove: bool) -> int:
    m = _queue(ctx, machine, pc)
    value = m.take(remove)
    if value is None:
        return -errno.ENOENT
    machine.memory.write_bytes(machine.regs[2], value, pc)
    return 0


def map_pop_elem(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return _take(ctx, machine, pc, remove=True)


def map_peek_elem(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return _take(ctx, machine, pc, remove=False)


def _spin(machine: Machine, pc: int, held: bool) -> int:
    """Take (``held``) or release the lock word r1 points at. One program
    runs at a time here, so a lock found taken could never be released."""
    addr = machine.regs[1]
    if machine.memory.read(addr, 4, pc) != (not held):
        raise ExecutionFault(pc, "bpf_spin_lock of a lock the program holds" if held else
                             "bpf_spin_unlock of a lock the program does not hold")
    machine.memory.write(addr, 4, int(held), pc)
    return 0


def spin_lock(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return _spin(machine, pc, held=True)


def spin_unlock(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return _spin(machine, pc, held=False)


# bpf_loop's most iterations, as the kernel's.
MAX_LOOPS = 1 << 23


def loop(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    """Call r2 (a callback) with each index below r1 and r3, until it returns non-zero."""
    count, callback, context, flags = machine.regs[1] & 0xFFFFFFFF, machine.regs[2], machine.regs[3], machine.regs[4]
    if flags:
        return -errno.EINVAL
    if count > MAX_LOOPS:
        return -errno.E2BIG
    for i in range(count):
        if machine.invoke(callback, [i, context], pc):
            return i + 1
    return count


def check_mtu(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    """Whether the packet, r4 bytes longer (or *r3 bytes of L3 where *r3 is
    not 0), fits interface r2's MTU (0: the one it came in on); *r3 gets the
    MTU. 0 when it fits, BPF_MTU_CHK_RET_FRAG_NEEDED (1) when not, as the
    kernel's XDP variant has it."""
    r = machine.regs
    ifindex, where, flags = r[2] & 0xFFFFFFFF, r[3], r[5]
    if flags:
        return -errno.EINVAL
    # The interface a packet came in on is there, whatever the table says.
    mtu = ctx.routes.mtu(ifindex) if ifindex else ctx.routes.mtu(ctx.inp.ingress_ifindex) or DEFAULT_MTU
    if mtu is None:
        return -errno.ENODEV
    given = machine.memory.read(where, 4, pc)
    length = (given + ETH_HLEN if given else ctx.data_end - ctx.data) + sign_extend(r[4], 32)
    machine.memory.write(where, 4, mtu, pc)
    return int(length > mtu + ETH_HLEN)


def ringbuf_output(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    m = _map(ctx, machine, pc)
    if not isinstance(m, RingBufMap):
        raise ExecutionFault(pc, f"bpf_ringbuf_output: map {m.name} is a {m.d.type.name.lower()}, not a ringbuf")
    return m.output(_read(machine, machine.regs[2], machine.regs[3] & 0xFFFFFFFF, pc), machine.regs[4])


def ktime_get_ns(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return ctx.clock_ns


def jiffies64(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return ctx.clock_ns // 4_000_000  # HZ = 250


_FORMAT = re.compile(r"%([-+ 0#]*\d*)(ll|l|h|hh|z)?([diuxXpsc%])")


def trace_printk(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    size = machine.regs[2]
    fmt = _read(machine, machine.regs[1], size, pc).split(b"\0", 1)[0].decode(errors="replace")
    args = iter(machine.regs[3:6])

    def one(match: re.Match) -> str:
        flags, length, conv = match.groups()
        if conv == "%":
            return "%"
        value = next(args, 0)
        bits = 64 if length in ("ll", "l", "z") else 32
        value &= (1 << bits) - 1
        if conv in "di":
            value = value - (1 << bits) if value >> (bits - 1) else value
            return ("%" + flags + "d") % value
        if conv == "u":
            return ("%" + flags + "d") % value
        if conv in "xX":
            return ("%" + flags + conv) % value
        if conv == "p":
            return f"{value:#x}"
        if conv == "c":
            return chr(value & 0xFF)
        raw = machine.memory.read_bytes(value, 1, pc)
        text = bytearray()
        while raw != b"\0" and len(text) < 256:
            text += raw
            raw = machine.memory.read_bytes(value + len(text), 1, pc)
        return text.decode(errors="replace")
    line = _FORMAT.sub(one, fmt)
    ctx.trace.append(line.rstrip("\n"))
    return len(line)


def get_prandom_u32(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return ctx.random.getrandbits(32)


def get_smp_processor_id(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return ctx.cpu


def get_numa_node_id(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return 0


def tail_call(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    m = ctx.maps.from_handle(machine.regs[2])
    if not isinstance(m, ProgArray):
        raise ExecutionFault(pc, "bpf_tail_call: r2 is not a prog_array map")
    program = m.programs.get(machine.regs[3] & 0xFFFFFFFF)
    if program is None or machine.tail_calls >= MAX_TAIL_CALLS:
        return -errno.ENOENT & M64
    raise TailCall(program)


def redirect(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    ifindex, flags = machine.regs[1] & 0xFFFFFFFF, machine.regs[2]
    if flags:
        return XdpAction.ABORTED
    ctx.set_redirect(ifindex, None)
    return XdpAction.REDIRECT


def redirect_map(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    m = _map(ctx, machine, pc)
    if m.d.type not in (MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP):
        raise ExecutionFault(pc, f"bpf_redirect_map: map {m.name} is a {m.d.type.name.lower()}, "
                                 "not a devmap, cpumap or xskmap")
    key_value = machine.regs[2] & 0xFFFFFFFF
    flags = machine.regs[3]
    key = key_value.to_bytes(m.d.key_size, "little")
    slot = m.find(key)
    if slot is None:
        return flags & 0x3
    value = m.value(slot)
    ifindex = int.from_bytes(value[:4], "little") if m.d.type in (MapType.DEVMAP, MapType.DEVMAP_HASH) \
        else None
    ctx.set_redirect(key_value, m.name, ifindex)
    return XdpAction.REDIRECT


def csum_diff(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    r = machine.regs
    from_size, to_size, seed = r[2] & 0xFFFFFFFF, r[4] & 0xFFFFFFFF, r[5] & 0xFFFFFFFF
    if from_size % 4 or to_size % 4 or from_size + to_size > 512:
        return -errno.EINVAL & M64
    removed = _read(machine, r[1], from_size, pc) if from_size else b""
    added = _read(machine, r[3], to_size, pc) if to_size else b""
    # As the kernel computes it: partial sums of each side, then the result
    # folded to 16 bits so that it is the same on every architecture.
    if removed and added:
        total = _csum_add(_csum_partial(added, seed), ~_csum_partial(removed, 0) & 0xFFFFFFFF)
    elif added:
        total = _csum_partial(added, seed)
    else:
        total = ~_csum_partial(removed, ~seed & 0xFFFFFFFF) & 0xFFFFFFFF
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _csum_add(a: int, b: int) -> int:
    """32-bit one's-complement addition."""
    total = a + b
    return (total & 0xFFFFFFFF) + (total >> 32)


def _csum_partial(data: bytes, seed: int) -> int:
    """The kernel's csum_partial: a 32-bit one's-complement sum of 32-bit words."""
    total = seed
    for i in range(0, len(data), 4):
        total = _csum_add(total, int.from_bytes(data[i:i + 4], "little"))
    return total


def xdp_adjust_head(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return ctx.adjust_head(sign_extend(machine.regs[2], 32))


def xdp_adjust_meta(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return ctx.adjust_meta(sign_extend(machine.regs[2], 32))


def xdp_adjust_tail(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return ctx.adjust_tail(sign_extend(machine.regs[2], 32))


def xdp_get_buff_len(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    return ctx.data_end - ctx.data


def _packet_span(ctx: "PacketContext", machine: Machine) -> tuple[int, int, int] | int:
    """(frame offset, buffer, bytes) of an xdp_load/store_bytes call, or
    its error: offsets and lengths past 16 bits fault, a span past the
    packet's end is invalid, as the kernel's bpf_xdp_pointer has it."""
    offset, buf, size = machine.regs[2] & 0xFFFFFFFF, machine.regs[3], machine.regs[4] & 0xFFFFFFFF
    if offset > 0xFFFF or size > 0xFFFF:
        return -errno.EFAULT
    if offset + size > ctx.data_end - ctx.data:
        return -errno.EINVAL
    return ctx.data + offset, buf, size


def xdp_load_bytes(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    span = _packet_span(ctx, machine)
    if isinstance(span, int):
        return span
    at, buf, size = span
    machine.memory.write_bytes(buf, bytes(ctx.frame[at:at + size]), pc)
    return 0


def xdp_store_bytes(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    span = _packet_span(ctx, machine)
    if isinstance(span, int):
        return span
    at, buf, size = span
    ctx.frame[at:at + size] = _read(machine, buf, size, pc)
    return 0


def fib_lookup_helper(ctx: "PacketContext", machine: Machine, pc: int) -> int:
    addr, size, flags = machine.regs[2], machine.regs[3] & 0xFFFFFFFF, machine.regs[4]
    if size < FIB_PARAMS_SIZE:
        return -errno.EINVAL & M64
    params = bytearray(_read(machine, addr, FIB_PARAMS_SIZE, pc))
    rc = fib_lookup(ctx.routes, params, flags)
    machine.memory.write_bytes(addr, bytes(params), pc)
    return rc & M64


HELPERS: dict[int, Helper] = {
    HelperId.MAP_LOOKUP_ELEM: map_lookup_elem,
    HelperId.MAP_UPDATE_ELEM: map_update_elem,
    HelperId.MAP_DELETE_ELEM: map_delete_elem,
    HelperId.KTIME_GET_NS: ktime_get_ns,
    HelperId.KTIME_GET_BOOT_NS: ktime_get_ns,
    HelperId.TRACE_PRINTK: trace_printk,
    HelperId.GET_PRANDOM_U32: get_prandom_u32,
    HelperId.GET_SMP_PROCESSOR_ID: get_smp_processor_id,
    HelperId.GET_NUMA_NODE_ID: get_numa_node_id,
    HelperId.TAIL_CALL: tail_call,
    HelperId.REDIRECT: redirect,
    HelperId.CSUM_DIFF: csum_diff,
    HelperId.XDP_ADJUST_HEAD: xdp_adjust_head,
    HelperId.REDIRECT_MAP: redirect_map,
    HelperId.XDP_ADJUST_META: xdp_adjust_meta,
    HelperId.XDP_ADJUST_TAIL: xdp_adjust_tail,
    HelperId.FIB_LOOKUP: fib_lookup_helper,
    HelperId.JIFFIES64: jiffies64,
    HelperId.MAP_PUSH_ELEM: map_push_elem,
    HelperId.MAP_POP_ELEM: map_pop_elem,
    HelperId.MAP_PEEK_ELEM: map_peek_elem,
    HelperId.SPIN_LOCK: spin_lock,
    HelperId.SPIN_UNLOCK: spin_unlock,
    HelperId.RINGBUF_OUTPUT: ringbuf_output,
    HelperId.LOOP: loop,
    HelperId.CHECK_MTU: check_mtu,
    HelperId.XDP_GET_BUFF_LEN: xdp_get_buff_len,
    HelperId.XDP_LOAD_BYTES: xdp_load_bytes,
    HelperId.XDP_STORE_BYTES: xdp_store_bytes,
}

SUPPORTED_HELPERS = frozenset(int(h) for h in HELPERS)

# How many argument registers (r1...) each helper reads; the compiler's
# liveness needs it. trace_printk takes up to three values after its format.
ARITY: dict[int, int] = {
    HelperId.MAP_LOOKUP_ELEM: 2, HelperId.MAP_UPDATE_ELEM: 4, HelperId.MAP_DELETE_ELEM: 2,
    HelperId.KTIME_GET_NS: 0, HelperId.KTIME_GET_BOOT_NS: 0, HelperId.TRACE_PRINTK: 5,
    HelperId.GET_PRANDOM_U32: 0, HelperId.GET_SMP_PROCESSOR_ID: 0, HelperId.GET_NUMA_NODE_ID: 0,
    HelperId.TAIL_CALL: 3, HelperId.REDIRECT: 2, HelperId.CSUM_DIFF: 5, HelperId.XDP_ADJUST_HEAD: 2,
    HelperId.REDIRECT_MAP: 3, HelperId.XDP_ADJUST_META: 2, HelperId.XDP_ADJUST_TAIL: 2,
    HelperId.FIB_LOOKUP: 4, HelperId.JIFFIES64: 0, HelperId.XDP_GET_BUFF_LEN: 1, HelperId.XDP_LOAD_BYTES: 4,
    HelperId.XDP_STORE_BYTES: 4, HelperId.MAP_PUSH_ELEM: 3, HelperId.MAP_POP_ELEM: 2, HelperId.MAP_PEEK_ELEM: 2,
    HelperId.RINGBUF_OUTPUT: 4, HelperId.SPIN_LOCK: 1, HelperId.SPIN_UNLOCK: 1,
    HelperId.LOOP: 4, HelperId.CHECK_MTU: 5,
}

# The helpers that move the packet's bounds.
PACKET_HELPERS = frozenset({HelperId.XDP_ADJUST_HEAD, HelperId.XDP_ADJUST_META, HelperId.XDP_ADJUST_TAIL})

# The helpers that write memory the program passes them a pointer to (the
# stack, for instance); the others leave the program's memory alone.
WRITES_THROUGH_ARGUMENTS = frozenset({HelperId.FIB_LOOKUP, HelperId.XDP_LOAD_BYTES, HelperId.MAP_POP_ELEM,
                                      HelperId.MAP_PEEK_ELEM, HelperId.SPIN_LOCK, HelperId.SPIN_UNLOCK,
                                      HelperId.CHECK_MTU})

# The helpers that read memory through a pointer argument; the others read
# only their registers.
READS_THROUGH_ARGUMENTS = frozenset({HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM,
                                     HelperId.MAP_DELETE_ELEM, HelperId.CSUM_DIFF, HelperId.FIB_LOOKUP,
                                     HelperId.TRACE_PRINTK, HelperId.XDP_STORE_BYTES, HelperId.MAP_PUSH_ELEM,
                                     HelperId.RINGBUF_OUTPUT, HelperId.CHECK_MTU})


def call_helper(ctx: "PacketContext", machine: Machine, helper_id: int, pc: int) -> int:
    helper = HELPERS.get(helper_id)
    if helper is None:
        raise ExecutionFault(pc, f"call to helper {helper_id}, which hxdp does not provide")
    return helper(ctx, machine, pc) & M64
