"""Packet simulation (hxdp.sim): every example's traffic through the
Verilog under Verilator gives the interpreter's verdicts, output packets
(the same pcap file), egress ports and final maps; and every packet's
passage (first beat in, verdict, last beat out, drops at a full FIFO) is
the one the model's stream timing predicts, with lines, FIFOs and tx
backpressure of any kind."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hxdp.ebpf.load import load_program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.errors import HxdpError, ToolMissing
from hxdp.model.stream import StreamTiming
from hxdp.passage import READY_SCALE, Passage, tx_ready
from hxdp.pcap import read_pcap
from hxdp.run import run_traffic, write_output
from hxdp.scenario import load_scenario
from hxdp.sim import LineRate, SimConfig, SimRun, simulate_traffic
from hxdp.sim.report import summarize, table_rows
from hxdp.sim.traffic import flow_traffic, out_of_order, sequence_of
from hxdp.sim.wire import arrivals
from hxdp.target import Target
from hxdp.toolchain import find_verilator

from .conftest import EXAMPLES, REPO
from .engines import GATEWARE_EXAMPLES, on_cpus


@pytest.fixture(scope="module")
def verilator() -> None:
    try:
        find_verilator()
    except ToolMissing as err:
        pytest.skip(f"needs Verilator: {err}")


def _rtl_and_model(name: str, packets=None, **config):
    path = EXAMPLES / f"{name}.c"
    program, scenario = load_program(path), load_scenario(path)
    packets = list(scenario.packets) if packets is None else packets
    return [simulate_traffic(program, packets, config=SimConfig(engine=engine, **config), setup=scenario.setup,
                             routes=scenario.routes) for engine in ("rtl", "model")]


@pytest.mark.parametrize("name", GATEWARE_EXAMPLES)
def test_example_on_rtl_gives_the_interpreters_packets_and_maps(name, verilator, tmp_path):
    path = EXAMPLES / f"{name}.c"
    program, scenario = load_program(path), load_scenario(path)
    runs = {engine: run_traffic(program, scenario.packets, engine=engine, setup=scenario.setup,
                                routes=scenario.routes) for engine in ("interp", "rtl")}
    interp, rtl = runs["interp"], runs["rtl"]
    assert [r.action_name for r in rtl.results] == [r.action_name for r in interp.results]
    assert rtl.leaving() == interp.leaving()
    assert [r.redirect.ifindex if r.redirect else None for r in rtl.results] == \
           [r.redirect.ifindex if r.redirect else None for r in interp.results]
    assert rtl.maps == interp.maps
    for engine, run in runs.items():
        write_output(run, tmp_path / f"{engine}.pcap")
    assert (tmp_path / "rtl.pcap").read_bytes() == (tmp_path / "interp.pcap").read_bytes()
    assert rtl.leaving() or any(rtl.maps.values()) or name == "xdp_drop", "nothing left the program to compare"


@pytest.mark.parametrize("name", GATEWARE_EXAMPLES)
def test_every_passage_is_the_models_on_a_line_with_backpressure(name, verilator):
    """10 GbE into a FIFO of three full-size frames' room less, tx ready one
    cycle in two: drops, queueing and stalls, cycle for cycle."""
    rtl, model = _rtl_and_model(name, rate=LineRate.GBE10, fifo_bytes=600, tx_ready=0.5, seed=7)
    assert [r.passage for r in rtl.records] == [r.passage for r in model.records]
    assert [r.result and (r.result.action, r.result.cycles) for r in rtl.records] == \
           [r.result and (r.result.action, r.result.cycles) for r in model.records]
    assert rtl.maps == model.maps


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(14, 1514), min_size=1, max_size=40),
       rate=st.sampled_from(list(LineRate)), fifo=st.integers(64, 6000),
       ready=st.floats(0.05, 1.0), seed=st.integers(0, 2**32))
def test_random_traffic_passes_as_the_model_says(verilator, sizes, rate, fifo, ready, seed):
    rng = random.Random(seed)
    packets = [XdpInput(bytes(rng.getrandbits(8) for _ in range(size)), rng.randrange(1, 4)) for size in sizes]
    rtl, model = _rtl_and_model("xdp_tx", packets, rate=rate, fifo_bytes=fifo, tx_ready=ready, seed=seed)
    assert [r.passage for r in rtl.records] == [r.passage for r in model.records]
    assert rtl.leaving() == model.leaving()


@pytest.mark.parametrize("buffers", [1, 4])
def test_passages_are_the_models_with_one_packet_buffer_or_four(buffers, verilator):
    """One buffer: a packet at a time; four: the next ones stream in while
    the last one's bytes stream out, and packets that move their bounds or
    store to themselves send the bytes they left."""
    rng = random.Random(buffers)
    packets = [XdpInput(bytes(rng.getrandbits(8) for _ in range(rng.randrange(14, 600))), rng.randrange(1, 4))
               for _ in range(30)]
    for name, traffic in (("xdp_tx", packets), ("tx_ip_tunnel", None)):
        rtl, model = _rtl_and_model(name, traffic, buffers=buffers, rate=LineRate.GBE10, fifo_bytes=3000,
                                    tx_ready=0.6, seed=buffers)
        assert [r.passage for r in rtl.records] == [r.passage for r in model.records]
        assert [r.result and r.result.cycles for r in rtl.records] == [r.result and r.result.cycles for r in model.records]
        assert rtl.leaving() == model.leaving()


def test_a_second_buffer_takes_the_next_packet_in_while_the_first_runs():
    """Two 2-beat packets back to back, 10 cycles of program each: the
    first starts in the cycle after its last beat; the second's beats
    follow the first's, its program starts as the first's verdict is given
    and its verdict waits for the first's bytes to leave. With one buffer
    its beats wait for them."""
    def run(buffers: int) -> list[Passage]:
        timing = StreamTiming(32, buffers=buffers)
        out = []
        for _ in range(3):
            out.append(timing.passage(0, 64, 10, 64))
        return out
    assert run(2) == [Passage(0, 0, 13, 16), Passage(0, 2, 24, 27), Passage(0, 16, 35, 38)]
    assert run(1) == [Passage(0, 0, 13, 16), Passage(0, 16, 29, 32), Passage(0, 32, 45, 48)]


def test_a_line_offers_packets_at_its_rate():
    # 64-byte frames (60 and the FCS) on 10 GbE: 14.88 Mpps, a frame every 10.5 cycles at 156.25 MHz.
    due = arrivals([60] * 1001, LineRate.GBE10, 156.25)
    assert due[-1] - due[0] == 10500
    assert LineRate.GBE10.line_mpps(60) == pytest.approx(14.88, abs=0.01)
    assert arrivals([60, 60], LineRate.MAX, 156.25) == [0, 0]
    # A frame is whole when its last bit is in: 64 bytes and the preamble at 1 Gb/s.
    assert arrivals([60], LineRate.GBE1, 125.0) == [72]


def test_tx_readiness_is_the_chance_asked_for():
    draws = [tx_ready(3, cycle, READY_SCALE // 4) for cycle in range(20000)]
    assert 0.23 < sum(draws) / len(draws) < 0.27
    assert all(tx_ready(3, cycle, READY_SCALE) for cycle in range(100))


def test_summary_and_table_count_every_packet(verilator):
    rtl, _ = _rtl_and_model("firewall", rate=LineRate.GBE25, fifo_bytes=300)
    s = summarize(rtl)
    rows = table_rows(rtl)
    assert s.packets == len(rows) == len(rtl.records)
    assert s.ingress_drops == sum(row["verdict"] == "INGRESS_DROP" for row in rows) > 0
    assert s.processed + s.ingress_drops == s.packets == sum(s.verdicts.values()) + s.ingress_drops
    assert s.latency_min <= s.latency_mean <= s.latency_p99 <= s.latency_max
    assert all(row["done"] - row["arrival"] == row["latency_cycles"] for row in rows)


def test_sim_command_writes_pcap_table_and_waves(verilator, tmp_path):
    out, table, waves = tmp_path / "out.pcap", tmp_path / "packets.json", tmp_path / "waves.vcd"
    argv = [sys.executable, "-m", "hxdp.cli", "sim", str(EXAMPLES / "xdp_tx.c"), "-o", str(out), "--table",
            str(table), "--vcd", str(waves), "--vcd-packets", "1:2", "--rate", "10g", "--clock", "156.25", "-q"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "throughput" in done.stdout and "latency ns" in done.stdout
    report = json.loads(table.read_text())
    assert len(report["packets"]) == report["summary"]["packets"] == len(load_scenario(EXAMPLES / "xdp_tx.c").packets)
    assert len(read_pcap(out)) == report["summary"]["verdicts"]["XDP_TX"]
    text = waves.read_text()
    assert text.startswith("$date") or "$timescale" in text
    # The waves cover packets 1 and 2 only: from when packet 1's first beat
    # is offered (it is in the FIFO, at its head) to packet 2's end, in
    # cycles of the clock given (6400 ps).
    one, two = report["packets"][1], report["packets"][2]
    stamps = [int(line[1:]) for line in text.splitlines() if line.startswith("#")]
    assert one["arrival"] * 6400 <= stamps[0] <= one["start"] * 6400
    assert two["done"] * 6400 <= stamps[-1] < (two["done"] + 1) * 6400


@pytest.mark.parametrize("argv, message", [
    (["run", "--engine", "interp", "--rate", "10g"], "--rate: packet simulation needs --engine model or rtl"),
    (["sim", "--engine", "model", "--vcd", "w.vcd"], "waves (--vcd) come from the Verilog"),
    (["sim", "--vcd-packets", "3"], "give LOW:HIGH"),
    (["sim", "--table", "t.txt", "--engine", "model"], "a table is written as .csv or .json"),
    (["sim", "--fifo", "-5", "--rate", "10g"], "argument --fifo: -5 is out of range: give a whole number >= 0"),
])
def test_simulation_options_are_checked(argv, message, capsys, tmp_path, monkeypatch):
    from hxdp.cli import main
    monkeypatch.chdir(tmp_path)
    assert main([argv[0], str(EXAMPLES / "xdp_drop.c"), *argv[1:]]) in (1, 2)
    assert message in capsys.readouterr().err


def test_simulation_runs_on_rtl_or_model_only():
    program = load_program(EXAMPLES / "xdp_drop.c")
    with pytest.raises(HxdpError, match="packet simulation runs on rtl or model"):
        simulate_traffic(program, [], config=SimConfig(engine="interp"))


# -- several cores -------------------------------------------------------------------------

def _interp_on_cores(program, rtl: SimRun, setup=(), routes=None):
    """The interpreter, each packet on the core that ran it in ``rtl``, in
    arrival order: the verdicts and the maps (per-CPU values a CPU a core)."""
    runtime = XdpRuntime(program, routes=routes, nr_cpus=rtl.config.cores)
    for entry in setup:
        runtime.update_map(entry.map, entry.key, entry.value)
    cpus = [r.passage.cpu for r in rtl.records if r.result is not None]
    return on_cpus(runtime, rtl.inputs, cpus), runtime.dump_maps()


def _check_on_cores(name: str, cores: int) -> None:
    path = EXAMPLES / f"{name}.c"
    program, scenario = load_program(path), load_scenario(path)
    rtl = simulate_traffic(program, scenario.packets, config=SimConfig(cores=cores, tx_ready=0.7),
                           setup=scenario.setup, routes=scenario.routes)
    results, maps = _interp_on_cores(program, rtl, scenario.setup, scenario.routes)
    assert [r.action_name for r in rtl.results] == [r.action_name for r in results]
    assert sorted(rtl.leaving()) == [(i, r.packet) for i, r in enumerate(results) if r.action in
                                     (XdpAction.TX, XdpAction.PASS, XdpAction.REDIRECT)]
    assert rtl.maps == maps


@pytest.mark.parametrize("name", GATEWARE_EXAMPLES)
def test_example_on_two_cores_is_the_interpreters_on_the_dispatched_cpus(name, verilator):
    _check_on_cores(name, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", GATEWARE_EXAMPLES)
def test_example_on_four_cores_is_the_interpreters_on_the_dispatched_cpus(name, verilator):
    _check_on_cores(name, 4)


@pytest.mark.parametrize("cores", [2, pytest.param(4, marks=pytest.mark.slow)])
def test_cores_share_maps_atomically_and_keep_every_flows_order(cores, verilator):
    program = load_program(REPO / "tests" / "data" / "shared_counters.c")
    packets = flow_traffic(800, flows=48, seed=cores)
    rtl = simulate_traffic(program, packets, config=SimConfig(cores=cores, tx_ready=0.8, seed=1))
    results, maps = _interp_on_cores(program, rtl)
    assert rtl.maps == maps
    total = int.from_bytes(rtl.maps["total"][bytes(4)], "little")
    per_core = rtl.maps["per_core"][bytes(4)]
    spread = [int.from_bytes(per_core[8 * c:8 * c + 8], "little") for c in range(cores)]
    assert total == sum(spread) == len(packets) and min(spread) > 0, spread
    assert sum(int.from_bytes(v, "little") for v in rtl.maps["by_port"].values()) == len(packets)
    # Nothing lost or doubled, and each flow's packets leave as they came.
    assert sorted(map(sequence_of, rtl.sent_in_order())) == sorted(sequence_of(p.packet) for p in packets)
    assert out_of_order(rtl.sent_in_order()) is None


def test_per_cpu_hash_maps_share_their_keys_and_hold_a_copy_of_the_values_a_core():
    from hxdp.ebpf.maps import HashMap
    from hxdp.ebpf.program import MapDef, MapType
    from hxdp.maplayout import map_image, map_layout, restore_map
    d = MapDef("h", MapType.PERCPU_HASH, 2, 12, 16)
    p, = map_layout("p", [d], Target(cores=4))
    m = HashMap(d, nr_cpus=4, per_cpu=True, placed=True)
    m.update(b"ab", bytes(range(12)), cpu=2)
    m.update(b"cd", bytes(range(1, 13)), cpu=3)
    image = map_image(p, m)
    values = -(-p.values // 8) * 8
    assert p.cpu_stride == values and p.area == p.keys + 4 * values == len(image)
    assert image[p.keys + 2 * values + 12 * m.slots[b"ab"]:][:12] == bytes(range(12))
    back = HashMap(d, nr_cpus=4, per_cpu=True, placed=True)
    restore_map(p, back, image)
    assert back.dump() == m.dump() and back.dump()[b"ab"][24:36] == bytes(range(12))


def test_bench_on_rtl_measures_what_the_model_predicts(verilator):
    from hxdp.bench import bench_stream
    rtl, model = (bench_stream(EXAMPLES / "firewall.c", Target.with_lanes(4), engine=engine) for engine in ("rtl", "model"))
    assert (rtl.packets, rtl.mpps, rtl.cycles_per_packet, rtl.latency_min_ns, rtl.latency_mean_ns,
            rtl.latency_max_ns) == (model.packets, model.mpps, model.cycles_per_packet, model.latency_min_ns,
                                    model.latency_mean_ns, model.latency_max_ns)
    assert 0 < rtl.latency_min_ns <= rtl.latency_mean_ns <= rtl.latency_max_ns


def test_generated_flows_run_and_conflicting_sources_are_refused(capsys, tmp_path):
    from hxdp.cli import main
    assert main(["run", str(EXAMPLES / "xdp_pass.c"), "--flows", "4", "--count", "30", "--sizes", "60:200",
                 "-o", str(tmp_path / "out.pcap"), "-q"]) == 0
    frames = [r.data for r in read_pcap(tmp_path / "out.pcap")]
    assert [sequence_of(f)[1] for f in frames] == list(range(30))
    assert {sequence_of(f)[0] for f in frames} <= set(range(4))
    assert all(60 <= len(f) <= 200 for f in frames)
    assert main(["run", str(EXAMPLES / "xdp_pass.c"), "--flows", "4", "--pcap", "x.pcap"]) == 1
    assert "give packets one way" in capsys.readouterr().err
    assert main(["run", str(EXAMPLES / "xdp_pass.c"), "--flows", "4", "--sizes", "9:5"]) == 2
    assert "LOW <= HIGH" in capsys.readouterr().err
    assert main(["run", str(EXAMPLES / "xdp_pass.c"), "--flows", "0"]) == 2
    assert "argument --flows: 0 is out of range" in capsys.readouterr().err


@pytest.mark.parametrize("size", [5, 4000])
def test_packets_no_frame_holds_are_refused_before_any_runs(size):
    program = load_program(EXAMPLES / "xdp_tx.c")
    for engine in ("rtl", "model"):
        with pytest.raises(HxdpError, match=f"packet 1 has {size} bytes; XDP frames here hold 14 to"):
            simulate_traffic(program, [XdpInput(bytes(60)), XdpInput(bytes(size))], config=SimConfig(engine=engine))


@pytest.mark.parametrize("argv, message", [
    (["sim", "--engine", "model", "--threads", "2"],
     "evaluation threads (--threads) are the Verilog's: use --engine rtl"),
    (["sim", "--threads", "999"], "999 threads: give 1 to the"),
    (["run", "--threads", "2"], "--threads: packet simulation needs --engine model or rtl"),
])
def test_threads_are_the_verilogs_and_no_more_than_the_cores(argv, message, capsys):
    from hxdp.cli import main
    assert main([argv[0], str(EXAMPLES / "xdp_tx.c"), *argv[1:]]) == 1
    assert message in capsys.readouterr().err
