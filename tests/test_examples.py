"""Every example builds from C, loads, and does on its traffic what its
scenario (computed independently of any engine) says; where the kernel can
run XDP programs, interpreter and kernel agree packet by packet and on the
final maps. Scapy checks the expected packets themselves."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest

from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import MapType
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.packets import ETH_HLEN, udp_frame
from hxdp.scenario import Scenario, load_module, load_scenario, u32
from hxdp.toolchain import compile_c

from .conftest import EXAMPLES, record_kernel_packets

EXAMPLE_PROGRAMS = sorted(EXAMPLES.glob("*.c"))
PER_CPU = (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH)


def _ids(path: Path) -> str:
    return path.stem


def _run(engine, scenario: Scenario, packets: list[XdpInput]):
    for entry in scenario.setup:
        engine.update_map(entry.map, entry.key, entry.value)
    results = [engine.run(p) for p in packets]
    return results, engine.dump_maps()


@pytest.mark.parametrize("path", EXAMPLE_PROGRAMS, ids=_ids)
def test_example_compiles_to_an_object(path: Path):
    obj = compile_c(path)
    assert obj.read_bytes()[:4] == b"\x7fELF"


@pytest.mark.parametrize("path", EXAMPLE_PROGRAMS, ids=_ids)
def test_example_on_interpreter(path: Path):
    program = load_program(path)
    assert program.license == "GPL"
    scenario = load_scenario(path)
    assert scenario is not None, f"{path.stem} has no traffic module"
    assert 10 <= len(scenario.packets) <= 40
    results, maps = _run(XdpRuntime(program, routes=scenario.routes), scenario, scenario.packets)
    assert not [r.fault for r in results if r.fault]
    assert all(r.redirect is not None for r in results if r.action == XdpAction.REDIRECT), \
        "redirect without a target"
    problems = scenario.problems(results, maps)
    assert not problems, "\n".join(problems)


def test_pcaps_match_the_scenarios():
    make_pcaps = load_module(EXAMPLES / "make_pcaps.py")
    assert make_pcaps.main(["--check"]) == 0, "run python examples/make_pcaps.py"


def test_scenario_problems_catch_a_wrong_engine():
    """The expectations are not vacuous: a program that passes everything fails
    the firewall's scenario on verdicts and on maps."""
    scenario = load_scenario(EXAMPLES / "firewall.c")
    lazy = XdpRuntime(load_program(EXAMPLES / "xdp_pass.c"))
    results = [lazy.run(p) for p in scenario.packets]
    problems = scenario.problems(results, {"flows": {}, "stats": {}})
    assert any("XDP_PASS, expected XDP_DROP" in p for p in problems)
    assert any(p.startswith("stats[") for p in problems)


def test_router_follows_the_longest_prefix_for_any_destination():
    """Random destinations and TTLs against a longest-prefix match done with
    the ipaddress module."""
    router = load_module(EXAMPLES / "router_ipv4.py")
    engine = XdpRuntime(load_program(EXAMPLES / "router_ipv4.c"))
    for entry in router.setup():
        engine.update_map(entry.map, entry.key, entry.value)
    networks = [ipaddress.ip_network(prefix) for prefix in router.ROUTES]
    rng = random.Random(1)
    for _ in range(150):
        net = rng.choice(networks)
        dst = net[rng.randrange(net.num_addresses)] if rng.random() < 0.7 else \
            ipaddress.IPv4Address(rng.getrandbits(32))
        frame = udp_frame("172.16.0.1", str(dst), 7, 9, ttl=rng.choice([0, 1, 2, 64, 255]))
        result = engine.run(XdpInput(frame))
        best = max((n for n in networks if dst in n), key=lambda n: n.prefixlen, default=None)
        if frame[22] <= 1 or best is None:
            assert result.action == XdpAction.DROP, f"{dst} ttl {frame[22]}"
        elif router.ROUTES[str(best)][1] == router.UNPLUGGED_PORT:
            assert result.action == XdpAction.ABORTED, str(dst)
        else:
            assert (result.action, result.packet) == (XdpAction.REDIRECT, router.routed(frame, str(best))), str(dst)
            assert result.redirect.key == router.ROUTES[str(best)][1]


