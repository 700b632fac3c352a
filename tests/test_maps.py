"""Maps against the kernel's documented semantics and a plain Python model."""

from __future__ import annotations

import errno
from collections import OrderedDict

import pytest
from hypothesis import given, strategies as st

from hxdp.ebpf.maps import BPF_F_NO_PREALLOC, UpdateFlag, make_map
from hxdp.ebpf.memory import Memory
from hxdp.ebpf.program import MapDef, MapType
from hxdp.errors import HxdpError


def new(mtype: MapType, key=4, value=8, entries=4, flags=0, cpus=1):
    m = make_map(MapDef("m", mtype, key, value, entries, flags), cpus)
    m.attach(Memory(), 0)
    return m


def k(i: int) -> bytes:
    return i.to_bytes(4, "little")


def test_array_flags_and_delete():
    m = new(MapType.ARRAY)
    assert m.update(k(1), b"\1" * 8, UpdateFlag.NOEXIST) == -errno.EEXIST
    assert m.update(k(1), b"\1" * 8, UpdateFlag.EXIST) == 0
    assert m.update(k(4), b"\1" * 8) == -errno.E2BIG
    assert m.delete(k(1)) == -errno.EINVAL
    assert m.value(m.find(k(1))) == b"\1" * 8 and m.find(k(4)) is None


def test_hash_flags_full_and_delete():
    m = new(MapType.HASH, entries=2)
    assert m.update(k(1), bytes(8), UpdateFlag.EXIST) == -errno.ENOENT
    assert m.update(k(1), bytes(8)) == 0
    assert m.update(k(1), bytes(8), UpdateFlag.NOEXIST) == -errno.EEXIST
    assert m.update(k(2), bytes(8)) == 0
    assert m.update(k(3), bytes(8)) == -errno.E2BIG
    assert m.delete(k(3)) == -errno.ENOENT
    assert m.delete(k(1)) == 0 and m.update(k(3), bytes(8)) == 0


def test_lru_evicts_the_least_recently_used():
    m = new(MapType.LRU_HASH, entries=3)
    for i in (1, 2, 3):
        m.update(k(i), bytes(8))
    m.find(k(1))                       # 2 is now the oldest
    m.update(k(4), bytes(8))
    assert set(m.dump()) == {k(1), k(3), k(4)}


def test_lpm_longest_prefix_wins():
    m = new(MapType.LPM_TRIE, key=8, value=4, entries=8, flags=BPF_F_NO_PREALLOC)
    def key(length, addr):
        return length.to_bytes(4, "little") + bytes(map(int, addr.split(".")))
    assert m.update(key(8, "10.0.0.0"), k(8)) == 0
    assert m.update(key(24, "10.1.2.99"), k(24)) == 0     # host bits are ignored
    assert m.update(key(33, "10.0.0.0"), k(0)) == -errno.EINVAL
    assert m.value(m.find(key(32, "10.1.2.3")), 0) == k(24)
    assert m.value(m.find(key(32, "10.9.9.9")), 0) == k(8)
    assert m.find(key(32, "11.0.0.1")) is None
    assert m.delete(key(24, "10.1.2.0")) == 0
    assert m.value(m.find(key(32, "10.1.2.3")), 0) == k(8)


def test_lpm_needs_no_prealloc():
    with pytest.raises(HxdpError, match="BPF_F_NO_PREALLOC"):
        new(MapType.LPM_TRIE, key=8)


def test_percpu_values_are_separate():
    m = new(MapType.PERCPU_ARRAY, cpus=2)
    m.update(k(0), (5).to_bytes(8, "little"), cpu=1)
    assert m.all_cpus(0) == bytes(8) + (5).to_bytes(8, "little")
    assert m.address(0, 0) != m.address(0, 1)


def test_unsupported_type_is_named():
    with pytest.raises(HxdpError, match="perf_event_array"):
        new(MapType.PERF_EVENT_ARRAY)


operations = st.lists(st.tuples(st.sampled_from(["update", "delete", "find"]), st.integers(0, 7),
                                st.sampled_from([0, 1, 2]), st.integers(0, 255)), max_size=60)


@given(operations, st.booleans())
def test_hash_and_lru_follow_a_simple_model(ops, lru):
    m = new(MapType.LRU_HASH if lru else MapType.HASH, entries=4)
    model: OrderedDict[int, int] = OrderedDict()
    for op, key, flags, value in ops:
        if op == "update":
            exists = key in model
            want = -errno.EEXIST if exists and flags == 1 else -errno.ENOENT if not exists and flags == 2 else 0
            if want == 0 and not exists and len(model) == 4:
                if lru:
                    model.popitem(last=False)
                else:
                    want = -errno.E2BIG
            assert m.update(k(key), bytes([value]) * 8, flags) == want
            if want == 0:
                model[key] = value
                model.move_to_end(key)
        elif op == "delete":
            assert m.delete(k(key)) == (0 if model.pop(key, None) is not None else -errno.ENOENT)
        else:
            slot = m.find(k(key))
            assert (slot is not None) == (key in model)
            if slot is not None:
                assert m.value(slot) == bytes([model[key]]) * 8
                model.move_to_end(key)
    assert {kk: v[0] for kk, v in m.dump().items()} == {k(i): v for i, v in model.items()}


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=200), st.integers(1, 24))
def test_hash_tables_probe_to_every_key_they_hold(ops, entries):
    """Random inserts and deletes: every key present is found by probing
    from its home slot, in its own slot, and no absent key is; no two keys
    share a slot, and a probe never reads more than the table."""
    from hxdp.ebpf.hashtable import HashGeometry, HashTable
    table = HashTable(HashGeometry(12, entries))
    held: dict[bytes, int] = {}
    for insert, n in ops:
        key = n.to_bytes(12, "little")
        probe = table.probe(key)
        assert probe.slot == held.get(key)
        assert len(probe.reads) <= table.geometry.slots
        if insert and key not in held and len(held) < entries:
            assert probe.free is not None
            table.put(probe.free, key)
            held[key] = probe.free
        elif not insert and key in held:
            table.remove(held.pop(key))
    assert len(set(held.values())) == len(held)
    for key, slot in held.items():
        assert table.probe(key).slot == slot


def test_colliding_keys_take_the_next_free_slots_and_cost_a_probe_each():
    from hxdp.ebpf.hashtable import HashGeometry, HashTable, key_hash
    g = HashGeometry(4, 64)
    by_home: dict[int, list[bytes]] = {}
    for n in range(2000):
        key = k(n)
        by_home.setdefault(g.home(key_hash(key)), []).append(key)
    home, keys = next((h, ks) for h, ks in sorted(by_home.items()) if len(ks) >= 3)
    table = HashTable(g)
    for i, key in enumerate(keys[:3]):
        probe = table.probe(key)
        assert (probe.slot, probe.free, len(probe.reads)) == (None, (home + i) % g.slots, i + 1)
        table.put(probe.free, key)
    table.remove(table.probe(keys[0]).slot)
    probe = table.probe(keys[2])
    # The deleted slot and the other key (another hash) cost a header each; its own slot the key too.
    assert (probe.slot, probe.free, probe.reads) == ((home + 2) % g.slots, home, [1, 1, 2])
