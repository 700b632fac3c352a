"""Traffic for xdp_drop.c: every frame is dropped."""
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.packets import mixed_frames
from hxdp.scenario import Expect, Scenario


def scenario() -> Scenario:
    packets = [XdpInput(f) for f in mixed_frames()]
    return Scenario(packets, [Expect(XdpAction.DROP) for _ in packets])
