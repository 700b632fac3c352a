"""Unit tests of the machine-IR passes, each on a small program whose
right answer is plain to see."""

from __future__ import annotations

from hxdp.compiler.bounds import fuse_bounds_checks
from hxdp.compiler.copyprop import propagate_copies
from hxdp.compiler.dce import eliminate_dead_code
from hxdp.compiler.deadstores import remove_dead_stack_stores
from hxdp.compiler.ddg import build_ddg
from hxdp.compiler.exits import fold_exit_actions
from hxdp.compiler.forward import forward_stack_values
from hxdp.compiler.frameaddr import fold_frame_addresses
from hxdp.compiler.hoist import hoist_control_equivalent
from hxdp.compiler.inline import frame_bytes, inline_calls
from hxdp.compiler.lower import lower
from hxdp.compiler.mir import MIR
from hxdp.compiler.orient import orient_branches
from hxdp.compiler.packetstart import PACKET_START, fold_packet_start
from hxdp.compiler.regalloc import allocate_registers
from hxdp.compiler.rename import rename_registers
from hxdp.compiler.schedule import schedule
from hxdp.compiler.spaces import infer_spaces
from hxdp.compiler.stackzero import remove_stack_zeroing
from hxdp.compiler.taildup import MAX_TAIL_OPS, duplicate_tails
from hxdp.compiler.traces import form_traces
from hxdp.compiler.widen import widen_accesses
from hxdp.ebpf.asm import assemble
from hxdp.ebpf.program import Program
from hxdp.target import Op, Space, Target


def mir(text: str):
    cfg, _ = inline_calls(lower(Program("t", assemble(text))), 512)
    return cfg


def ops(cfg) -> list[str]:
    return [str(m) for b in cfg.blocks for m in b.insns]


def test_copy_propagation_makes_three_operand_code():
    cfg = mir("mov %r2, %r10\nadd %r2, -8\nmov %r0, %r2\nexit")
    propagate_copies(cfg)
    eliminate_dead_code(cfg, MIR)
    assert ops(cfg) == ["addi r2, r10, -8", "exit r2"]


def test_a_copy_is_forgotten_when_its_source_changes():
    cfg = mir("mov %r2, %r3\nadd %r3, 1\nadd %r2, 5\nmov %r0, %r2\nexit")
    propagate_copies(cfg)
    assert ops(cfg)[2] == "addi r2, r2, 5"


def test_a_32_bit_move_of_a_value_with_its_upper_half_zero_is_a_copy():
    cfg = mir("ldxw %r2, [%r1+0]\nxor32 %r2, 7\nmov32 %r3, %r2\nlsh32 %r3, 6\nmov32 %r4, %r1\n"
              "mov %r0, %r3\nadd %r0, %r4\nexit")
    propagate_copies(cfg)
    eliminate_dead_code(cfg, MIR)
    # r2 holds a 32-bit result: its move goes; r1 is a 64-bit pointer: its move stays.
    assert ops(cfg)[2:4] == ["lsh32i r3, r2, 6", "mov32 r4, r1"]


def test_exit_takes_the_constant_action():
    cfg = mir("mov %r0, 2\nexit")
    fold_exit_actions(cfg)
    eliminate_dead_code(cfg, MIR)
    assert ops(cfg) == ["exiti 2"]


def test_negative_32_bit_actions_are_not_folded():
    cfg = mir("mov32 %r0, -1\nexit")      # r0 = 0xffffffff, not -1
    assert fold_exit_actions(cfg) == 0


def test_zero_stores_to_fresh_stack_go_and_others_stay():
    cfg = mir("stdw [%r10-8], 0\nstdw [%r10-16], 7\nstdw [%r10-16], 0\nmov %r0, 1\nexit")
    assert remove_stack_zeroing(cfg, 512) == 1
    assert ops(cfg)[:2] == ["st8i r10, 7, -16", "st8i r10, 0, -16"]


