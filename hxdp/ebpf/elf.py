"""ELF loader for BPF objects as clang (or zig cc) builds them.

A program is a function symbol in an executable section. Its instructions
are followed by every function it calls (transitively, from any section,
usually ``.text``), laid out the way libbpf lays them out, with ``call
local`` offsets fixed for the new layout. Map references (``.maps``, legacy
``maps``) become ``lddw`` with ``Pseudo.MAP_FD`` and the map's index; global
data (``.data``, ``.rodata``, ``.bss``...) become single-entry array maps
referenced with ``Pseudo.MAP_VALUE``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import Section, SymbolTableSection

from ..errors import HxdpError
from ..files import read_bytes
from .btf import Btf, BtfError, Kind, LineInfo, kernel_btf, parse_btf, parse_func_info, parse_line_info
from .ctype import CType, Scalar, from_btf, variables
from .isa import Form, Insn, Pseudo, decode
from .maps import MAX_MAP_BYTES
from .program import KEYLESS_TYPES, SUPPORTED_MAP_TYPES, MapDef, MapType, ObjectBtf, Program, SourceLine

__all__ = ["load_elf", "list_programs", "R_BPF_64_64", "R_BPF_64_32"]

EM_BPF = 247
R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_32 = 10
SHF_EXECINSTR = 0x4
GLOBAL_DATA = (".data", ".rodata", ".bss")
# A global-data map's one key.
GLOBAL_DATA_KEY = Scalar(4, "__u32")
LEGACY_MAP_DEF = struct.Struct("<5I")


@dataclass(frozen=True)
class _Function:
    section: str
    name: str
    start: int   # slot index within the section
    end: int


class _Object:
    """One opened ELF object: sections, symbols, BTF, maps. ``name`` is the
    file messages name: the C source an object was compiled from, or the
    object itself."""

    def __init__(self, path: Path, name: Path):
        self.path = name
        data = read_bytes(path)
        try:
            self.elf = ELFFile(io.BytesIO(data))
        except ELFError as err:
            raise HxdpError(f"{name}: not a readable ELF object ({err})") from None
        if self.elf["e_machine"] not in ("EM_BPF", EM_BPF):
            raise HxdpError(f"{name}: ELF machine is {self.elf['e_machine']}, not BPF; "
                            "compile with clang -target bpf")
        if not self.elf.little_endian:
            raise HxdpError(f"{name}: big-endian BPF objects are not supported (use -target bpfel)")
        self._check_extents(len(data))
        self.symtab = self.elf.get_section_by_name(".symtab")
        if not isinstance(self.symtab, SymbolTableSection):
            raise HxdpError(f"{name}: no symbol table")
        btf_sec = self.elf.get_section_by_name(".BTF")
        self.btf: Btf | None = parse_btf(btf_sec.data()) if btf_sec else None
        self.code: dict[str, list[Insn]] = {}
        self.functions: list[_Function] = self._functions()
        self.maps: list[MapDef] = []
        self.map_index: dict[tuple[str, int], int] = {}   # (section, offset) -> map index
        self._load_maps()

    def _check_extents(self, size: int) -> None:
        """Refuse an object whose headers reach past its ``size`` bytes: a
        truncated file, said so rather than left to what parsing it raises."""
        if self.elf["e_shoff"] + self.elf.num_sections() * self.elf["e_shentsize"] > size:
            raise HxdpError(f"{self.path}: the file ends before its section headers (a truncated object?)")
        for sec in self.elf.iter_sections():
            if sec["sh_type"] != "SHT_NOBITS" and sec["sh_offset"] + sec["sh_size"] > size:
                raise HxdpError(f"{self.path}: section {sec.name} runs past the end of the file "
                                "(a truncated object?)")

    def where(self, section: str, slot: int | None = None) -> str:
        return f"{self.path}: section {section}" + (f", instruction {slot}" if slot is not None else "")

    def section_code(self, name: str) -> list[Insn]:
        if name not in self.code:
            data = self.elf.get_section_by_name(name).data()
            try:
                self.code[name] = decode(data)
            except HxdpError as err:
                raise HxdpError(f"{self.where(name)}: {err}") from None
        return self.code[name]

    def kernel_btf(self, new_pc: dict[tuple[str, int], int]) -> ObjectBtf | None:
        """The object's BTF as the kernel takes it, with the FUNC types of
        the functions linked at ``new_pc`` ((section, slot) -> pc)."""
        if self.btf is None:
            return None
        sections = {sec.name: (sec["sh_size"], self._offsets(sec)) for sec in self.elf.iter_sections()
                    if sec.name and self.btf.datasec(sec.name) is not None}
        ext = self.elf.get_section_by_name(".BTF.ext")
        infos = parse_func_info(ext.data(), self.btf) if ext is not None else []
        funcs = sorted((new_pc[(i.section, i.insn)], i.type_id) for i in infos if (i.section, i.insn) in new_pc)
        return ObjectBtf(kernel_btf(self.elf.get_section_by_name(".BTF").data(), self.btf, sections), tuple(funcs))

    @functools.cached_property
    def line_infos(self) -> list[LineInfo]:
        """The BTF line info: which C line each instruction that starts one begins."""
        ext = self.elf.get_section_by_name(".BTF.ext")
        return parse_line_info(ext.data(), self.btf) if ext is not None and self.btf is not None else []

    def line_at(self, section: str, slot: int) -> SourceLine | None:
        """The C line an instruction belongs to: the last one begun at or before it in its section."""
        begun = [i for i in self.line_infos if i.section == section and i.insn <= slot]
        last = max(begun, key=lambda i: i.insn, default=None)
        return SourceLine(last.file, last.line, last.text) if last else None

    def _functions(self) -> list[_Function]:
        out = []
        for sym in self.symtab.iter_symbols():
            if sym["st_info"]["type"] != "STT_FUNC" or not isinstance(sym["st_shndx"], int):
                continue
            sec = self.elf.get_section(sym["st_shndx"])
            if not sec["sh_flags"] & SHF_EXECINSTR:
                continue
            end = sym["st_value"] + (sym["st_size"] or sec["sh_size"] - sym["st_value"])
            if not sym["st_value"] < end <= sec["sh_size"]:
                raise HxdpError(f"{self.path}: function {sym.name} lies outside its section {sec.name}")
            out.append(_Function(sec.name, sym.name, sym["st_value"] // 8, end // 8))
        return sorted(out, key=lambda f: (f.section, f.start))

    def programs(self) -> list[_Function]:
        """Entry points: global functions outside .text."""
        return [f for f in self.functions if f.section != ".text"]

    def function_at(self, section: str, slot: int) -> _Function:
        for f in self.functions:
            if f.section == section and f.start <= slot < f.end:
                return f
        raise HxdpError(f"{self.where(section, slot)}: call into no known function")

    # -- maps ----------------------------------------------------------------

    def _load_maps(self) -> None:
        for sec in self.elf.iter_sections():
            if sec.name == ".maps":
                self._btf_maps(sec)
            elif sec.name == "maps":
                self._legacy_maps(sec)
            elif sec.name.startswith(GLOBAL_DATA) and sec["sh_type"] in ("SHT_PROGBITS", "SHT_NOBITS") \
                    and sec["sh_size"]:
                if sec["sh_size"] > MAX_MAP_BYTES:
                    raise HxdpError(f"{self.path}: section {sec.name} holds {sec['sh_size']} bytes, more than a map "
                                    f"the interpreter holds ({MAX_MAP_BYTES >> 20} MiB)")
                data = bytes(sec["sh_size"]) if sec["sh_type"] == "SHT_NOBITS" else sec.data()
                readonly = sec.name.startswith(".rodata")
                self._add_map(MapDef(sec.name, MapType.ARRAY, 4, len(data), 1, initial=data, readonly=readonly,
                                     key_type=GLOBAL_DATA_KEY, value_type=self._variables(sec)),
                              sec.name, None)

    def _variables(self, sec: Section) -> CType | None:
        """A global-data section's value: its variables, where BTF describes them."""
        datasec = self.btf.datasec(sec.name) if self.btf else None
        if datasec is None:
            return None
        return variables(self.btf, datasec, self._offsets(sec), sec["sh_size"])

    def _offsets(self, sec: Section) -> dict[str, int]:
        """Where each variable of a data section is: its symbol's value."""
        return {s.name: s["st_value"] for s in self._symbols_in(sec)}

    def _add_map(self, d: MapDef, section: str, offset: int | None) -> None:
        self.map_index[(section, offset)] = len(self.maps)
        self.maps.append(d)

    def _symbols_in(self, sec: Section):
        index = self.elf.get_section_index(sec.name)
        return sorted((s for s in self.symtab.iter_symbols()
                       if s["st_shndx"] == index and s["st_info"]["type"] == "STT_OBJECT"),
                      key=lambda s: s["st_value"])

    def _legacy_maps(self, sec: Section) -> None:
        data = sec.data()
        for sym in self._symbols_in(sec):
            off = sym["st_value"]
            if off + LEGACY_MAP_DEF.size > len(data):
                raise HxdpError(f"{self.where('maps')}: map {sym.name} is shorter than struct bpf_map_def")
            mtype, ksize, vsize, entries, flags = LEGACY_MAP_DEF.unpack_from(data, off)
            self._add_map(MapDef(sym.name, self._map_type(mtype, sym.name), ksize, vsize, entries, flags),
                          "maps", off)

    def _map_type(self, value: int, name: str) -> MapType:
        try:
            mtype = MapType(value)
        except ValueError:
            raise HxdpError(f"{self.path}: map {name} has unknown map type {value}") from None
        if mtype not in SUPPORTED_MAP_TYPES:
            supported = ", ".join(sorted(t.name.lower() for t in SUPPORTED_MAP_TYPES))
            raise HxdpError(f"{self.path}: map {name} is a {mtype.name.lower()} map, which hxdp does "
                            f"not support; supported: {supported}")
        return mtype

    def _btf_maps(self, sec: Section) -> None:
        if self.btf is None:
            raise HxdpError(f"{self.path}: .maps needs BTF; compile with -g")
        datasec = self.btf.datasec(".maps")
        if datasec is None:
            raise HxdpError(f"{self.path}: no BTF description of .maps")
        # Variable offsets in an object's DATASEC are not final; the symbols are.
        variables = {var.name: var for var in datasec.members}
        for sym in self._symbols_in(sec):
            var = variables.get(sym.name)
            if var is None:
                raise HxdpError(f"{self.path}: map {sym.name} in .maps has no BTF description")
            d = self._btf_map(sym.name, self.btf.resolve(self.btf[var.type].size_or_type).id)
            self._add_map(d, ".maps", sym["st_value"])

    def _btf_map(self, name: str, struct_id: int) -> MapDef:
        btf = self.btf
        t = btf[struct_id]
        if t.kind is not Kind.STRUCT:
            raise HxdpError(f"{self.path}: map {name} is not a struct in BTF")
        fields: dict[str, int] = {}
        types: dict[str, CType] = {}
        ids: dict[str, int] = {}
        inner: MapDef | None = None
        for m in t.members:
            mt = btf.resolve(m.type)
            if m.name in ("key", "value") and mt.kind is Kind.PTR:
                fields[m.name + "_size"] = btf.size(mt.size_or_type)
                types[m.name] = from_btf(btf, mt.size_or_type)
                ids[m.name] = mt.size_or_type
            elif m.name == "values" and mt.kind is Kind.ARRAY:
                target = btf.resolve(mt.elem_type)
                if target.kind is Kind.PTR:
                    inner_struct = btf.resolve(target.size_or_type)
                    if inner_struct.kind is Kind.STRUCT:
                        inner = self._btf_map(f"{name}.inner", inner_struct.id)
            elif mt.kind is Kind.PTR:
                arr = btf.resolve(mt.size_or_type)
                if arr.kind is not Kind.ARRAY:
                    raise HxdpError(f"{self.path}: map {name}: member {m.name} is not __uint()")
                fields[m.name] = arr.nelems
        if "type" not in fields:
            raise HxdpError(f"{self.path}: map {name} has no type")
        mtype = self._map_type(fields["type"], name)
        value_size = fields.get("value_size", 4 if inner else 0)
        if mtype in (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS) and not value_size:
            value_size = 4
        keyless = mtype is MapType.HASH_OF_MAPS or mtype in KEYLESS_TYPES
        return MapDef(name, mtype, fields.get("key_size", 0 if keyless else 4),
                      value_size, fields.get("max_entries", 0), fields.get("map_flags", 0), inner,
                      key_type=types.get("key"), value_type=types.get("value"),
                      btf_ids=(ids.get("key", 0), ids.get("value", 0)))

    # -- relocations ---------------------------------------------------------

    def relocations(self, section: str) -> dict[int, tuple[int, object]]:
        """slot -> (relocation type, symbol) for a code section."""
        out = {}
        for rel_sec in self.elf.iter_sections():
            if not isinstance(rel_sec, RelocationSection):
                continue
            if self.elf.get_section(rel_sec["sh_info"]).name != section:
                continue
            for rel in rel_sec.iter_relocations():
                out[rel["r_offset"] // 8] = (rel["r_info_type"], self.symtab.get_symbol(rel["r_info_sym"]))
        return out


def _check_helpers(obj: _Object, func: _Function, insns: list[Insn]) -> None:
    from .helpers import SUPPORTED_HELPERS, HelperId
    from .kernel_helpers import helper_name
    for insn in insns:
        if insn.spec.form is Form.CALL and insn.imm not in SUPPORTED_HELPERS:
            line = obj.line_at(func.section, insn.pc)
            at = f", {line.file.rsplit('/', 1)[-1]}:{line.line}: {line.text.strip()}" if line else ""
            raise HxdpError(f"{obj.where(func.section, insn.pc)} ({func.name}{at}): {helper_name(insn.imm)} "
                            f"({insn.imm}) is not supported by hxdp; supported: "
                            f"{', '.join(f'bpf_{h.name.lower()} ({int(h)})' for h in HelperId)}")


def _relocate(obj: _Object, func: _Function, insn: Insn, rel) -> tuple[Insn, tuple[str, int] | None]:
    """Apply one relocation: the instruction, and (section, slot) of the
    function it calls or takes the address of (a bpf_loop callback)."""
    rtype, sym = rel
    where = f"{obj.where(func.section, insn.pc)} ({func.name})"
    if rtype == R_BPF_64_64:
        if insn.spec.form is not Form.LDDW:
            raise HxdpError(f"{where}: R_BPF_64_64 relocation on {insn.mnemonic}, not lddw")
        shndx = sym["st_shndx"]
        if not isinstance(shndx, int):
            raise HxdpError(f"{where}: reference to undefined symbol {sym.name!r} "
                            "(extern variables and kfuncs are not supported)")
        section = obj.elf.get_section(shndx)
        target = section.name
        offset = sym["st_value"]
        if (target, offset) in obj.map_index:
            return dataclasses.replace(insn, src=Pseudo.MAP_FD, imm=obj.map_index[(target, offset)]), None
        if (target, None) in obj.map_index:
            delta = offset + (insn.imm & 0xFFFFFFFF)
            return dataclasses.replace(insn, src=Pseudo.MAP_VALUE,
                                       imm=obj.map_index[(target, None)] | (delta << 32)), None
        if section["sh_flags"] & SHF_EXECINSTR:
            return dataclasses.replace(insn, src=Pseudo.FUNC), (target, (offset + (insn.imm & 0xFFFFFFFF)) // 8)
        raise HxdpError(f"{where}: lddw refers to {sym.name or target!r} in section {target}, "
                        "which is neither a map, global data nor a function")
    if rtype == R_BPF_64_32:
        if insn.spec.form is not Form.CALL_LOCAL:
            raise HxdpError(f"{where}: R_BPF_64_32 relocation on {insn.mnemonic}: calls to "
                            f"{sym.name!r} through pointers are not supported")
        target = obj.elf.get_section(sym["st_shndx"]).name
        return insn, (target, sym["st_value"] // 8 + insn.imm + 1)
    if rtype in (R_BPF_NONE, R_BPF_64_ABS64, R_BPF_64_ABS32):
        return insn, None
    raise HxdpError(f"{where}: unsupported relocation type {rtype} against {sym.name!r}")


def _link(obj: _Object, entry: _Function) -> tuple[list[Insn], dict[int, str], dict[tuple[str, int], int]]:
    """The entry function followed by everything it calls, calls re-targeted."""
    order = [entry]
    placed: dict[_Function, int] = {}
    bodies: dict[_Function, list[tuple[Insn, tuple[str, int] | None]]] = {}
    i = 0
    while i < len(order):
        func = order[i]
        i += 1
        relocs = obj.relocations(func.section)
        body = []
        for insn in obj.section_code(func.section):
            if not func.start <= insn.pc < func.end:
                continue
            call_target = None
            if insn.pc in relocs:
                insn, call_target = _relocate(obj, func, insn, relocs[insn.pc])
            elif insn.spec.form is Form.CALL_LOCAL:
                call_target = (func.section, insn.pc + 1 + insn.imm)
            if call_target:
                callee = obj.function_at(*call_target)
                if callee not in order:
                    order.append(callee)
            body.append((insn, call_target))
        _check_helpers(obj, func, [b[0] for b in body])
        bodies[func] = body
    pc = 0
    for func in order:
        placed[func] = pc
        pc += func.end - func.start
    new_pc: dict[tuple[str, int], int] = {}
    for func in order:
        for slot in range(func.start, func.end):
            new_pc[(func.section, slot)] = placed[func] + slot - func.start
    insns: list[Insn] = []
    for func in order:
        for insn, target in bodies[func]:
            here = new_pc[(func.section, insn.pc)]
            if target:
                insn = dataclasses.replace(insn, imm=new_pc[target] - (here + 1))
            insns.append(dataclasses.replace(insn, pc=here))
    functions = {placed[f]: f.name for f in order}
    return insns, functions, new_pc


# What the parsers raise on a damaged object: pyelftools' errors, and the
# struct, index and lookup errors of reading fields the object lies about.
_DAMAGE = (ELFError, struct.error, ValueError, IndexError, KeyError, OverflowError, UnicodeDecodeError,
           RecursionError)


@contextlib.contextmanager
def _reading(name: Path) -> Iterator[None]:
    """Name the object in what its bytes make the parsers raise: a damaged
    object is the user's error, not a crash."""
    try:
        yield
    except BtfError as err:
        raise HxdpError(f"{name}: {err}") from err
    except HxdpError:
        raise
    except _DAMAGE as err:
        raise HxdpError(f"{name}: damaged ELF object ({type(err).__name__}: {err})") from err


def list_programs(path: Path) -> list[tuple[str, str]]:
    """(section, function) of every program in an object."""
    with _reading(Path(path)):
        return [(f.section, f.name) for f in _Object(Path(path), Path(path)).programs()]


def load_elf(path: Path, section: str | None = None, program: str | None = None,
             source: Path | None = None) -> Program:
    """Load one program; ``section``/``program`` choose when the object has
    several. ``source``: the C file the object was compiled from, which
    messages name and the program keeps as its path."""
    name = Path(source or path)
    with _reading(name):
        return _program(_Object(Path(path), name), section, program)


def _program(obj: _Object, section: str | None, program: str | None) -> Program:
    """The program chosen from ``obj``, linked, with its license and source lines."""
    if not obj.programs():
        raise HxdpError(f"{obj.path}: holds no program; an XDP program is a function in a section of its "
                        'own, e.g. SEC("xdp")')
    candidates = [f for f in obj.programs()
                  if (section is None or f.section == section) and (program is None or f.name == program)]
    if len(candidates) != 1:
        listing = ", ".join(f"{f.name} (section {f.section})" for f in obj.programs())
        what = "no program matches" if not candidates else "several programs match"
        raise HxdpError(f"{obj.path}: {what}; choose with --section/--program. Programs: {listing}")
    entry = candidates[0]
    insns, functions, new_pc = _link(obj, entry)
    license_sec = obj.elf.get_section_by_name("license")
    license_text = license_sec.data().split(b"\0", 1)[0].decode() if license_sec else ""
    lines: dict[int, SourceLine] = {}
    for info in obj.line_infos:
        pc = new_pc.get((info.section, info.insn))
        if pc is not None:
            lines[pc] = SourceLine(info.file, info.line, info.text)
    return Program(entry.name, insns, list(obj.maps), entry.section, license_text, obj.path, lines, functions,
                   btf=obj.kernel_btf(new_pc))
