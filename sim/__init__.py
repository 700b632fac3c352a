"""Packet-level, cycle-accurate simulation of the engine: traffic from a
pcap or an example, arriving at a line rate, through the Verilog under
Verilator or through the model; every packet's verdict, bytes, egress port
and cycles, a pcap of what leaves, a table and a summary (docs/sim.md).

The line's settings load at once (the command line reads them at every
start); the simulation itself, which brings the compiler and the model,
when first used."""

from .wire import DEFAULT_FIFO_BYTES, LineRate

__all__ = ["DEFAULT_FIFO_BYTES", "SIM_ENGINES", "LineRate", "PacketRecord", "SimConfig", "SimRun",
           "simulate_traffic"]


def __getattr__(name: str):
    if name in __all__:
        from . import session
        return getattr(session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
