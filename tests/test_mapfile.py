"""Map files and --map: typed entries in, typed entries out, the same on
every engine; bad entries named."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from hxdp.cli import main
from hxdp.ebpf.ctype import Scalar, Shown, decode, encode
from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import MapType
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.errors import HxdpError
from hxdp.mapfile import apply_settings, map_file, parse_map_option, read_map_file, write_map_file
from hxdp.packets import swap_macs, tcp_frame, udp_frame
from hxdp.run import run_traffic

from .conftest import EXAMPLES, REPO

DATA = REPO / "tests" / "data" / "elsewhere"
BLOCKLIST = DATA / "blocklist.c"
SETUP = DATA / "blocklist.json"


@pytest.fixture(scope="module")
def blocklist():
    return load_program(BLOCKLIST)


def _packets() -> list[tuple[bytes, XdpAction, str]]:
    """Frames for blocklist.c set up by blocklist.json, each with its verdict and why."""
    return [(udp_frame("10.0.0.1", "10.9.9.9", 1, 2), XdpAction.PASS, "rule: allow"),
            (udp_frame("10.0.0.2", "10.9.9.9", 1, 2), XdpAction.DROP, "rule: block"),
            (udp_frame("10.0.0.3", "10.9.9.9", 1, 2), XdpAction.TX, "rule: bounce"),
            (tcp_frame("10.0.0.4", "10.9.9.9", 1, 2), XdpAction.PASS, "rule: only UDP"),
            (udp_frame("10.0.0.4", "10.9.9.9", 1, 2, ttl=5), XdpAction.DROP, "rule: TTL under 10"),
            (udp_frame("10.0.0.4", "10.9.9.9", 1, 2, ttl=10), XdpAction.PASS, "rule: TTL 10"),
            (udp_frame("10.0.0.9", "10.9.9.9", 1, 2), XdpAction.DROP, ".rodata default_block"),
            (udp_frame("10.0.0.1", "10.9.9.9", 1, 2, bytes(1000)), XdpAction.DROP, ".rodata max_len")]


def _engines(kernel_ok: bool) -> list[str]:
    return ["interp", "model", "rtl"] + (["kernel"] if kernel_ok else [])


def test_a_map_file_sets_up_a_libbpf_style_program_alike_on_every_engine(blocklist):
    """Rules keyed by __be32 with enum and bitfield values, a MAC, text, and
    .rodata constants set before load: every engine gives the verdicts the
    rules say, the bounced frame answers from the MAC set, and the counters
    agree."""
    from hxdp.ebpf.kernel import kernel_unavailable_reason
    program, setup = apply_settings(blocklist, read_map_file(SETUP))
    assert [d.initial for d in program.maps if d.name == ".rodata"] != \
        [d.initial for d in blocklist.maps if d.name == ".rodata"]
    frames = _packets()
    bounced = swap_macs(frames[2][0])
    bounced = bounced[:6] + bytes.fromhex("0200000000aa") + bounced[12:]
    maps = {}
    for engine in _engines(kernel_unavailable_reason() is None):
        run = run_traffic(program, [XdpInput(f) for f, _, _ in frames], engine=engine, setup=setup)
        got = [(r.action, why) for r, (_, _, why) in zip(run.results, frames)]
        assert got == [(action, why) for _, action, why in frames], engine
        assert run.results[2].packet == bounced, engine
        counts = run.maps["counts"]
        maps[engine] = {key: sum(int.from_bytes(v[i:i + 8], "little") for i in range(0, len(v), 8))
                        for key, v in counts.items()}
    assert maps["interp"] == {(0).to_bytes(4, "little"): 3, (1).to_bytes(4, "little"): 3,
                              (2).to_bytes(4, "little"): 1}
    assert all(m == maps["interp"] for m in maps.values()), maps


def test_without_the_map_file_the_program_acts_as_built(blocklist):
    run = run_traffic(blocklist, [XdpInput(f) for f, _, _ in _packets()], engine="interp")
    assert {r.action for r in run.results[:-1]} == {XdpAction.PASS}      # no rules, no default block
    assert run.results[-1].action == XdpAction.PASS                       # 1000 bytes < 1514


def test_the_command_line_runs_saves_and_reloads_maps(tmp_path, capsys):
    """hxdp run --maps --save-maps, then hxdp maps on the saved file: the
    counters the traffic left come back as they were, and --map sets one."""
    pcap = tmp_path / "in.pcap"
    from hxdp.pcap import PcapRecord, write_pcap
    write_pcap(pcap, [PcapRecord(f, i * 1e-6) for i, (f, _, _) in enumerate(_packets())])
    saved = tmp_path / "after.json"
    assert main(["run", str(BLOCKLIST), "--pcap", str(pcap), "--maps", str(SETUP), "--save-maps", str(saved),
                 "--engine", "model"]) == 0
    out = capsys.readouterr().out
    assert "10.0.0.2 -> {\"action\": \"BLOCK\", \"log\": 1" in out
    assert "XDP_DROP            4" in out
    data = json.loads(saved.read_text())
    assert data["maps"][".rodata"] == {"max_len": 1000, "default_block": 1}
    assert data["maps"]["counts"] == [{"key": 0, "value": 3}, {"key": 1, "value": 3}, {"key": 2, "value": 1}]
    again = tmp_path / "again.json"
    assert main(["maps", str(BLOCKLIST), "--maps", str(saved), "--map", "counts", "2=7", "-o", str(again)]) == 0
    assert "self (array, __u32 -> struct iface): 1 entries" in capsys.readouterr().out
    assert json.loads(again.read_text())["maps"]["counts"][2] == {"key": 2, "value": 7}
    assert {k: v for k, v in json.loads(again.read_text())["maps"].items() if k != "counts"} == \
        {k: v for k, v in data["maps"].items() if k != "counts"}


@pytest.mark.parametrize("name", ["firewall", "load_balancer", "router_ipv4", "rxq_info", "redirect_map"])
def test_an_examples_maps_saved_after_its_traffic_set_the_same_maps_again(name, tmp_path):
    """The map file written from an engine's maps sets them up again byte
    for byte: hash, LRU, LPM, devmap and per-CPU maps alike."""
    from hxdp.run import load_traffic
    path = EXAMPLES / f"{name}.c"
    traffic = load_traffic(load_program(path), path, None)
    run = run_traffic(traffic.program, traffic.packets, setup=traffic.setup, routes=traffic.routes)
    saved = tmp_path / "maps.json"
    write_map_file(saved, traffic.program, run.maps)
    program, setup = apply_settings(load_program(path), read_map_file(saved))
    fresh = run_traffic(program, [], setup=setup)
    assert fresh.maps == run.maps


# -- the types, on random bytes -------------------------------------------------

def _typed_maps():
    """(program, map) of every map with BTF types among the examples and test programs."""
    out = []
    for path in [*sorted(EXAMPLES.glob("*.c")), BLOCKLIST]:
        program = load_program(path)
        out += [(program, d) for d in program.maps if d.value_type is not None and d.type is not MapType.PROG_ARRAY]
    return out


TYPED = _typed_maps()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(len(TYPED))), st.data())
def test_any_bytes_written_to_a_map_file_read_back_the_same(index, data):
    """Whatever a map holds (padding set, bitfields' spare bits, enum values
    with no name, text without a NUL), its saved entry sets the same bytes."""
    program, d = TYPED[index]
    key = data.draw(st.binary(min_size=d.key_size, max_size=d.key_size)) if d.initial is None else bytes(4)
    value = data.draw(st.binary(min_size=d.value_size, max_size=d.value_size))
    saved = map_file(program, {d.name: {key: value}})["maps"][d.name]
    if saved == []:         # an array entry of zeros: what the array holds unless set
        assert d.type in (MapType.ARRAY, MapType.PERCPU_ARRAY) and not any(value)
        return
    if isinstance(saved, dict):
        from hxdp.mapfile import MapSetting
        settings_ = [MapSetting(d.name, var, v, "test") for var, v in saved.items()]
        program2, _ = apply_settings(program, settings_)
        assert next(m.initial for m in program2.maps if m.name == d.name) == value
        return
    assert encode(d.key_type, saved[0]["key"], "key") == key
    assert encode(d.value_type, saved[0]["value"], "value") == value


def test_the_types_show_as_people_write_them(blocklist):
    rules = next(d for d in blocklist.maps if d.name == "rules")
    assert rules.key_type == Scalar(4, "__be32", big_endian=True, shown=Shown.IPV4)
    value = encode(rules.value_type, {"action": "BOUNCE", "log": 1, "ttl_min": 63}, "value")
    assert value == (2).to_bytes(4, "little") + (1 | 63 << 2).to_bytes(4, "little")
    assert decode(rules.value_type, value) == {"action": "BOUNCE", "log": 1, "only_udp": 0, "ttl_min": 63,
                                               "reserved": 0}
    assert encode(rules.key_type, "10.0.0.1", "key") == bytes([10, 0, 0, 1])
    assert encode(rules.key_type, 0x0A000001, "key") == bytes([10, 0, 0, 1])
    # Hex of the exact size is the bytes as memory holds them, whatever the type.
    assert encode(rules.key_type, "0a000001", "key") == bytes([10, 0, 0, 1])
    iface = next(d for d in blocklist.maps if d.name == "self").value_type
    assert decode(iface, encode(iface, {"mac": "2:0:0:0:0:AA", "name": "eth0"}, "v")) == \
        {"mac": "02:00:00:00:00:aa", "name": "eth0"}


# -- bad entries ------------------------------------------------------------------

@pytest.mark.parametrize("option, message", [
    (("nothing", "1=2"), "--map nothing 1=2: blocklist has no map 'nothing'; its maps: .rodata, rules, self, counts"),
    (("rules", "10.0.0.1"), "--map rules 10.0.0.1: give KEY=VALUE"),
    (("rules", "10.0.0.300={}"), "key: '10.0.0.300' is not an IPv4 address"),
    (("rules", "1={\"action\": \"EXPLODE\"}"),
     "value.action: 'EXPLODE' is not a number or one of ALLOW, BLOCK, BOUNCE, ACTIONS (enum action)"),
    (("rules", "1={\"ttl_min\": 64}"), "value.ttl_min: 64 does not fit __u32 (6 bits): give 0 to 63"),
    (("rules", "1={\"colour\": 1}"),
     "value: struct rule has no field 'colour'; its fields: action, log, only_udp, ttl_min, reserved"),
    (("rules", "0102=0"), "key: '0102' is not a number or an IPv4 address (__be32)"),
    (("self", "0={\"mac\": \"02:00:00\"}"), "value.mac: '02:00:00' is not a MAC address"),
    (("self", "0={\"name\": \"a-very-long-name\"}"), "value.name: 'a-very-long-name' is longer than char[10]"),
    (("self", "1={}"), "--map self 1={}: self: the key is beyond the map's max_entries (1)"),
    (("counts", "0=-1"), "value: -1 does not fit __u64: give 0 to 18446744073709551615"),
    ((".rodata", "max_len=70000"), "max_len: 70000 does not fit __u16: give 0 to 65535"),
    ((".rodata", "min_len=1"), ".rodata: struct .rodata has no field 'min_len'; its fields: max_len, default_block"),
])
def test_a_bad_entry_on_the_command_line_is_named(blocklist, option, message):
    with pytest.raises(HxdpError) as err:
        apply_settings(blocklist, [parse_map_option(*option)])
    assert message in str(err.value) and str(err.value).startswith(f"--map {option[0]} {option[1]}")


def test_a_full_map_names_the_entry_that_did_not_fit(blocklist, tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"maps": {"rules": [{"key": f"10.0.1.{i}", "value": {}} for i in range(9)]}}))
    with pytest.raises(HxdpError, match=r"many.json: maps.rules\[8\]: rules: the map is full: it holds 8 entries"):
        apply_settings(blocklist, read_map_file(path))


@pytest.mark.parametrize("text, message", [
    ("{", "not JSON"),
    ("[]", "a map file is an object with \"maps\""),
    ('{"maps": {"rules": 3}}', "maps.rules: give a list of"),
    ('{"maps": {"rules": [{"key": 1}]}}', "maps.rules[0]: an entry is"),
    ('{"maps": {"rules": [{"key": 1, "value": {}, "colour": 2}]}}', "maps.rules[0]: an entry is"),
    ('{"maps": {"rules": [{"key": 1, "values": [{}]}]}}', "maps.rules[0]: rules is not a per-CPU map"),
    ('{"maps": {"counts": [{"key": 1, "values": [1, 2]}, {"key": 2, "values": [1]}]}}',
     "maps.counts[1]: per-CPU values for 1 CPUs where another entry gives 2"),
    ('{"maps": {".rodata": [{"key": 1, "value": "00"}]}}', "maps..rodata[0]: key: a global-data section has one"),
])
def test_a_bad_map_file_is_named(blocklist, tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(HxdpError) as err:
        apply_settings(blocklist, read_map_file(path))
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_per_cpu_values_set_each_cpu(blocklist, tmp_path):
    path = tmp_path / "cpus.json"
    path.write_text('{"maps": {"counts": [{"key": 1, "values": [5, 6]}]}}')
    program, setup = apply_settings(blocklist, read_map_file(path))
    assert setup[0].value == (5).to_bytes(8, "little") + (6).to_bytes(8, "little")


def test_a_program_without_btf_takes_hex_and_numbers(tmp_path):
    program = load_program(REPO / "tests" / "data" / "maps_kinds.c", section="xdp")
    legacy = next(d for d in program.maps if d.name == "legacy")
    assert legacy.key_type is None
    program, setup = apply_settings(program, [parse_map_option("legacy", "7=00112233445566778899aabbccddeeff")])
    assert setup[0].key == (7).to_bytes(8, "little")
    assert setup[0].value == bytes.fromhex("00112233445566778899aabbccddeeff")
    with pytest.raises(HxdpError, match="value: give 16 bytes as 32 hex digits, not 5"):
        apply_settings(program, [parse_map_option("legacy", "7=5")])
    with pytest.raises(HxdpError, match="--map jumps 0=1: value: a prog array's value names a program of first's "
                                        r"object \(a function or a section\), not 1"):
        apply_settings(program, [parse_map_option("jumps", "0=1")])
    with pytest.raises(HxdpError, match=r"--map outer 0=1: outer \(array_of_maps\) holds maps"):
        apply_settings(program, [parse_map_option("outer", "0=1")])


def test_const_volatile_variables_keep_their_typedefs():
    rodata = next(d for d in load_program(BLOCKLIST).maps if d.name == ".rodata").value_type
    assert [(f.name, f.type, f.offset) for f in rodata.fields] == [("max_len", Scalar(2, "__u16"), 0),
                                                                  ("default_block", Scalar(1, "__u8"), 16)]


def test_sim_and_bench_take_the_map_file_too(tmp_path, capsys):
    from hxdp.pcap import PcapRecord, write_pcap
    pcap = tmp_path / "in.pcap"
    write_pcap(pcap, [PcapRecord(f, i * 1e-6) for i, (f, _, _) in enumerate(_packets())])
    assert main(["sim", str(BLOCKLIST), "--engine", "model", "--pcap", str(pcap), "--maps", str(SETUP)]) == 0
    assert "XDP_DROP                 4" in capsys.readouterr().out
    assert main(["bench", str(BLOCKLIST), "--pcap", str(pcap), "--no-sweep", "--maps", str(SETUP)]) == 0
    plain = capsys.readouterr().out
    assert main(["bench", str(BLOCKLIST), "--pcap", str(pcap), "--no-sweep"]) == 0
    assert capsys.readouterr().out != plain          # the rules change the cycles the packets take
