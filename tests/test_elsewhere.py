"""Programs written the way other XDP projects write them
(tests/data/elsewhere/README.md), built with every C compiler found here,
each with its map file, on every engine: all agree, and the traffic does
what the program says."""

from __future__ import annotations

from pathlib import Path

import pytest

from hxdp.ebpf.elf import load_elf
from hxdp.ebpf.kernel import kernel_unavailable_reason
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.errors import HxdpError
from hxdp.gateware.host import check_supported
from hxdp.compiler.driver import compile_program
from hxdp.mapfile import apply_settings, read_map_file
from hxdp.packets import ethernet, udp_frame
from hxdp.target import Target
from hxdp.toolchain import c_compilers, compile_c

from .conftest import REPO, record_kernel_packets
from .engines import runs_agree

ELSEWHERE = REPO / "tests" / "data" / "elsewhere"
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
IPPROTO_ICMP, IPPROTO_GRE = 1, 47


def _ip(proto: int, vlan=None, size: int = 0) -> bytes:
    from hxdp.packets import ipv4
    return ethernet(ipv4("10.0.0.1", "10.0.0.2", proto, bytes(8 + size)), ETH_P_IP, vlan=vlan)


def _core_traffic() -> tuple[list[XdpInput], list[XdpAction]]:
    frames = [(udp_frame("10.0.0.1", "10.0.0.2", 1, 2), XdpAction.PASS),
              (_ip(IPPROTO_ICMP), XdpAction.DROP),
              (_ip(IPPROTO_GRE, vlan=7), XdpAction.DROP),
              (_ip(IPPROTO_ICMP, vlan=(7, 8, 9, 10)), XdpAction.DROP),
              (_ip(IPPROTO_ICMP, vlan=(7, 8, 9, 10, 11)), XdpAction.PASS),     # past the loop's four tags
              (udp_frame("2001:db8::1", "2001:db8::2", 1, 2, vlan=3), XdpAction.PASS),
              (ethernet(b"", ETH_P_IP), XdpAction.ABORTED)]
    return [XdpInput(f) for f, _ in frames], [a for _, a in frames]


def _legacy_traffic() -> tuple[list[XdpInput], list[XdpAction]]:
    frame = udp_frame("10.0.0.1", "10.0.0.2", 1, 2, bytes(18))                    # 60 bytes
    inputs = [XdpInput(frame, ingress_ifindex=port) for port in (1, 2, 2, 1, 2, 2)]
    return inputs, [XdpAction.PASS] * 5 + [XdpAction.DROP]                          # port 2's budget: 200 bytes


def _blocklist_traffic() -> tuple[list[XdpInput], list[XdpAction]]:
    from .test_mapfile import _packets
    return [XdpInput(f) for f, _, _ in _packets()], [a for _, a, _ in _packets()]


def _flow_stats_traffic() -> tuple[list[XdpInput], list[XdpAction]]:
    sources = ["10.0.0.1", "10.0.0.3", "10.0.0.1", "10.0.0.1"]
    return [XdpInput(udp_frame(s, "10.0.0.2", 1, 2, bytes(10 * i))) for i, s in enumerate(sources)], \
        [XdpAction.PASS] * len(sources)


def _loop_sum_traffic() -> tuple[list[XdpInput], list[XdpAction]]:
    def frame(count: int, body: list[int]) -> XdpInput:
        return XdpInput(bytes(14) + bytes([count]) + bytes(7) + bytes(body) + bytes(max(0, 38 - len(body))))
    frames = [frame(3, [1, 2, 3, 4]), frame(10, [5, 5, 255, 7]), frame(40, list(range(1, 50))), frame(0, [9])]
    return frames, [XdpAction.TX] * len(frames)


PROGRAMS = {"core_counter": _core_traffic, "legacy_counter": _legacy_traffic, "blocklist": _blocklist_traffic,
            "flow_stats": _flow_stats_traffic, "loop_sum": _loop_sum_traffic}
# The programs whose helpers the gateware has (the others: the model).
ON_THE_VERILOG = {"core_counter", "legacy_counter", "blocklist", "loop_sum"}
COMPILERS = {c.name: c for c in c_compilers()}


def _engines(image, target: Target) -> list[str]:
    engines = ["interp", "model"]
    try:
        check_supported(image, target)
        engines.append("rtl")
    except HxdpError:
        pass
    return engines + (["kernel"] if kernel_unavailable_reason() is None else [])


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_program_from_elsewhere_runs_alike_on_every_engine(name, compiler):
    path = ELSEWHERE / f"{name}.c"
    program = load_elf(compile_c(path, compiler=COMPILERS[compiler]), source=path)
    settings = read_map_file(path.with_suffix(".json")) if path.with_suffix(".json").exists() else []
    program, setup = apply_settings(program, settings)
    frames, actions = PROGRAMS[name]()
    engines = _engines(compile_program(program, Target()), Target())
    assert ("rtl" in engines) == (name in ON_THE_VERILOG)
    run = runs_agree(program, frames, setup, engines=tuple(engines))
    assert [r.action for r in run.results] == actions
    if name == "loop_sum":           # the sum a packet's callback made, and the iterations bpf_loop reported
        assert [(r.packet[15:19], r.packet[19]) for r in run.results] == [
            ((6).to_bytes(4, "little"), 3), ((10).to_bytes(4, "little"), 3), ((564).to_bytes(4, "little"), 40),
            (bytes(4), 0)]
    if name == "flow_stats":
        from hxdp.mapfile import map_file
        assert map_file(program, run.maps)["maps"]["by_source"] == [
            {"key": "10.0.0.1", "value": {"lock": {"val": 0}, "packets": 3, "bytes": 42 * 3 + 10 * 5}},
            {"key": "10.0.0.3", "value": {"lock": {"val": 0}, "packets": 1, "bytes": 42 + 10}}]
    if "kernel" in engines:
        record_kernel_packets(len(frames))