def test_calls_are_inlined_below_the_callers_frame():
    text = """stdw [%r10-16], 1
              mov %r6, 5
              call local sub
              add %r0, %r6
              exit
              sub:
              mov %r6, 9
              stdw [%r10-8], 2
              mov %r0, %r6
              exit"""
    functions = lower(Program("t", assemble(text)))
    assert frame_bytes(functions[0]) == 16
    cfg, need = inline_calls(functions, 512)
    assert need == 24
    text_ops = ops(cfg)
    assert "addi r36, r10, -16" in text_ops and "movi r32, 9" in text_ops
    allocate_registers(cfg, 16)
    assert all(m.dst < 16 and m.a < 16 for b in cfg.blocks for m in b.insns)


def test_spaces_follow_pointers_from_the_context_and_the_stack():
    cfg = mir("ldxw %r2, [%r1+0]\nldxb %r3, [%r2+12]\nstxb [%r10-1], %r3\nmov %r0, 2\nexit")
    infer_spaces(cfg, context_in_r1=True)
    spaces = [m.space for b in cfg.blocks for m in b.insns if m.op.name.startswith(("LD", "ST"))]
    assert spaces == [Space.CONTEXT, Space.PACKET, Space.STACK]


def test_a_spilled_pointer_keeps_its_kind_until_its_slot_is_written():
    cfg = mir("stxdw [%r10-8], %r1\ncall 7\nldxdw %r2, [%r10-8]\nldxw %r3, [%r2+0]\n"
              "stxw [%r10-4], %r3\nldxdw %r2, [%r10-8]\nldxw %r3, [%r2+0]\nmov %r0, 2\nexit")
    infer_spaces(cfg, context_in_r1=True)
    spaces = [m.space for b in cfg.blocks for m in b.insns if m.op.name.startswith(("LD", "ST"))]
    assert spaces == [Space.STACK, Space.STACK, Space.CONTEXT, Space.STACK, Space.STACK, None]


def test_accesses_through_r10_plus_a_constant_go_through_r10_and_a_pointer_spilled_so_keeps_its_kind():
    cfg = mir("mov %r6, %r10\nadd %r6, -48\nstxdw [%r6+32], %r1\ncall 7\nldxdw %r2, [%r6+32]\n"
              "ldxw %r3, [%r2+0]\nmov %r0, 2\nexit")
    assert fold_frame_addresses(cfg) == 2
    infer_spaces(cfg, context_in_r1=True)
    accesses = [(str(m), m.space) for b in cfg.blocks for m in b.insns if m.op.name.startswith(("LD", "ST"))]
    assert accesses == [("st8 r10, r1, -16", Space.STACK), ("ld8 r2, r10, -16", Space.STACK),
                        ("ld4 r3, r2, 0", Space.CONTEXT)]


def test_a_register_that_holds_r10_plus_a_constant_only_on_some_paths_is_left():
    joined = "mov %r6, %r10\nadd %r6, -8\njeq %r1, 0, +1\nadd %r6, -8\nstxdw [%r6+0], %r1\nmov %r0, 2\nexit"
    clobbered = "mov %r2, %r10\nadd %r2, -8\ncall 7\nstxdw [%r2+0], %r1\nmov %r0, 2\nexit"
    assert fold_frame_addresses(mir(joined)) == fold_frame_addresses(mir(clobbered)) == 0


def test_the_packets_start_is_a_constant_until_a_helper_may_move_it():
    cfg = mir("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxw %r4, [%r1+8]\nmov %r6, %r1\njeq %r3, 0, on\n"
              "mov %r1, %r6\nmov %r2, -14\ncall 44\non:\nldxw %r2, [%r6+0]\nldxw %r2, [%r6+8]\nmov %r0, 2\nexit")
    infer_spaces(cfg, context_in_r1=True)
    assert fold_packet_start(cfg) == 2
    assert ops(cfg)[:3] == [f"mov32i r2, {PACKET_START}", "ld4 r3, r1, 4", f"mov32i r4, {PACKET_START}"]
    assert ops(cfg)[-4:-2] == ["ld4 r2, r6, 0", "ld4 r2, r6, 8"]      # after a join one way into which moved it


PACKET = "ldxw %r1, [%r1+0]\n"          # r1: the packet's first byte