def test_load_balancer_spreads_new_flows_by_the_documented_hash():
    """Random clients of both VIPs go to the real server the Python hash and
    Maglev ring pick, and stay there when the ring would pick another."""
    lb = load_module(EXAMPLES / "load_balancer.py")
    engine = XdpRuntime(load_program(EXAMPLES / "load_balancer.c"))
    for entry in lb.setup({}):
        engine.update_map(entry.map, entry.key, entry.value)
    rng = random.Random(2)
    chosen: dict[int, int] = {}
    for _ in range(80):
        num = rng.choice(list(lb.VIPS))
        addr, port, proto, _ = lb.VIPS[num]
        flow = (str(ipaddress.IPv4Address(rng.getrandbits(32))), addr, rng.randrange(1, 65536), port, proto)
        frame = lb.frame_of(flow, b"x")
        real = lb.ring_choice(num, flow)
        chosen[real] = chosen.get(real, 0) + 1
        result = engine.run(XdpInput(frame))
        assert (result.action, result.packet) == (XdpAction.TX, lb.encapsulated(frame, real)), flow
    assert set(chosen) == {r for v in lb.VIPS.values() for r in v[3]}, "every real server gets flows"
    # A flow already known keeps its server even when the ring is rebuilt without it.
    flow = ("198.51.100.1", lb.VIPS[0][0], 4242, 80, lb.TCP)
    frame = lb.frame_of(flow)
    first = engine.run(XdpInput(frame)).packet
    for pos in range(lb.RING_SIZE):
        engine.update_map("ring", u32(pos), u32(9))
    assert engine.run(XdpInput(frame)).packet == first


# -- the expected packets, read by scapy --------------------------------------

def _expected_outputs() -> list[tuple[str, int, bytes, bytes]]:
    """(example, packet number, input, expected output) for every packet an
    example rewrites."""
    out = []
    for path in EXAMPLE_PROGRAMS:
        scenario = load_scenario(path)
        for i, (inp, exp) in enumerate(zip(scenario.packets, scenario.expect)):
            if exp.packet is not None and exp.packet != inp.packet:
                out.append((path.stem, i, inp.packet, exp.packet))
    return out


def _checksums_hold(scapy, frame: bytes) -> int:
    """How many IPv4, TCP, UDP and ICMP checksums scapy recomputes in
    ``frame`` (quoted headers inside ICMP errors excepted); 0 when one of
    them differs from the one written."""
    quoted = (scapy.IPerror, scapy.TCPerror, scapy.UDPerror, scapy.ICMPerror)
    summed = (scapy.IP, scapy.TCP, scapy.UDP, scapy.ICMP)
    pkt = scapy.Ether(frame)
    layer, count = pkt, 0
    while layer and not isinstance(layer, scapy.NoPayload):
        if isinstance(layer, summed) and not isinstance(layer, quoted):
            del layer.chksum
            count += 1
        layer = layer.payload
    return count if bytes(pkt) == frame else 0


def test_rewritten_packets_have_valid_checksums():
    """Every packet an example rewrites, from an input whose checksums hold,
    comes out with checksums scapy agrees with."""
    scapy = pytest.importorskip("scapy.all")
    checked = 0
    for name, i, inp, frame in _expected_outputs():
        if _checksums_hold(scapy, inp):
            count = _checksums_hold(scapy, frame)
            assert count, f"{name} packet {i}: {scapy.Ether(frame).summary()}"
            checked += count
    assert checked > 100


def test_encapsulated_packets_carry_the_original_unchanged():
    """Load balancer and tunnel: the outer header holds exactly the packet that
    came in, and the outer Ethernet header leaves from the MAC it came to."""
    scapy = pytest.importorskip("scapy.all")
    seen = set()
    for name, i, inp, frame in _expected_outputs():
        if name not in ("load_balancer", "tx_ip_tunnel"):
            continue
        pkt = scapy.Ether(frame)
        outer = pkt[scapy.IP] if scapy.IP in pkt else pkt[scapy.IPv6]
        assert bytes(outer.payload) == inp[ETH_HLEN:], f"{name} packet {i}"
        assert (outer.proto if isinstance(outer, scapy.IP) else outer.nh) in (4, 41)
        assert pkt.src == scapy.Ether(inp).dst
        seen.add((name, type(outer).__name__))
    assert seen == {("load_balancer", "IP"), ("tx_ip_tunnel", "IP"), ("tx_ip_tunnel", "IPv6")}


def test_router_and_icmp_replies_read_back():
    scapy = pytest.importorskip("scapy.all")
    replies = routed = 0
    for name, i, inp, frame in _expected_outputs():
        before, after = scapy.Ether(inp), scapy.Ether(frame)
        if name == "router_ipv4":
            assert after[scapy.IP].ttl == before[scapy.IP].ttl - 1
            assert bytes(after[scapy.IP].payload) == bytes(before[scapy.IP].payload)
            routed += 1
        elif name == "adjust_tail":
            icmp = after[scapy.ICMP]
            assert (icmp.type, icmp.code, icmp.nexthopmtu) == (3, 4, 586)
            assert (after[scapy.IP].src, after[scapy.IP].dst) == (before[scapy.IP].dst, before[scapy.IP].src)
            assert bytes(icmp.payload) == inp[ETH_HLEN:ETH_HLEN + 48]
            replies += 1
    assert routed >= 10 and replies >= 5


