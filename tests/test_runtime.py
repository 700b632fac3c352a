"""The interpreter's XDP runtime: context, packet bounds, helpers."""

from __future__ import annotations

import dataclasses

import pytest

from hxdp.ebpf.asm import assemble
from hxdp.ebpf.fib import Route, RouteTable
from hxdp.ebpf.isa import Pseudo
from hxdp.ebpf.program import MapDef, MapType, Program
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import XdpAction, XdpInput


def program(text: str, maps=(), name="t") -> Program:
    """Assemble; ``lddw %rX, N`` with N < 16 refers to map N."""
    insns = [dataclasses.replace(i, src=Pseudo.MAP_FD) if i.mnemonic == "lddw" and i.imm < 16 else i
             for i in assemble(text)]
    return Program(name, insns, list(maps), license="GPL")


def test_packet_reads_beyond_data_end_fault_and_abort():
    prog = program("ldxw %r2, [%r1+0]\nldxb %r0, [%r2+60]\nexit")
    result = XdpRuntime(prog).run(XdpInput(bytes(60)))
    assert result.action == XdpAction.ABORTED and "pc 1" in result.fault and "packet" in result.fault


def test_context_is_read_only():
    result = XdpRuntime(program("stw [%r1+12], 5\nmov %r0, 2\nexit")).run(XdpInput(bytes(60)))
    assert result.action == XdpAction.ABORTED and "read-only" in result.fault


def test_context_fields():
    prog = program("ldxw %r0, [%r1+12]\nldxw %r2, [%r1+16]\nlsh %r2, 8\nor %r0, %r2\nexit")
    result = XdpRuntime(prog).run(XdpInput(bytes(60), ingress_ifindex=7, rx_queue_index=3))
    assert result.action == 7 | 3 << 8


def test_tail_call_runs_the_target_with_the_same_context():
    target = program("ldxw %r0, [%r1+12]\nexit", name="target")
    caller = program("""
        mov %r6, %r1
        lddw %r2, 0
        mov %r3, 1
        call 12
        mov %r0, 1
        exit
    """, [MapDef("jumps", MapType.PROG_ARRAY, 4, 4, 4)])
    runtime = XdpRuntime(dataclasses.replace(caller, prog_arrays={"jumps": {1: target}}))
    assert runtime.run(XdpInput(bytes(60), ingress_ifindex=3)).action == 3
    assert XdpRuntime(caller).run(XdpInput(bytes(60))).action == XdpAction.DROP   # empty slot


def test_trace_printk_output_is_captured():
    fmt = b"len %d q %u\0"
    words = [int.from_bytes(fmt[i:i + 8].ljust(8, b"\0"), "little") for i in range(0, len(fmt), 8)]
    stores = "\n".join(f"lddw %r2, {w:#x}\nstxdw [%r10{-16 + 8 * i:+d}], %r2" for i, w in enumerate(words))
    prog = program(f"""
        mov %r6, %r1
        {stores}
        mov %r1, %r10
        add %r1, -16
        mov %r2, {len(fmt)}
        mov %r3, -5
        mov %r4, 42
        call 6
        mov %r0, 2
        exit
    """)
    assert XdpRuntime(prog).run(XdpInput(bytes(60))).trace == ["len -5 q 42"]


def test_fib_lookup_fills_the_parameters():
    routes = RouteTable([Route("10.0.0.0/8", 5, bytes.fromhex("020000000001"), bytes.fromhex("020000000002"))])
    prog = program("""
        mov %r6, %r1
        stb [%r10-64], 2
        stw [%r10-32], 0x0403020a
        mov %r2, %r10
        add %r2, -64
        mov %r3, 64
        mov %r4, 0
        call 69
        ldxw %r1, [%r10-56]
        lsh %r1, 8
        or %r0, %r1
        exit
    """)
    # stw stores 0x0a020304 little-endian: 10.2.3.4 in network order.
    assert XdpRuntime(prog, routes=routes).run(XdpInput(bytes(60))).action == 0 | 5 << 8


def test_route_files_give_routes(tmp_path):
    text = ("# prefix ifindex smac dmac [mtu]\n10.0.0.0/8 5 02:00:00:00:00:01 020000000002\n\n"
            "2001:db8::/32 7 020000000003 - 9000  # neighbour unknown\n")
    (tmp_path / "routes.txt").write_text(text)
    assert RouteTable.from_file(tmp_path / "routes.txt").routes == [
        Route("10.0.0.0/8", 5, bytes.fromhex("020000000001"), bytes.fromhex("020000000002")),
        Route("2001:db8::/32", 7, bytes.fromhex("020000000003"), None, 9000)]


def test_redirect_records_the_target():
    prog = program("mov %r1, 9\nmov %r2, 0\ncall 23\nexit")
    result = XdpRuntime(prog).run(XdpInput(bytes(60)))
    assert result.action == XdpAction.REDIRECT and result.redirect.ifindex == 9


def test_short_packets_are_refused_with_their_number():
    from hxdp.errors import HxdpError
    runtime = XdpRuntime(program("mov %r0, 2\nexit"))
    runtime.run(XdpInput(bytes(60)))
    with pytest.raises(HxdpError, match="packet 1 has 10 bytes"):
        runtime.run(XdpInput(bytes(10)))