def widened(text: str) -> list[str]:
    cfg = mir(PACKET + text + "\nmov %r0, 2\nexit")
    infer_spaces(cfg, context_in_r1=True)
    while widen_accesses(cfg) + eliminate_dead_code(cfg, MIR):
        pass
    return ops(cfg)[1:-2]


def test_bytes_shifted_and_ored_together_become_one_load():
    assert widened("ldxb %r2, [%r1+13]\nlsh32 %r2, 8\nldxb %r3, [%r1+12]\nor32 %r2, %r3\n"
                   "stxh [%r10-2], %r2") == ["ld2 r2, r1, 12", "st2 r10, r2, -2"]


def test_a_byte_by_byte_copy_becomes_one_six_byte_load_and_store():
    copy = "".join(f"ldxb %r2, [%r1+{k}]\nstxb [%r1+{6 + k}], %r2\n" for k in (2, 3, 0, 1, 4, 5))
    load, store = widened(copy)[:2]
    v = load.split()[1].rstrip(",")
    assert (load, store) == (f"ld6 {v}, r1, 0", f"st6 r1, {v}, 6")


def test_a_map_values_bytes_copied_into_the_packet_become_one_load_and_store_unless_the_map_is_written():
    lookup = "mov %r6, %r1\ncall 1\n"       # r0: a map value, r6: the packet
    copy = "".join(f"ldxb %r2, [%r0+{k}]\nstxb [%r6+{k}], %r2\n" for k in range(6))
    load, store = widened(lookup + copy)[2:4]
    v = load.split()[1].rstrip(",")
    assert (load, store) == (f"ld6 {v}, r0, 0", f"st6 r6, {v}, 0")
    written = copy.replace("stxb [%r6+2], %r2\n", "stxb [%r6+2], %r2\nstxb [%r0+9], %r2\n")
    assert not any(op.startswith("ld6") for op in widened(lookup + written))


def test_stores_of_a_registers_bytes_become_one_store():
    text = "ldxw %r2, [%r1+20]\n" + "".join(f"mov %r3, %r2\nrsh %r3, {8 * k}\nstxb [%r10{k - 4}], %r3\n"
                                            for k in range(4))
    assert widened(text) == ["ld4 r2, r1, 20", "st4 r10, r2, -4"]


def test_constant_bytes_stored_side_by_side_become_one_store_of_an_immediate():
    header = "stb [%r1+12], 0x86\nmov %r2, 0xdd\nstxb [%r1+13], %r2\nstw [%r1+14], 0x60"
    assert widened(header)[-1] == f"st6i r1, {0x60dd86}, 12"
    negative = "".join(f"stb [%r1+{k}], 0xff\n" for k in range(8))
    assert widened(negative) == ["st8i r1, -1, 0"]
    wide = "".join(f"stb [%r1+{k}], {k + 1}\n" for k in range(8))     # not a sign-extended 32-bit value
    assert widened(wide) == [f"st4i r1, {0x04030201}, 0", f"st4i r1, {0x08070605}, 4"]


def test_bytes_are_not_merged_across_a_store_that_may_change_them_or_a_helper():
    overwritten = "ldxb %r2, [%r1+0]\nldxw %r4, [%r10-8]\nstxb [%r4+0], %r2\nldxb %r3, [%r1+1]\n" \
                  "lsh %r3, 8\nor %r3, %r2\nstxh [%r10-2], %r3"
    assert "ld2 r3, r1, 0" not in widened(overwritten)
    helper = "stxb [%r10-2], %r1\ncall 7\nstxb [%r10-1], %r0"
    assert widened(helper) == ["st1 r10, r1, -2", "call 7", "st1 r10, r0, -1"]


def _renamed(text: str, live_at_end=frozenset({0, 10}), registers: int = 16) -> list[str]:
    (block,) = mir(text).blocks
    ops = block.insns
    return [str(m) for m in rename_registers(ops, [frozenset()] * len(ops), live_at_end, registers)]


def test_a_reused_register_is_renamed_so_unrelated_values_stop_waiting_for_each_other():
    got = _renamed("ldxw %r1, [%r10-4]\nstxw [%r10-8], %r1\nldxw %r1, [%r10-12]\nstxw [%r10-16], %r1\n"
                   "mov %r0, 2\nexit")
    assert got[:2] == ["ld4 r1, r10, -4", "st4 r10, r1, -8"]
    fresh = got[2].split()[1]
    assert fresh != "r1," and got[2:4] == [f"ld4 {fresh} r10, -12", f"st4 r10, {fresh} -16"]