# -- interpreter against kernel -----------------------------------------------

def _rx_queues() -> dict[int, int]:
    """ifindex -> number of rx queues of this machine's network devices."""
    out = {}
    for dev in Path("/sys/class/net").glob("*"):
        try:
            ifindex = int((dev / "ifindex").read_text())
        except (OSError, ValueError):
            continue
        out[ifindex] = len(list((dev / "queues").glob("rx-*")))
    return out


def _kernel_can_take(packet: XdpInput, queues: dict[int, int]) -> bool:
    """test_run needs the ingress device and its rx queue to exist here."""
    return packet.rx_queue_index < queues.get(packet.ingress_ifindex, 0)


@pytest.mark.kernel
@pytest.mark.parametrize("path", EXAMPLE_PROGRAMS, ids=_ids)
def test_example_interpreter_matches_kernel(path: Path, kernel):
    """Both engines get the packets this machine's devices can receive, from
    the same setup, and must agree on every packet and on the final maps."""
    from hxdp.ebpf.kernel import KernelEngine
    program = load_program(path)
    scenario = load_scenario(path)
    queues = _rx_queues()
    packets = [p for p in scenario.packets if _kernel_can_take(p, queues)]
    assert len(packets) >= len(scenario.packets) // 2, "most of the traffic should reach the kernel"
    with KernelEngine(program) as kern:
        theirs, their_maps = _run(kern, scenario, packets)
    mine, my_maps = _run(XdpRuntime(program, routes=scenario.routes), scenario, packets)
    for i, (a, b) in enumerate(zip(mine, theirs)):
        assert (a.action, a.packet) == (b.action, b.packet), \
            f"packet {i}: interpreter {a.action_name} {a.packet.hex()}\n" \
            f"          kernel      {b.action_name} {b.packet.hex()}"
    _compare_maps(program, my_maps, their_maps)
    record_kernel_packets(len(packets))


def _mutants(scenario: Scenario, seed: int, count: int = 40) -> list[XdpInput]:
    """Damaged copies of a scenario's packets: cut at a random length or with
    a few header bytes changed, to reach the corners of the parsers."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        original = rng.choice(scenario.packets)
        frame = bytearray(original.packet)
        if rng.random() < 0.5:
            del frame[rng.randint(ETH_HLEN, len(frame)):]
        else:
            for _ in range(rng.randint(1, 3)):
                frame[rng.randrange(min(len(frame), 64))] = rng.randrange(256)
        out.append(XdpInput(bytes(frame), original.ingress_ifindex, original.rx_queue_index))
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("path", EXAMPLE_PROGRAMS, ids=_ids)
def test_damaged_traffic_interpreter_matches_kernel(path: Path, kernel):
    """No expectations here: the kernel is the oracle for packets nobody
    wrote an answer for."""
    from hxdp.ebpf.kernel import KernelEngine
    program = load_program(path)
    scenario = load_scenario(path)
    queues = _rx_queues()
    packets = [p for p in _mutants(scenario, seed=sum(path.stem.encode())) if _kernel_can_take(p, queues)]
    with KernelEngine(program) as kern:
        theirs, their_maps = _run(kern, scenario, packets)
    mine, my_maps = _run(XdpRuntime(program, routes=scenario.routes), scenario, packets)
    for i, (p, a, b) in enumerate(zip(packets, mine, theirs)):
        assert (a.action, a.packet) == (b.action, b.packet), \
            f"damaged packet {i} {p.packet.hex()}: interpreter {a.action_name}, kernel {b.action_name}"
    _compare_maps(program, my_maps, their_maps)
    record_kernel_packets(len(packets))


def _compare_maps(program, mine, theirs) -> None:
    for d in program.maps:
        if d.name not in theirs:
            continue
        if d.type in PER_CPU:
            # One CPU here, several there: compare the sums over CPUs, u64 by u64.
            def total(dump):
                return {k: _sum_words(v, d.value_size) for k, v in dump.items()}
            assert total(mine[d.name]) == total(theirs[d.name]), f"map {d.name}"
        else:
            assert mine[d.name] == theirs[d.name], f"map {d.name}"


def _sum_words(value: bytes, value_size: int) -> tuple[int, ...]:
    words = value_size // 8
    totals = [0] * words
    for cpu in range(len(value) // value_size):
        chunk = value[cpu * value_size:(cpu + 1) * value_size]
        for w in range(words):
            totals[w] += int.from_bytes(chunk[w * 8:w * 8 + 8], "little")
    return tuple(totals)
