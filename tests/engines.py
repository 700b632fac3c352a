"""Examples through a gateware engine (Amaranth simulation or Verilator),
against the model: one check for every backend."""

from __future__ import annotations

from typing import Callable

from hxdp.compiler.driver import compile_program
from hxdp.ebpf.load import load_program
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.gateware.dispatch import dispatch_core
from hxdp.gateware.host import Job, Packet, check_supported
from hxdp.maplayout import map_image, map_layout
from hxdp.model.engine import ModelEngine
from hxdp.scenario import load_scenario
from hxdp.target import Target

from .conftest import EXAMPLES

# The examples the gateware runs (the others call helpers or use maps it
# does not have yet, and are refused).
GATEWARE_EXAMPLES = ["xdp_drop", "xdp_pass", "xdp_tx", "xdp1", "xdp2", "rxq_info", "firewall", "redirect_map",
                     "adjust_tail", "tx_ip_tunnel", "load_balancer", "router_ipv4"]


def check_example(name: str, target: Target, run: Callable[[list[Job]], list[Job]]) -> None:
    """Verdicts, cycles, packets sent and the maps after the traffic equal
    the model's, with the scenario's map entries installed over the bus."""
    path = EXAMPLES / f"{name}.c"
    scenario = load_scenario(path)
    check_traffic(load_program(path), scenario.packets, target, run, scenario.setup, scenario.routes)


def on_cpus(runtime, packets: list[XdpInput], cpus: list[int]) -> list:
    """``runtime``'s results, each packet run on its CPU in ``cpus``."""
    results = []
    for packet, cpu in zip(packets, cpus, strict=True):
        runtime.cpu = cpu
        results.append(runtime.run(packet))
    return results


def check_traffic(program, packets: list[XdpInput], target: Target, run: Callable[[list[Job]], list[Job]],
                  setup=(), routes=None) -> None:
    """`check_example` for any program and packets. On several cores each
    packet runs on the model as on the CPU the dispatcher gives it: packets
    go in one at a time, so each finds the engine idle and goes to the core
    its flow hashes to, and no core waits for the map lock."""
    image = compile_program(program, target)
    check_supported(image, target)
    model = ModelEngine(image, routes=routes, nr_cpus=target.cores)
    for entry in setup:
        model.update_map(entry.map, entry.key, entry.value)
    placed = map_layout(image.name, image.maps, target)

    def images() -> dict[str, bytes]:
        return {p.map.name: map_image(p, model.maps[p.map.name]) for p in placed}
    first = images()
    cpus = [dispatch_core(p.packet, target.cores, target.packet_frame_bytes) for p in packets]
    want = on_cpus(model, packets, cpus)
    job, = run([Job(image, [Packet(p.packet, p.ingress_ifindex, p.rx_queue_index) for p in packets],
                    maps=first)])
    for i, (w, got) in enumerate(zip(want, job.outcomes)):
        sent = w.packet if w.action in (XdpAction.PASS, XdpAction.TX, XdpAction.REDIRECT) else None
        assert (got.action & 0xFFFF_FFFF, got.cycles, got.packet) == (w.action, w.cycles, sent), i
        if w.action == XdpAction.REDIRECT:
            assert got.egress == w.redirect.ifindex, i
    assert len(job.outcomes) == len(packets)
    final = images()
    assert job.final_maps == final
    assert not image.maps or final != first, "the traffic changed no map: the check proves nothing"


def per_cpu_summed(program, maps) -> dict:
    """``maps`` with each per-CPU value the sum of its CPUs' (field by 8-,
    4-, 2- or 1-byte field as the value's size divides): engines with
    different CPU counts then compare."""
    from hxdp.ebpf.program import PER_CPU_TYPES
    sizes = {d.name: d.value_size for d in program.maps if d.type in PER_CPU_TYPES}
    out = {}
    for name, entries in maps.items():
        size = sizes.get(name)
        if size is None:
            out[name] = entries
            continue
        width = next(w for w in (8, 4, 2, 1) if size % w == 0)
        out[name] = {k: b"".join(sum(int.from_bytes(v[c + f:c + f + width], "little")
                                     for c in range(0, len(v), size)).to_bytes(16, "little")[:width]
                                 for f in range(0, size, width))
                     for k, v in entries.items()}
    return out


def runs_agree(program, frames, setup=(), engines=("interp", "model")):
    """Run ``frames`` on every engine: the verdicts, the packets that leave,
    ring buffer records and final maps (per-CPU values summed) must be the
    same. The first engine's run."""
    from hxdp.ebpf.xdp import LEAVING
    from hxdp.run import run_traffic
    runs = {e: run_traffic(program, frames, engine=e, setup=list(setup)) for e in engines}
    first = runs[engines[0]]

    def seen(run) -> list:
        return [(r.action, r.packet if r.action in LEAVING else None, r.ringbuf) for r in run.results]
    for engine, run in runs.items():
        assert seen(run) == seen(first), engine
        assert per_cpu_summed(program, run.maps) == per_cpu_summed(program, first.maps), engine
    return first