def test_a_value_nobody_reads_does_not_clobber_a_live_register():
    # Four registers: r0, r2 and r3 stay live to the end, so the dead load
    # into r1 has nowhere else to go.
    got = _renamed("mov %r3, 7\nmov %r2, 1\nmov %r0, 1\nldxw %r1, [%r10-4]\nstxw [%r10-8], %r1\n"
                   "ldxw %r1, [%r10-12]\nldxw %r1, [%r10-16]\nstxw [%r10-20], %r1\nadd %r0, %r2\n"
                   "add %r0, %r3\nexit", registers=4)
    assert got[5] == "ld4 r1, r10, -12"


def test_values_read_after_the_superblock_or_by_a_helper_keep_their_register():
    live_out = "ldxw %r1, [%r10-4]\nstxw [%r10-8], %r1\nldxw %r1, [%r10-12]\nmov %r0, 2\nexit"
    assert _renamed(live_out, frozenset({0, 1, 10}))[2] == "ld4 r1, r10, -12"
    helper = "ldxw %r1, [%r10-4]\nstxw [%r10-8], %r1\nldxw %r1, [%r10-12]\ncall 1\nexit"
    assert _renamed(helper)[2] == "ld4 r1, r10, -12"


def _checked(text: str) -> list[str]:
    cfg = mir("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\n" + text + "\nout:\nmov %r0, 1\nexit")
    infer_spaces(cfg, context_in_r1=True)
    while fuse_bounds_checks(cfg, True) + propagate_copies(cfg) + eliminate_dead_code(cfg, MIR):
        pass
    return ops(cfg)


def test_compares_with_data_end_become_bounds_checks_with_the_offset_folded_in():
    got = _checked("mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, out\nmov %r0, 2\nexit")
    assert got[:2] == ["ld4 r2, r1, 0", "bout r2, 14, b2"]
    got = _checked("mov %r4, %r2\nadd %r4, 14\njgt %r3, %r4, out\nmov %r0, 2\nexit")   # end > x
    assert got[1] == "bin r2, 15, b2"


def test_a_data_end_read_before_the_packet_moved_is_not_the_packets_end():
    text = "mov %r6, %r3\nmov %r7, %r2\nmov %r2, 4\ncall 44\nmov %r4, %r7\nadd %r4, 14\n" \
           "jgt %r4, %r6, out\nmov %r0, 2\nexit"
    assert not any(o.startswith(("bout", "bin")) for o in _checked(text))


def test_the_top_of_a_join_moves_into_the_block_that_opens_the_diamond():
    cfg = mir("ldxw %r2, [%r10-4]\njeq %r2, 0, join\nmov %r3, 1\nstxw [%r10-8], %r3\n"
              "join:\nmov %r0, %r6\nadd %r0, %r2\nexit")
    assert hoist_control_equivalent(cfg) == 1
    assert [str(m) for m in cfg.blocks[0].insns] == ["ld4 r2, r10, -4", "mov r0, r6", "beqi r2, 0, b2"]
    # What the way between writes, or a loop back into the join, keeps it there.
    assert hoist_control_equivalent(mir("jeq %r2, 0, join\nmov %r6, 1\njoin:\nmov %r0, %r6\nexit")) == 0
    loop = mir("mov %r0, 0\ntop:\nmov %r3, 5\nadd %r0, %r3\njlt %r0, 20, top\nexit")
    assert hoist_control_equivalent(loop) == 0


def _rows(text: str, target: Target) -> list[list[str]]:
    cfg = mir(text)
    infer_spaces(cfg, context_in_r1=True)
    (trace,) = form_traces(cfg)
    g = build_ddg(trace.ops, target, [frozenset()] * len(trace.ops))
    return [[str(m) for m in row] for row in schedule(g, target)]


