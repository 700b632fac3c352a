"""The ELF loader on objects compiled here: maps of every kind, global data,
subprograms, several programs per object, line info, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hxdp.ebpf.elf import list_programs, load_elf
from hxdp.ebpf.isa import Form, Pseudo
from hxdp.ebpf.load import load_program
from hxdp.ebpf.program import MapType
from hxdp.ebpf.runtime import XdpRuntime
from hxdp.ebpf.xdp import XdpInput
from hxdp.errors import HxdpError
from hxdp.toolchain import compile_c

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def maps_object() -> Path:
    return compile_c(DATA / "maps_kinds.c")


def test_lists_every_program(maps_object):
    assert list_programs(maps_object) == [("xdp", "first"), ("xdp/second", "second")]


def test_several_programs_need_a_choice(maps_object):
    with pytest.raises(HxdpError, match="several programs match.*first \\(section xdp\\)"):
        load_elf(maps_object)


def test_map_definitions(maps_object):
    program = load_elf(maps_object, section="xdp")
    maps = {m.name: m for m in program.maps}
    assert (maps["outer"].type, maps["outer"].max_entries, maps["outer"].inner.type,
            maps["outer"].inner.max_entries, maps["outer"].inner.value_size) == \
        (MapType.ARRAY_OF_MAPS, 2, MapType.ARRAY, 4, 8)
    assert (maps["prefixes"].type, maps["prefixes"].key_size, maps["prefixes"].flags) == (MapType.LPM_TRIE, 8, 1)
    assert (maps["jumps"].type, maps["jumps"].key_size, maps["jumps"].value_size) == (MapType.PROG_ARRAY, 4, 4)
    assert (maps["legacy"].type, maps["legacy"].key_size, maps["legacy"].value_size,
            maps["legacy"].max_entries) == (MapType.HASH, 8, 16, 32)
    assert maps[".data"].initial == (3).to_bytes(4, "little") and not maps[".data"].readonly
    assert maps[".rodata"].initial == (9).to_bytes(4, "little") and maps[".rodata"].readonly
    assert maps[".bss"].initial == bytes(8)


def test_relocations_and_subprograms(maps_object):
    program = load_elf(maps_object, program="second")
    names = [m.name for m in program.maps]
    lddw = [i for i in program.insns if i.spec.form is Form.LDDW]
    assert any(i.src == Pseudo.MAP_FD and names[i.imm] == "legacy" for i in lddw)
    assert any(i.src == Pseudo.MAP_VALUE and names[i.imm & 0xFFFFFFFF] == ".data" for i in lddw)
    calls = [i for i in program.insns if i.spec.form is Form.CALL_LOCAL]
    assert calls and all(program.functions[c.pc + 1 + c.imm] == "bump" for c in calls)
    assert program.functions[0] == "second" and program.license == "Dual BSD/GPL"
    assert any(line.text.strip().startswith("hits += by") for line in program.lines.values())


def test_the_loaded_program_runs(maps_object):
    runtime = XdpRuntime(load_elf(maps_object, program="second"))
    verdicts = [runtime.run(XdpInput(bytes(60))).action for _ in range(3)]
    assert verdicts == [2, 2, 1]        # hits goes 5, 7, 9; PASS while below 9
    assert runtime.dump_maps()[".data"][bytes(4)] == (9).to_bytes(4, "little")


def test_unsupported_helper_is_named_with_its_c_line_at_load():
    with pytest.raises(HxdpError, match=r"bad_helper.c: section xdp, instruction 0 \(bad, bad_helper.c:10: "
                                        r"return get_current_pid_tgid\(\) & 3;\): bpf_get_current_pid_tgid "
                                        r"\(14\) is not supported"):
        load_program(DATA / "bad_helper.c")


def test_kernel_helper_names_follow_the_uapi_numbering():
    from hxdp.ebpf.helpers import HelperId
    from hxdp.ebpf.kernel_helpers import helper_name
    assert all(helper_name(h) == f"bpf_{h.name.lower()}" for h in HelperId)
    assert helper_name(189) == "bpf_xdp_load_bytes" and helper_name(100000) == "helper 100000"


def test_unsupported_relocation_is_named_at_load(maps_object, tmp_path):
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    data = bytearray(maps_object.read_bytes())
    with open(maps_object, "rb") as f:
        elf = ELFFile(f)
        rel = next(s for s in elf.iter_sections()
                   if isinstance(s, RelocationSection) and elf.get_section(s["sh_info"]).name == "xdp/second")
        entry = rel["sh_offset"]          # first Elf64_Rel: r_offset (8 bytes), then r_info
    data[entry + 8] = 99                   # the relocation type is r_info's low 32 bits
    patched = tmp_path / "patched.o"
    patched.write_bytes(bytes(data))
    with pytest.raises(HxdpError, match="section xdp/second, instruction .*unsupported relocation type 99"):
        load_elf(patched, program="second")


def test_unsupported_map_type_is_named_at_load():
    with pytest.raises(HxdpError, match="map events is a perf_event_array map, which hxdp does not support"):
        load_program(DATA / "bad_map.c")


def test_not_elf_and_missing_files(tmp_path):
    bogus = tmp_path / "x.o"
    bogus.write_bytes(b"\x7fELF" + bytes(60))
    with pytest.raises(HxdpError, match="x.o"):
        load_program(bogus)
    with pytest.raises(HxdpError, match="no such file"):
        load_program(tmp_path / "missing.c")
    with pytest.raises(HxdpError, match="unknown program kind"):
        (tmp_path / "prog.py").write_text("")
        load_program(tmp_path / "prog.py")


def test_compiler_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken.c"
    broken.write_text("int f( {")
    with pytest.raises(HxdpError, match="broken.c"):
        compile_c(broken)


def test_compiled_objects_are_cached():
    first = compile_c(DATA / "maps_kinds.c")
    assert compile_c(DATA / "maps_kinds.c") == first
