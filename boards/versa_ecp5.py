"""Lattice ECP5 Versa (LFE5UM-45F): two RGMII ports (Marvell 88E1512
PHYs), a 100 MHz oscillator, eight LEDs, a UART through its FTDI chip.

The NIC uses the first port: with both, the 1-lane engine and the ports
fill 93% of the part's LUTs and nextpnr does not route them."""

from amaranth_boards.versa_ecp5 import VersaECP5Platform

from hxdp.target import ENGINE_CLOCK_MHZ, Target

from .nic import EcpBoard, plain_leds

BOARD = EcpBoard(
    name="versa_ecp5", title="Lattice ECP5 Versa", platform=VersaECP5Platform, clock="clk100", ports=1,
    # One lane: the 4-lane engine needs about 74K LUTs, the part has 44K.
    # 12 registers (every example compiles as with 16) and 16-byte packet
    # beats (4.3 Gbit/s at 33.3 MHz) leave room to route (docs/boards.md). The
    # engine's clock is the one Mpps are figured at (ENGINE_CLOCK_MHZ). One
    # packet buffer: a second took the part to 79% of its LUTs and the
    # engine to 35 MHz, with the line's transmit clock missed.
    target=Target.with_lanes(1, registers=12, packet_frame_bytes=16, packet_buffers=1),
    engine_mhz=ENGINE_CLOCK_MHZ, show=plain_leds(8),
    notes="UART on the FTDI chip's second channel; the PHYs' RGMII delays as strapped on the board.")
