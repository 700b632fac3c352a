"""Packet-level, cycle-accurate simulation of the engine: traffic from a
pcap or an example, arriving at a line rate, through the Verilog under
Verilator or through the model; every packet's verdict, bytes, egress port
and cycles, a pcap of what leaves, a table and a summary (docs/sim.md)."""

from .session import DEFAULT_FIFO_BYTES, SIM_ENGINES, PacketRecord, SimConfig, SimRun, simulate_traffic
from .wire import LineRate

__all__ = ["DEFAULT_FIFO_BYTES", "SIM_ENGINES", "LineRate", "PacketRecord", "SimConfig", "SimRun",
           "simulate_traffic"]
