"""An Ethernet port's Verilog under Verilator against cocotbext-eth's RGMII
PHY model (bench_mac.py): good, bad, short, long and jumbo frames, back to
back."""

import pytest

from .conftest import Simulation
from .mac_top import TOP, mac_verilog

BENCHES = ["good_frames_come_back_whole", "back_to_back_minimum_frames_all_pass",
           "bad_frames_are_dropped_and_counted_by_kind", "jumbo_frames_pass"]


@pytest.fixture(scope="module")
def port(verilator) -> Simulation:
    return Simulation.of(verilator, mac_verilog(), TOP, "rtl_tests.bench_mac", "an Ethernet port looped back")


@pytest.mark.parametrize("name", BENCHES)
def test_bench(port, name, tmp_path):
    port.run(tmp_path, name)
