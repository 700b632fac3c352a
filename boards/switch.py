"""Between a board's ports and the engine: frames from every port into the
engine's one ``rx`` stream, and each verdict's bytes to the port it names.

Port n is ifindex n + 1. XDP_TX goes back out of the port the packet came
from (remembered by the packet's tag, its number in arrival order, which
its verdict carries: with several cores verdicts may come out of order),
XDP_REDIRECT to the port its ifindex names;
XDP_PASS, a redirect to an ifindex no port has, and XDP_DROP/ABORTED send
nothing (the engine's counters count them; redirects to no port are
counted here too).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Module, Mux, Signal, Value

from hxdp.ebpf.xdp import XdpAction
from hxdp.gateware.engine import Engine

# The ports are anything with an ``rx`` stream of the engine's beats out
# and a ``tx`` stream of them in: `EthernetPort` and `AxisPort`.

__all__ = ["INGRESS_QUEUE", "Ingress", "take_in", "send_out"]

INGRESS_QUEUE = 16             # packets in the engine whose ingress port is remembered (a power of two)


@dataclass
class Ingress:
    """The port each packet in the engine came from, by the low bits of its
    tag; ``left``: a packet's verdict was taken."""
    port_of: Array
    left: Signal

    def port(self, tag: Value) -> Value:
        return self.port_of[tag[:(INGRESS_QUEUE - 1).bit_length()]]


def take_in(m: Module, engine: Engine, ports: list) -> Ingress:
    """The ports' frames into the engine, a whole frame at a time, round
    robin; each packet's port index kept for its verdict."""
    n = len(ports)
    ingress = Ingress(Array(Signal(range(n), name=f"ingress{i}") for i in range(INGRESS_QUEUE)), Signal())
    tag = Signal(range(INGRESS_QUEUE))   # the low bits of the next packet's tag
    held = Signal(range(INGRESS_QUEUE + 1))
    current = Signal(range(n))          # the port served last
    in_frame = Signal()
    chosen = Signal(range(n))
    m.d.comb += chosen.eq(current)
    with m.If(~in_frame):
        # The first port with a frame, from the one after the last served.
        valid = Array(port.rx.valid for port in ports)
        for k in reversed(range(1, n + 1)):
            candidate = Mux(current + k >= n, current + k - n, current + k)
            with m.If(valid[candidate]):
                m.d.comb += chosen.eq(candidate)
    beat = engine.rx
    first_ok = in_frame | (held != INGRESS_QUEUE)
    for k, port in enumerate(ports):
        with m.If(chosen == k):
            m.d.comb += [beat.valid.eq(port.rx.valid & first_ok), beat.payload.eq(port.rx.payload),
                         port.rx.ready.eq(beat.ready & first_ok)]
    arrived = beat.valid & beat.ready & ~in_frame
    m.d.sync += held.eq(held + arrived - ingress.left)
    with m.If(beat.valid & beat.ready):
        m.d.sync += [in_frame.eq(~beat.payload.last), current.eq(chosen)]
    with m.If(arrived):
        m.d.sync += [ingress.port_of[tag].eq(chosen), tag.eq(tag + 1)]
    return ingress


def send_out(m: Module, engine: Engine, ports: list, ingress: Ingress) -> Signal:
    """Each verdict's bytes to the port it names, or let go; gives the
    count of redirects to an ifindex no port has."""
    n = len(ports)
    unknown = Signal(32)
    to = Signal(range(n + 1))           # n: nowhere
    verdict = engine.verdict.payload
    action = verdict.action[:32]
    redirect_port = verdict.egress - 1
    with m.FSM():
        with m.State("VERDICT"):
            m.d.comb += [engine.verdict.ready.eq(1), ingress.left.eq(engine.verdict.valid)]
            with m.If(engine.verdict.valid):
                with m.If(action == XdpAction.TX):
                    m.d.sync += to.eq(ingress.port(verdict.tag))
                with m.Elif((action == XdpAction.REDIRECT) & (redirect_port < n)):
                    m.d.sync += to.eq(redirect_port)
                with m.Else():
                    m.d.sync += to.eq(n)
                    with m.If(action == XdpAction.REDIRECT):
                        m.d.sync += unknown.eq(unknown + 1)
                with m.If(verdict.sends):
                    m.next = "SEND"
        with m.State("SEND"):
            m.d.comb += engine.tx.ready.eq(to == n)
            for k, port in enumerate(ports):
                with m.If(to == k):
                    m.d.comb += [port.tx.valid.eq(engine.tx.valid), port.tx.payload.eq(engine.tx.payload),
                                 engine.tx.ready.eq(port.tx.ready)]
            with m.If(engine.tx.valid & engine.tx.ready & engine.tx.payload.last):
                m.next = "VERDICT"
    return unknown
