"""Traffic for xdp2.c: xdp1's traffic, counted by protocol and sent back out
with the MACs swapped."""
from pathlib import Path

from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.packets import swap_macs
from hxdp.scenario import Expect, Scenario, load_module

xdp1 = load_module(Path(__file__).with_name("xdp1.py"))


def scenario() -> Scenario:
    frames = [f for f, _ in xdp1.traffic()]
    return Scenario([XdpInput(f) for f in frames], [Expect(XdpAction.TX, swap_macs(f)) for f in frames],
                    check_maps=xdp1.check_counts)
