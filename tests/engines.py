"""Examples through a gateware engine (Amaranth simulation or Verilator),
against the model: one check for every backend."""

from __future__ import annotations

from typing import Callable

from hxdp.compiler.driver import compile_program
from hxdp.ebpf.load import load_program
from hxdp.ebpf.xdp import XdpAction
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
    image = compile_program(load_program(path), target)
    check_supported(image, target)
    scenario = load_scenario(path)
    model = ModelEngine(image, routes=scenario.routes)
    for entry in scenario.setup:
        model.update_map(entry.map, entry.key, entry.value)
    placed = map_layout(image.name, image.maps, target)

    def images() -> dict[str, bytes]:
        return {p.map.name: map_image(p, model.maps[p.map.name]) for p in placed}
    first = images()
    want = [model.run(p) for p in scenario.packets]
    job, = run([Job(image, [Packet(p.packet, p.ingress_ifindex, p.rx_queue_index) for p in scenario.packets],
                    maps=first)])
    for i, (w, got) in enumerate(zip(want, job.outcomes)):
        sent = w.packet if w.action in (XdpAction.PASS, XdpAction.TX, XdpAction.REDIRECT) else None
        assert (got.action & 0xFFFF_FFFF, got.cycles, got.packet) == (w.action, w.cycles, sent), i
        if w.action == XdpAction.REDIRECT:
            assert got.egress == w.redirect.ifindex, i
    assert len(job.outcomes) == len(scenario.packets)
    final = images()
    assert job.final_maps == final
    assert not image.maps or final != first, "the traffic changed no map: the check proves nothing"
