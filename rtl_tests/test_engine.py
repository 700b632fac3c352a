"""The engine's Verilog under Verilator, driven by cocotb: each of
bench_engine.py's tests in its own simulation."""

import pytest

from .conftest import Simulation

BENCHES = ["registers_read_back", "a_second_program_loaded_into_the_running_engine_takes_over",
           "packets_survive_random_gaps_on_every_stream", "faults_end_packets_as_aborted_and_are_counted",
           "the_host_reads_and_writes_maps_while_packets_flow"]


@pytest.mark.parametrize("name", BENCHES)
def test_bench(simulation, name, tmp_path):
    simulation.run(tmp_path, name)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 2, 8])
def test_benches_at_other_lane_counts(verilator, lanes, tmp_path):
    Simulation.engine(verilator, lanes).run(tmp_path)