def test_independent_stack_accesses_share_a_row_and_dependent_ones_do_not():
    rows = _rows("stdw [%r10-8], 1\nstdw [%r10-16], 2\nldxdw %r0, [%r10-8]\nexit",
                 Target(store_ports=(frozenset(Space),) * 2))
    assert rows[0] == ["st8i r10, 1, -8", "st8i r10, 2, -16"]
    assert rows[1][-1] == "ld8 r0, r10, -8"      # after the store it reads


def test_lanes_and_ports_limit_a_row():
    text = "\n".join(f"mov %r{r}, {r}" for r in range(6)) + "\nexit"
    assert [len(r) for r in _rows(text, Target.with_lanes(2))] == [2, 2, 2, 1]


def test_the_lanes_share_one_multiplier_and_one_divider():
    text = "".join(f"mov %r{r}, {r}\nmul %r{r}, %r{r}\n" for r in range(2, 6)) + \
        "div %r2, %r3\ndiv %r4, %r5\nmov %r0, %r2\nadd %r0, %r4\nexit"
    rows = _rows(text, Target())
    for unit in ("mul", "div"):
        per_row = [sum(op.startswith(unit) for op in row) for row in rows]
        assert max(per_row) == 1 and sum(per_row) == (4 if unit == "mul" else 2), (unit, rows)


def _guarded_load(jump_if_short: bool) -> str:
    """A load of a packet field behind a bounds check, laid out with the
    short packet's way after the check or after the load."""
    head = "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\n"
    load, short = "ldxh %r0, [%r2+12]\nexit", "mov %r0, 1\nexit"
    if jump_if_short:
        return head + f"jgt %r4, %r3, away\n{load}\naway:\n{short}"
    return head + f"jle %r4, %r3, away\n{short}\naway:\n{load}"


def test_a_load_above_its_bounds_check_becomes_non_faulting():
    from hxdp.compiler.driver import compile_program
    image = compile_program(Program("t", assemble(_guarded_load(True))), Target())
    names = [s.op for row in image.rows for s in row]
    assert Op.LD2N in names and Op.LD2 not in names


def _oriented(text: str) -> list[str]:
    cfg = mir(text)
    infer_spaces(cfg, context_in_r1=True)
    fuse_bounds_checks(cfg, True)
    orient_branches(cfg)
    return [str(m) for trace in form_traces(cfg) for m in trace.ops]


def test_a_passed_bounds_check_falls_through():
    code = _oriented(_guarded_load(False))
    assert code[4:6] == ["bout r4, 0, b1", "ld2 r0, r2, 12"]


def test_the_way_with_more_work_ahead_falls_through_and_loops_keep_theirs():
    text = "jeq %r2, 0, long\nmov %r0, 1\nexit\nlong:\nmov %r0, %r2\nadd %r0, 3\nmul %r0, 5\nexit"
    assert _oriented(text)[:2] == ["bnei r2, 0, b1", "mov r0, r2"]
    assert _oriented(text.replace("add %r0, 3\nmul %r0, 5\n", ""))[0] == "beqi r2, 0, b2"       # a tie: as laid out
    loop = "mov %r0, 0\ntop:\nadd %r0, 3\njlt %r0, 20, top\nmov %r0, 1\nadd %r0, 2\nmul %r0, 3\nexit"
    assert "blti r0, 20, b1" in _oriented(loop)


def test_a_value_stored_to_the_stack_and_loaded_back_is_moved_and_its_store_dies():
    cfg = mir("ldxw %r2, [%r1+0]\nstxw [%r10-8], %r2\nldxw %r3, [%r10-8]\nstxdw [%r10-16], %r1\n"
              "ldxw %r4, [%r10-16]\nldxdw %r5, [%r10-16]\nmov %r0, %r3\nadd %r0, %r4\nadd %r0, %r5\nexit")
    infer_spaces(cfg, context_in_r1=True)
    assert forward_stack_values(cfg) == 3
    # r2 holds 4 bytes (zero above): a plain move; r1 is wider: mov32 for the 4-byte load.
    assert ops(cfg)[:6] == ["ld4 r2, r1, 0", "st4 r10, r2, -8", "mov r3, r2", "st8 r10, r1, -16",
                            "mov32 r4, r1", "mov r5, r1"]
    assert remove_dead_stack_stores(cfg, 512) == 2
    assert not any(o.startswith("st") for o in ops(cfg))


