"""Traffic for xdp_pass.c: every frame passes unchanged."""
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.packets import mixed_frames
from hxdp.scenario import Expect, Scenario


def scenario() -> Scenario:
    packets = [XdpInput(f) for f in mixed_frames()]
    return Scenario(packets, [Expect(XdpAction.PASS) for _ in packets])
