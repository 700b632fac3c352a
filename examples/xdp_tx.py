"""Traffic for xdp_tx.c: every frame goes back out with its MACs swapped."""
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.packets import mixed_frames, swap_macs
from hxdp.scenario import Expect, Scenario


def scenario() -> Scenario:
    frames = mixed_frames()
    return Scenario([XdpInput(f) for f in frames], [Expect(XdpAction.TX, swap_macs(f)) for f in frames])