def test_every_compiler_builds_the_helper_programs():
    """The programs of helpers the gateware lacks build with each compiler and
    agree with the kernel (their semantics: tests/test_xdp_helpers.py)."""
    for compiler in COMPILERS.values():
        for name in ("queues", "events", "packet_bytes"):
            path = ELSEWHERE / f"{name}.c"
            program = load_elf(compile_c(path, compiler=compiler), source=path)
            frames = [XdpInput(udp_frame("10.0.0.9", "10.0.0.2", 1, 2, bytes(30)))] * 3
            engines = ("interp", "model") + (("kernel",) if kernel_unavailable_reason() is None else ())
            runs_agree(program, frames, engines=engines)


def test_a_prog_array_names_the_programs_its_loader_puts_there(tmp_path):
    """The map file fills the dispatcher's prog array with programs of its
    object by name; the interpreter and the kernel tail-call them alike, and
    the saved maps name them again. The hxdp cores have no tail calls."""
    from hxdp.ebpf.load import load_program
    from hxdp.mapfile import map_file, parse_map_option
    from hxdp.packets import ipv4, ipv6
    path = ELSEWHERE / "tail_calls.c"
    program, _ = apply_settings(load_program(path, program="dispatch"), read_map_file(path.with_suffix(".json")))
    assert {i: p.name for i, p in program.prog_arrays["handlers"].items()} == {0: "handle_ipv4", 1: "handle_ipv6"}
    frames = [XdpInput(ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, bytes(8)), ETH_P_IP)),
              XdpInput(ethernet(ipv6("2001:db8::1", "2001:db8::2", 17, bytes(8)), ETH_P_IPV6)),
              XdpInput(ethernet(bytes(46), 0x0806))]
    engines = ("interp",) + (("kernel",) if kernel_unavailable_reason() is None else ())
    run = runs_agree(program, frames, engines=engines)
    assert [r.action for r in run.results] == [XdpAction.TX, XdpAction.DROP, XdpAction.PASS]
    assert map_file(program, run.maps)["maps"]["handlers"] == [{"key": 0, "value": "handle_ipv4"},
                                                              {"key": 1, "value": "handle_ipv6"}]
    from hxdp.mapfile import format_maps
    assert format_maps(run.maps, program.maps, 8, program.prog_arrays)[1:4] == [
        "  handlers (prog_array): 2 entries", "    0 -> handle_ipv4", "    1 -> handle_ipv6"]
    with pytest.raises(HxdpError, match="bpf_tail_call is not supported on hxdp cores"):
        compile_program(program, Target())
    with pytest.raises(HxdpError, match=r"--map handlers 0=nothing: value: .*tail_calls.c has no program "
                                        r"\(function or section\) 'nothing'; its programs: dispatch \(section xdp\)"):
        apply_settings(program, [parse_map_option("handlers", "0=nothing")])
    with pytest.raises(HxdpError, match=r"--map handlers 2=dispatch: key: 2 is beyond handlers's max_entries \(2\)"):
        apply_settings(program, [parse_map_option("handlers", "2=dispatch")])


def test_check_mtu_answers_from_the_interfaces_mtus(tmp_path):
    """bpf_check_mtu against the interfaces a routes file gives (`dev
    IFINDEX MTU`) on the interpreter and the model, and against the
    kernel's own: packets come in on the loopback, whose MTU the kernel's
    test runs use, so the table gives it the same."""
    from hxdp.ebpf.fib import RouteTable
    from hxdp.ebpf.load import load_program
    from hxdp.run import run_traffic
    lo = int((Path("/sys/class/net/lo/mtu")).read_text()) if Path("/sys/class/net/lo/mtu").exists() else 65536
    table = tmp_path / "routes.txt"
    table.write_text(f"dev 1 {lo}\n10.0.0.0/8 2 02:00:00:00:00:01 02:00:00:00:00:02 1400\n")
    routes = RouteTable.from_file(table)
    program = load_program(ELSEWHERE / "mtu_check.c")

    def frame(l3: int, grow: int, ifindex: int) -> XdpInput:
        return XdpInput(bytes(14) + bytes([l3, grow & 0xFF, ifindex]) + bytes(43), ingress_ifindex=1)
    probes = [(0, 0, 0), (0, 66, 0), (0, -66, 0), (200, 0, 0), (0, 0, 1), (0, 0, 0xFF), (15, 0, 2), (16, 0, 2)]
    frames = [frame(*p) for p in probes]
    engines = ["interp", "model"] + (["kernel"] if kernel_unavailable_reason() is None else [])
    runs = {e: run_traffic(program, frames, engine=e, routes=routes) for e in engines}
    answers = {e: [(r.packet[17], int.from_bytes(r.packet[18:22], "little")) for r in run.results]
               for e, run in runs.items()}
    # Interface 2 (a route's egress, with Ethernet's MTU: the route's own is a path's) is the
    # table's alone: the kernel's interface 2 is another.
    want = [(0, lo), (int(66_000 + 60 > lo + 14), lo), (0, lo), (0, lo), (0, lo), (256 - 19, 0), (0, 1500),
            (1, 1500)]
    assert answers["interp"] == want and answers["model"] == want
    if "kernel" in answers:
        assert answers["kernel"][:6] == want[:6]
        record_kernel_packets(6)
