"""Traffic for xdp2.c: xdp1's traffic, counted by protocol and sent back out
with the MACs swapped."""
import importlib.util
from pathlib import Path

from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.packets import swap_macs
from hxdp.scenario import Expect, Scenario

_spec = importlib.util.spec_from_file_location("xdp1_traffic", Path(__file__).with_name("xdp1.py"))
xdp1 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(xdp1)


def scenario() -> Scenario:
    frames = [f for f, _ in xdp1.traffic()]
    return Scenario([XdpInput(f) for f in frames],
                    [Expect(XdpAction.TX, swap_macs(f)) for f in frames],
                    check_maps=xdp1.check_counts)
