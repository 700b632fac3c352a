"""How long a helper call holds the core: the helper unit's timing.

A lookup in an array, a redirect and a change of the packet's bounds give
r0 ``Latency.helper`` cycles after the call and let the next rows issue
meanwhile (the bounds are new for the row after the call). A hash map's lookup, update and delete
hold the core (no row issues) until r0 is written, in cycles counted from
the call's issue (cycle 0), one memory word a cycle:

* cycles 0 to w-1 read the key's w words; cycle w+1 hashes them and cycle
  w+2 finds the home slot's record; from cycle w+3 the unit reads a record's
  header and then its key words, one a cycle, and checks each word two
  cycles after it is read: a probe's header is checked in cycle w+5, and
  each stored key word compared in the cycles after (`hashtable.Probe.reads`
  counts both); a probe that is not the key's (another key's header, a
  deleted slot, a key word that differs) restarts the reads at the next
  slot, whose header is checked two cycles after the one that differed; the
  probe that finds the key or an empty slot, or the last of all S slots,
  decides in cycle T = w + 3 + (every probe's reads) + (the probes);
* a lookup, an update that fails (its flags, or a full map) and a delete
  of a missing key write r0 at the end of T;
* a delete writes the slot's header in T+1; an update copies the value's v
  words (reads from T+1, writes from T+2), an insert then writes the header
  and the key's w words; r0 is written with the last write;
* an insert into a per-CPU map on N cores zeroes the other cores' copies of
  the value between the copy and the header, v words each: (N - 1) v cycles;
* an LRU map also writes the header of a key it finds (with its new use
  stamp): in T+1 for a lookup, after the value for an update; an insert
  into a full LRU map first reads every one of the S headers (from T+1,
  each checked two cycles after it is read) and marks the oldest deleted,
  S + 3 cycles, before it copies the value;
* an LPM map's lookup (w = 1) takes cycle w+1 to find the prefix lengths
  to try, those the map holds up to the key's own, longest first. Rounds
  are prepared ahead, a stage a cycle (the key cut to a length, its hash,
  its home record): the first round's home header is read in cycle w+5 and
  decides w+5 + reads + probes; each next round's home header is read in
  the cycle the round before it decided without the key, and decides as
  many cycles after. The round that finds the key, or the last, decides
  the lookup; with no length to try, r0 is written in cycle w+2. (The
  helper unit does not update or delete LPM keys: the host does, between
  packets.)

bpf_xdp_adjust_tail growing the packet holds the core while it zeroes the
new bytes, 8 a cycle from cycle 2 (after the call row's own stores); r0
comes with the last.

The next row issues in the cycle after r0 is written (``hold`` cycles after
the call).
"""

from __future__ import annotations

from ..ebpf.hashtable import Probe
from ..ebpf.helpers import HelperId
from ..ebpf.isa import sign_extend
from ..ebpf.maps import HashMap, LpmTrieMap, UpdateFlag
from ..ebpf.memory import Memory, MemoryFault
from ..ebpf.runtime import ETH_HLEN, FRAME_SIZE
from ..ebpf.xdp import TAILROOM

__all__ = ["helper_hold", "HOLDING_HELPERS"]

HOLDING_HELPERS = frozenset({HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM, HelperId.MAP_DELETE_ELEM})


def helper_hold(number: int, env, regs: list[int], memory: Memory, cores: int) -> int | None:
    """Cycles from the call's issue to the next row's, for a call that holds
    the core; None for one that does not. ``env``: the core's environment
    (an `XdpRuntime` has the maps and the packet); ``cores``: the engine's."""
    if number == HelperId.XDP_ADJUST_TAIL:
        return _grow_tail_hold(getattr(env, "packet", None), sign_extend(regs[2], 32))
    maps = getattr(env, "maps", None)
    if number not in HOLDING_HELPERS or maps is None:
        return None
    m = maps.from_handle(regs[1])
    if not isinstance(m, HashMap) or m.table is None:
        return None
    try:
        key = memory.read_bytes(regs[2], m.d.key_size)
    except MemoryFault:
        return None                   # the helper faults, as it runs
    words = m.table.geometry.key_words
    if isinstance(m, LpmTrieMap):
        return _lpm_lookup_hold(m, key, words) if number == HelperId.MAP_LOOKUP_ELEM else None
    probe = m.table.probe(key)
    decided = words + 3 + _probe_cycles(probe)      # the home header is read in cycle w+3
    found = probe.slot is not None
    if number == HelperId.MAP_LOOKUP_ELEM:
        return decided + (2 if found and m.lru else 1)
    if number == HelperId.MAP_DELETE_ELEM:
        return decided + (2 if found else 1)
    flags = regs[4]
    value_words = -(-m.d.value_size // 8)
    evicts = 0
    if found:
        fails = flags not in (UpdateFlag.ANY, UpdateFlag.EXIST)
        writes = value_words + m.lru
    else:
        full = len(m.slots) >= m.d.max_entries
        fails = flags not in (UpdateFlag.ANY, UpdateFlag.NOEXIST) or full and not m.lru
        writes = value_words + 1 + words + (cores - 1) * value_words * m.per_cpu
        if full and m.lru:
            evicts = m.table.geometry.slots + 3
    return decided + 1 if fails else decided + 1 + evicts + 1 + writes


def _grow_tail_hold(packet, delta: int) -> int | None:
    if packet is None or delta <= 0:
        return None
    end = packet.data_end + delta
    if end > FRAME_SIZE - TAILROOM or end - packet.data < ETH_HLEN:
        return None
    return -(-delta // 8) + 2


def _probe_cycles(probe: Probe) -> int:
    """From the cycle the home header is read to the probe's decision."""
    return sum(probe.reads) + len(probe.reads)


def _lpm_lookup_hold(m: LpmTrieMap, key: bytes, words: int) -> int:
    lengths = words + 1
    rounds = [prefix for prefix in m.lengths() if prefix <= m.limit(key)]
    asked = lengths + 4                 # the first round's home header
    for n, prefix in enumerate(rounds, 1):
        probe = m.table.probe(m.masked(key, prefix))
        decided = asked + _probe_cycles(probe)
        if probe.slot is not None or n == len(rounds):
            return decided + 1
        asked = decided
    return lengths + 2
