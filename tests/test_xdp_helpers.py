"""The helpers XDP programs from elsewhere reach for (packet bytes,
queue and stack maps), on the interpreter and the model against the
kernel's; the Verilog refuses them by name."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from hxdp.compiler.driver import compile_program
from hxdp.ebpf.helpers import MAX_LOOPS
from hxdp.target import Target

from hxdp.ebpf.load import load_program
from hxdp.ebpf.xdp import XdpAction, XdpInput
from hxdp.errors import HxdpError
from hxdp.mapfile import apply_settings, parse_map_option
from hxdp.packets import udp_frame
from hxdp.run import run_traffic

from .conftest import REPO, record_kernel_packets
from .engines import runs_agree

DATA = REPO / "tests" / "data" / "elsewhere"


def _signed(maps, name: str) -> dict[int, int]:
    return {int.from_bytes(k, "little"): int.from_bytes(v, "little", signed=True) for k, v in maps[name].items()}


def test_packet_bytes_are_read_and_written_through_helpers():
    program = load_program(DATA / "packet_bytes.c")
    frames = [XdpInput(udp_frame("10.0.0.1", "10.0.0.2", 1, 2)), XdpInput(bytes(20) + b"\x01" * 14)]
    run = runs_agree(program, frames)
    assert [r.action for r in run.results] == [XdpAction.TX, XdpAction.TX]
    assert run.results[0].packet[26:34] == bytes([10, 0, 0, 2, 10, 0, 0, 1])
    assert run.results[1].packet[26:34] == b"\x01" * 8
    assert _signed(run.maps, "seen") == {0: 34, 1: -22, 2: 0}      # length, EINVAL past the end, same addresses


def _queue_frame(value: int, replace: bool = False) -> XdpInput:
    return XdpInput(bytes(14) + bytes([value, replace]) + bytes(50))


QUEUE_TRAFFIC = [_queue_frame(1), _queue_frame(2), _queue_frame(3), _queue_frame(4), _queue_frame(5),
                 _queue_frame(6, replace=True), *[_queue_frame(0)] * 6]


@pytest.mark.parametrize("packets", [6, len(QUEUE_TRAFFIC)])
def test_queue_and_stack_maps_push_pop_and_peek(packets):
    """A queue set up holding 9 fills, refuses a push when full unless
    BPF_EXIST drops its oldest, and pops oldest first; a stack newest first."""
    program, setup = apply_settings(load_program(DATA / "queues.c"),
                                    [parse_map_option("fifo", "=9"), parse_map_option("lifo", "=9")])
    run = runs_agree(program, QUEUE_TRAFFIC[:packets], setup)
    if packets == 6:
        # 9, 1, 2, 3 filled both; 4 and 5 were refused; 6 with BPF_EXIST dropped the 9.
        assert list(run.maps["fifo"].values()) == [v.to_bytes(4, "little") for v in (1, 2, 3, 6)]
        assert list(run.maps["lifo"].values()) == [v.to_bytes(4, "little") for v in (1, 2, 3, 6)]
        assert _signed(run.maps, "results")[0] == 0 and _signed(run.maps, "results")[2] == 1 << 8 | 6
        return
    popped = [(r.packet[16], r.packet[17]) for r in run.results[6:10]]
    assert popped == [(1, 6), (2, 3), (3, 2), (6, 1)]
    assert [r.action for r in run.results[10:]] == [XdpAction.DROP] * 2
    assert _signed(run.maps, "results")[3] == -2         # a pop from an empty queue: ENOENT


def test_the_kernel_agrees_on_the_new_helpers(kernel):
    program = load_program(DATA / "packet_bytes.c")
    runs_agree(program, [XdpInput(udp_frame("10.0.0.1", "10.0.0.2", 1, 2))], engines=("interp", "kernel"))
    program, setup = apply_settings(load_program(DATA / "queues.c"), [parse_map_option("fifo", "=9")])
    for packets in (6, len(QUEUE_TRAFFIC)):
        runs_agree(program, QUEUE_TRAFFIC[:packets], setup, engines=("interp", "kernel"))
    record_kernel_packets(1 + 6 + len(QUEUE_TRAFFIC))


def test_a_queue_entry_has_no_key():
    program = load_program(DATA / "queues.c")
    with pytest.raises(HxdpError, match="--map fifo 1=2: key: fifo is a queue map, whose values have no keys"):
        apply_settings(program, [parse_map_option("fifo", "1=2")])
    with pytest.raises(HxdpError, match=r"--map fifo =1: fifo: the map is full: it holds 4 entries"):
        apply_settings(program, [parse_map_option("fifo", "=1")] * 5)


def test_the_verilog_refuses_helpers_it_lacks_by_name():
    from hxdp.compiler.driver import compile_program
    from hxdp.gateware.host import check_supported
    from hxdp.target import Target
    image = compile_program(load_program(DATA / "packet_bytes.c"), Target())
    with pytest.raises(HxdpError, match=r"does not run bpf_xdp_get_buff_len \(188\), bpf_xdp_load_bytes \(189\), "
                                        r"bpf_xdp_store_bytes \(190\); run it on the model"):
        check_supported(image, Target())


def _event_frames() -> list[XdpInput]:
    return [XdpInput(udp_frame(src, "10.0.0.2", 1, 2)) for src in ("10.0.0.1", "10.0.0.9", "10.0.0.3")]


def test_ring_buffer_records_come_with_their_packets():
    """Each packet's records, map by map; a ring of 4096 bytes takes two
    1500-byte records and refuses the third (-EAGAIN); the next packet finds
    it empty again (the host took the records)."""
    run = runs_agree(load_program(DATA / "events.c"), _event_frames())
    event = [bytes([10, 0, 0, a, 10, 0, 0, 2, 42, 0, 0, 0]) for a in (1, 9, 3)]
    alert = event[1] + b"\x5a" + bytes(1487)
    assert [r.ringbuf for r in run.results] == [[("events", event[0])],
                                                [("events", event[1]), ("alerts", alert), ("alerts", alert)],
                                                [("events", event[2])]]
    assert _signed(run.maps, "status") == {0: 0, 1: 0, 2: 0, 3: -11}


def test_the_kernel_agrees_on_ring_buffers(kernel):
    program = load_program(DATA / "events.c")
    runs = [run_traffic(program, _event_frames() * 2, engine=e) for e in ("interp", "kernel")]
    assert [r.ringbuf for r in runs[0].results] == [r.ringbuf for r in runs[1].results]
    record_kernel_packets(6)


def test_hxdp_run_lists_the_records(tmp_path, capsys):
    from hxdp.cli import main
    from hxdp.pcap import PcapRecord, write_pcap
    pcap = tmp_path / "in.pcap"
    write_pcap(pcap, [PcapRecord(f.packet, i * 1e-6) for i, f in enumerate(_event_frames())])
    assert main(["run", str(DATA / "events.c"), "--pcap", str(pcap), "--engine", "model"]) == 0
    out = capsys.readouterr().out
    assert "ring buffer records: 5 (events 3, alerts 2)" in out
    assert "  packet   1  alerts: 1500 bytes  0a000009 0a000002 2a000000 5a000000" in out
    assert "  1   42      1    0  XDP_PASS            42  ringbuf: 3" in out


def test_a_spin_lock_taken_twice_or_released_unheld_faults():
    from hxdp.ebpf.asm import assemble
    from hxdp.ebpf.program import Program
    from hxdp.ebpf.runtime import XdpRuntime
    twice = "mov %r1, %r10\nadd %r1, -8\nstdw [%r1+0], 0\ncall 93\nmov %r1, %r10\nadd %r1, -8\ncall 93\nexit"
    result = XdpRuntime(Program("twice", assemble(twice))).run(XdpInput(bytes(60)))
    assert result.action == XdpAction.ABORTED and "bpf_spin_lock of a lock the program holds" in result.fault
    unheld = "mov %r1, %r10\nadd %r1, -8\nstdw [%r1+0], 0\ncall 94\nexit"
    result = XdpRuntime(Program("unheld", assemble(unheld))).run(XdpInput(bytes(60)))
    assert "bpf_spin_unlock of a lock the program does not hold" in result.fault


def _loop_program(count: int, flags: int, stop: int):
    """bpf_loop(count, cb, ctx, flags): the callback stops at index ``stop``
    and adds each index to a stack word the context points at; r0 is the
    iterations times 1000 plus the sum."""
    from hxdp.ebpf.asm import assemble
    from hxdp.ebpf.isa import Pseudo
    from hxdp.ebpf.program import Program
    text = f"""
        stdw [%r10-8], 0
        lddw %r1, {count}
        lddw %r2, 0
        mov %r3, %r10
        add %r3, -8
        mov %r4, {flags}
        call 181
        mul %r0, 1000
        ldxdw %r1, [%r10-8]
        add %r0, %r1
        exit
    cb:
        ldxdw %r3, [%r2+0]
        add %r3, %r1
        stxdw [%r2+0], %r3
        mov %r0, 0
        jne %r1, {stop}, +1
        mov %r0, 1
        exit
    """
    insns = assemble(text)
    load = next(i for i in insns if i.mnemonic == "lddw" and i.dst == 2)
    cb = next(i.pc for i in insns if i.mnemonic == "ldxdw" and i.dst == 3)
    insns = [dataclasses.replace(i, src=Pseudo.FUNC, imm=cb - (i.pc + 1)) if i is load else i for i in insns]
    return Program("loop", insns, functions={0: "loop", cb: "cb"})


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.integers(0, 40), st.sampled_from([MAX_LOOPS, MAX_LOOPS + 1, 1 << 32 | 3])),
       st.sampled_from([0, 0, 0, 1]), st.integers(0, 45))
def test_bpf_loop_made_a_loop_does_what_the_helper_does(count, flags, stop):
    """The compiler's loop (on the interpreter and the model) returns what the
    interpreter's helper returns: the iterations, -EINVAL for flags, -E2BIG
    past the kernel's limit, a 64-bit count cut to 32 bits."""
    from hxdp.compiler.loops import expand_loops
    from hxdp.ebpf.runtime import XdpRuntime
    from hxdp.model.engine import ModelEngine
    program = _loop_program(count, flags, stop)
    if (count & 0xFFFFFFFF) > 1000 and not flags:
        count_cut = count & 0xFFFFFFFF
        if count_cut <= MAX_LOOPS and stop >= count_cut:
            return                          # millions of calls: too slow for the interpreter here
    want = XdpRuntime(program).run(XdpInput(bytes(60))).action
    assert XdpRuntime(expand_loops(program)).run(XdpInput(bytes(60))).action == want
    assert ModelEngine(compile_program(program, Target())).run(XdpInput(bytes(60))).action == want


def test_a_callback_loaded_out_of_sight_is_refused_by_name():
    from hxdp.compiler.loops import expand_loops
    from hxdp.compiler.lower import CompileError
    program = _loop_program(3, 0, 9)
    moved = [dataclasses.replace(i, dst=3) if i.mnemonic == "lddw" and i.src == 4 else i for i in program.insns]
    with pytest.raises(CompileError, match="loop pc 8: bpf_loop's callback must be loaded"):
        expand_loops(dataclasses.replace(program, insns=moved))
