"""hxdp: XDP/eBPF programs on FPGA NICs.

The flow runs one way: front end (`hxdp.ebpf`) → compiler → image → model /
gateware → Verilog → boards.
"""

__version__ = "0.1.0"
