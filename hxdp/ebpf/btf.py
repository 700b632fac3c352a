"""BTF (.BTF) and BTF.ext func and line info, parsed from the format's specification.

hxdp reads BTF for the BTF-defined maps of ``.maps`` (their type, sizes
and limits are encoded in member types), the C types of keys, values and
global variables (`hxdp.ebpf.ctype`), and the line info that maps
instructions back to C source lines; the kernel oracle loads it, with the
func info, as libbpf would (`kernel_btf`).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from ..errors import HxdpError

__all__ = ["BtfError", "Kind", "Member", "BtfType", "Btf", "FuncInfo", "LineInfo", "parse_btf", "parse_func_info",
           "parse_line_info", "kernel_btf"]

BTF_MAGIC = 0xEB9F


class BtfError(HxdpError):
    """BTF that hxdp cannot use; the loader names the object it came from."""


class Kind(enum.IntEnum):
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# Kinds that only qualify another type: resolution looks through them.
_QUALIFIERS = {Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG}


@dataclass
class Member:
    """A struct/union member, enum value, function parameter or datasec variable."""
    name: str
    type: int = 0
    offset: int = 0     # bits for members, bytes for datasec entries
    size: int = 0       # datasec entries
    bits: int = 0       # a bitfield member's width (0: not a bitfield)
    value: int = 0      # enum values


@dataclass
class BtfType:
    id: int
    kind: Kind
    name: str
    size_or_type: int
    vlen: int = 0
    kind_flag: bool = False
    members: list[Member] = field(default_factory=list)
    # ARRAY
    elem_type: int = 0
    nelems: int = 0
    # VAR linkage, INT encoding, DECL_TAG component
    extra: int = 0
    at: int = 0         # where its record starts in the .BTF section's bytes (for `kernel_btf`)


@dataclass
class Btf:
    types: list[BtfType]
    strings: bytes

    def __getitem__(self, type_id: int) -> BtfType:
        return self.types[type_id]

    def resolve(self, type_id: int) -> BtfType:
        """Look through typedefs and qualifiers (a chain no longer than the
        types there are: a longer one loops)."""
        t = self.types[type_id]
        for _ in self.types:
            if t.kind not in _QUALIFIERS:
                return t
            t = self.types[t.size_or_type]
        raise BtfError(f"BTF type {type_id} is a loop of typedefs and qualifiers")

    def size(self, type_id: int) -> int:
        t = self.resolve(type_id)
        if t.kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FLOAT,
                      Kind.DATASEC):
            return t.size_or_type
        if t.kind is Kind.PTR:
            return 8
        if t.kind is Kind.ARRAY:
            return self.size(t.elem_type) * t.nelems
        raise BtfError(f"BTF type {t.id} ({t.kind.name}) has no size")

    def string(self, offset: int) -> str:
        end = self.strings.index(b"\0", offset)
        return self.strings[offset:end].decode(errors="replace")

    def datasec(self, name: str) -> BtfType | None:
        return next((t for t in self.types if t.kind is Kind.DATASEC and t.name == name), None)


_HEADER = struct.Struct("<HBBIIIII")


def parse_btf(data: bytes) -> Btf:
    """The types and strings of a .BTF section."""
    if len(data) < _HEADER.size:
        raise BtfError(".BTF section is too short")
    magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(data)
    if magic != BTF_MAGIC:
        raise BtfError(f".BTF has magic {magic:#x}, not {BTF_MAGIC:#x} (big-endian object?)")
    strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
    btf = Btf([BtfType(0, Kind.UNKN, "void", 0)], strings)
    pos, end = hdr_len + type_off, hdr_len + type_off + type_len
    while pos < end:
        name_off, info, size_or_type = struct.unpack_from("<III", data, pos)
        kind = Kind((info >> 24) & 0x1F)
        vlen = info & 0xFFFF
        t = BtfType(len(btf.types), kind, btf.string(name_off), size_or_type, vlen, bool(info >> 31), at=pos)
        pos += 12
        if kind in (Kind.INT, Kind.VAR, Kind.DECL_TAG):
            t.extra = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        elif kind is Kind.ARRAY:
            t.elem_type, _index, t.nelems = struct.unpack_from("<III", data, pos)
            pos += 12
        elif kind in (Kind.STRUCT, Kind.UNION):
            for _ in range(vlen):
                m_name, m_type, m_off = struct.unpack_from("<III", data, pos)
                t.members.append(Member(btf.string(m_name), m_type,
                                        m_off & 0xFFFFFF if t.kind_flag else m_off,
                                        bits=m_off >> 24 if t.kind_flag else 0))
                pos += 12
        elif kind is Kind.ENUM:
            for _ in range(vlen):
                m_name, value = struct.unpack_from("<Ii", data, pos)
                t.members.append(Member(btf.string(m_name), value=value))
                pos += 8
        elif kind is Kind.ENUM64:
            for _ in range(vlen):
                m_name, lo, hi = struct.unpack_from("<III", data, pos)
                t.members.append(Member(btf.string(m_name), value=lo | hi << 32))
                pos += 12
        elif kind is Kind.FUNC_PROTO:
            for _ in range(vlen):
                m_name, m_type = struct.unpack_from("<II", data, pos)
                t.members.append(Member(btf.string(m_name), m_type))
                pos += 8
        elif kind is Kind.DATASEC:
            for _ in range(vlen):
                v_type, v_off, v_size = struct.unpack_from("<III", data, pos)
                t.members.append(Member(btf[v_type].name if v_type < len(btf.types) else "",
                                        v_type, v_off, v_size))
                pos += 12
        btf.types.append(t)
    # Datasec variables may refer forward; name them now that all types exist.
    for t in btf.types:
        if t.kind is Kind.DATASEC:
            for m in t.members:
                m.name = btf[m.type].name
    return btf


def kernel_btf(data: bytes, btf: Btf, sections: dict[str, tuple[int, dict[str, int]]]) -> bytes:
    """The .BTF section as the kernel takes it: each DATASEC with its
    section's size and its variables at their symbols' offsets, from
    ``sections`` (name -> (size, variable -> offset)): the compiler leaves
    both for the loader to fill, as libbpf does."""
    out = bytearray(data)
    for t in btf.types:
        if t.kind is not Kind.DATASEC or t.name not in sections:
            continue
        size, offsets = sections[t.name]
        struct.pack_into("<I", out, t.at + 8, size)
        for i, var in enumerate(t.members):
            if var.name in offsets:
                struct.pack_into("<I", out, t.at + 12 + 12 * i + 4, offsets[var.name])
    return bytes(out)


@dataclass(frozen=True)
class FuncInfo:
    section: str
    insn: int          # the function's first instruction (slot) within the section
    type_id: int       # its BTF FUNC type


@dataclass(frozen=True)
class LineInfo:
    section: str
    insn: int          # instruction index (slot) within the section
    file: str
    line: int
    column: int
    text: str


_EXT_HEADER = struct.Struct("<HBBIIIII")
_LINE_INFO = struct.Struct("<IIII")


_FUNC_INFO = struct.Struct("<II")


def _ext_records(ext: bytes, btf: Btf, which: int, record: struct.Struct, what: str):
    """(section, record fields) of the ``which``-th part of a .BTF.ext
    section (0: func info, 1: line info)."""
    if len(ext) < _EXT_HEADER.size:
        return
    magic, _v, _f, hdr_len, *parts = _EXT_HEADER.unpack_from(ext)
    offset, length = parts[2 * which], parts[2 * which + 1]
    if magic != BTF_MAGIC or not length:
        return
    pos = hdr_len + offset
    end = pos + length
    rec_size = struct.unpack_from("<I", ext, pos)[0]
    if rec_size < record.size:
        raise BtfError(f".BTF.ext: {what} records of {rec_size} bytes (a record is {record.size})")
    pos += 4
    while pos < end:
        sec_off, count = struct.unpack_from("<II", ext, pos)
        pos += 8
        section = btf.string(sec_off)
        for _ in range(count):
            yield section, record.unpack_from(ext, pos)
            pos += rec_size


def parse_func_info(ext: bytes, btf: Btf) -> list[FuncInfo]:
    """Func info records of a .BTF.ext section: where each function starts, and its type."""
    return [FuncInfo(section, insn_off // 8, type_id)
            for section, (insn_off, type_id) in _ext_records(ext, btf, 0, _FUNC_INFO, "func info")]


def parse_line_info(ext: bytes, btf: Btf) -> list[LineInfo]:
    """Line info records of a .BTF.ext section."""
    return [LineInfo(section, insn_off // 8, btf.string(file_off), line_col >> 10, line_col & 0x3FF,
                     btf.string(line_off))
            for section, (insn_off, file_off, line_off, line_col)
            in _ext_records(ext, btf, 1, _LINE_INFO, "line info")]
