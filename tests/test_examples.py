"""Every example builds from C, loads, and does on its traffic what its
scenario (computed independently of any engine) says; where the kernel can
run XDP programs, interpreter and kernel agree packet by packet."""

from __future__ import annotations

from pathlib import Path

import pytest

from hxdp.ebpf.load import load_program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.scenario import load_scenario

from .conftest import EXAMPLES, record_kernel_packets

EXAMPLE_PROGRAMS = sorted(p for p in EXAMPLES.glob("*.c"))


def _run(engine, scenario):
    for entry in scenario.setup:
        engine.update_map(entry.map, entry.key, entry.value)
    results = [engine.run(p) for p in scenario.packets]
    return results, engine.dump_maps()


@pytest.mark.parametrize("path", EXAMPLE_PROGRAMS, ids=lambda p: p.stem)
def test_example_on_interpreter(path: Path):
    program = load_program(path)
    assert program.license == "GPL"
    scenario = load_scenario(path)
    assert scenario is not None, f"{path.stem} has no traffic module"
    results, maps = _run(XdpRuntime(program, routes=scenario.routes), scenario)
    assert not [r.fault for r in results if r.fault]
    assert all(r.redirect is not None for r in results if r.action == 4), "redirect without a target"
    problems = scenario.problems(results, maps)
    assert not problems, "\n".join(problems)


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


def _kernel_can_take(packet) -> bool:
    """test_run needs the ingress device and its rx queue to exist here."""
    return packet.rx_queue_index < _rx_queues().get(packet.ingress_ifindex, 0)


@pytest.mark.kernel
@pytest.mark.parametrize("path", EXAMPLE_PROGRAMS, ids=lambda p: p.stem)
def test_example_interpreter_matches_kernel(path: Path, kernel):
    from hxdp.ebpf.kernel import KernelEngine
    program = load_program(path)
    scenario = load_scenario(path)
    interp = XdpRuntime(program, routes=scenario.routes)
    with KernelEngine(program) as kern:
        for entry in scenario.setup:
            interp.update_map(entry.map, entry.key, entry.value)
            kern.update_map(entry.map, entry.key, entry.value)
        compared = 0
        for i, packet in enumerate(scenario.packets):
            if not _kernel_can_take(packet):
                continue
            mine, theirs = interp.run(packet), kern.run(packet)
            assert (mine.action, mine.packet) == (theirs.action, theirs.packet), \
                f"packet {i}: interpreter {mine.action_name} {mine.packet.hex()}\n" \
                f"          kernel      {theirs.action_name} {theirs.packet.hex()}"
            compared += 1
        record_kernel_packets(compared)
        if compared == len(scenario.packets):
            _compare_maps(program, interp.dump_maps(), kern.dump_maps())


def _compare_maps(program, mine, theirs) -> None:
    for d in program.maps:
        if d.name not in theirs:
            continue
        if d.type.name.startswith(("PERCPU", "LRU_PERCPU")):
            # One CPU here, several there: compare the sum over CPUs field by field.
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