def test_a_stack_value_is_forwarded_into_a_block_it_alone_leads_to_but_not_into_a_join():
    spill = "mov %r6, %r1\nstxdw [%r10-8], %r6\ncall 7\njeq %r0, 0, out\nldxdw %r2, [%r10-8]\nldxw %r0, [%r2+0]\n"
    cfg = mir(spill + "exit\nout:\nexit")
    assert forward_stack_values(cfg) == 1 and "mov r2, r6" in ops(cfg)
    joined = mir(spill + "out:\nldxdw %r3, [%r10-8]\nmov %r0, %r3\nexit")
    assert forward_stack_values(joined) == 1 and "ld8 r3, r10, -8" in ops(joined)


def test_stack_values_are_not_forwarded_past_what_may_change_them():
    for between in ("stxb [%r10-7], %r3", "mov %r2, 1", "mov %r6, %r10\nstxb [%r6-5], %r3",
                    "lddw %r1, 0\nmov %r2, %r10\nadd %r2, -8\nmov %r3, %r10\nmov %r4, 0\ncall 44"):
        cfg = mir(f"ldxw %r2, [%r1+0]\nstxw [%r10-8], %r2\n{between}\nldxw %r0, [%r10-8]\nexit")
        infer_spaces(cfg, context_in_r1=True)
        assert forward_stack_values(cfg) == 0, between
    # A store a helper reads through its key pointer, or a later block loads, stays.
    kept = mir("stxw [%r10-4], %r2\nlddw %r1, 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\nexit")
    assert remove_dead_stack_stores(kept, 512) == 0
    kept = mir("stxw [%r10-4], %r2\njeq %r2, 0, out\nldxw %r0, [%r10-4]\nexit\nout:\nexit")
    assert remove_dead_stack_stores(kept, 512) == 0


_SHARED_TAIL = """jeq %r2, 0, other
                  mov %r3, 1
                  ja tail
                  other:
                  mov %r3, 2
                  tail:
                  stxdw [%r10-8], %r3
                  ldxdw %r0, [%r10-8]
                  add %r0, 7
                  exit"""


def test_a_short_shared_tail_is_copied_into_each_way_and_no_jump_is_left():
    cfg = mir(_SHARED_TAIL)
    assert duplicate_tails(cfg) == 1
    traces = form_traces(cfg)
    assert len(traces) == 2 and all(t.ops[-1].op is Op.EXIT for t in traces)
    assert not any(m.op is Op.JUMP for t in traces for m in t.ops)
    long_tail = _SHARED_TAIL.replace("add %r0, 7", "\n".join(["add %r0, 7"] * MAX_TAIL_OPS))
    assert duplicate_tails(mir(long_tail)) == 0
    assert duplicate_tails(mir("mov %r0, 0\ntop:\nadd %r0, 3\njlt %r0, 20, top\nexit")) == 0


def test_tail_copies_that_do_not_fit_the_instruction_memory_are_dropped():
    from hxdp.compiler.driver import compile_program
    program = Program("t", assemble(_SHARED_TAIL))
    copied = compile_program(program, Target())
    assert not any(s.op is Op.JUMP for row in copied.rows for s in row)
    tight = compile_program(program, Target(imem_rows=len(copied.rows) - 1))
    assert len(tight.rows) < len(copied.rows)
    assert any(s.op is Op.JUMP for row in tight.rows for s in row)


def test_an_exit_comes_a_row_after_a_helper_call_or_an_atomic():
    from hxdp.compiler.driver import compile_program
    for effect in ("call 5", "mov %r2, 1\nlock add [%r10-8], %r2"):
        image = compile_program(Program("t", assemble(f"stdw [%r10-8], 0\n{effect}\nmov %r0, 2\nexit")), Target())
        row_of = {s.op: r for r, row in enumerate(image.rows) for s in row}
        busy = next(op for op in row_of if op.name in ("CALL", "ATOMIC_ADD"))
        assert row_of[Op.EXITI] > row_of[busy], effect
