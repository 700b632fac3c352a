"""The C types of map keys and values, read from BTF: how an entry is shown
and how one written by a person becomes bytes.

A value is shown the way JSON holds it: a struct as an object of its
fields, an array as a list, an integer as a number; and where the type says
what the number is, the way people write it: a ``__be32`` as an IPv4
address, a ``struct in6_addr`` as an IPv6 address, an array of six bytes as
a MAC address, a ``char`` array as text, an enum by its name, a ``_Bool``
as true or false. A key or value BTF does not describe is hex. Wherever a
value is written, hex digits of exactly its size are its bytes as memory
holds them (the form `encode` falls back on and `decode` gives for opaque
types).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field

from .btf import Btf, BtfType, Kind
from ..errors import HxdpError

__all__ = ["CTypeError", "Shown", "Scalar", "Array", "Field", "Struct", "Opaque", "CType", "from_btf",
           "variables", "decode", "encode", "type_name"]

# BTF INT encoding bits.
_SIGNED, _CHAR, _BOOL = 1, 2, 4

_HEX = re.compile(r"[0-9a-fA-F]*")


class CTypeError(HxdpError):
    """A written value that does not fit its type; the caller names the entry."""


class Shown(enum.Enum):
    """How a scalar or array is written, beyond a plain number or list."""
    NUMBER = "number"
    IPV4 = "ipv4"       # a __be32: 10.0.0.1
    IPV6 = "ipv6"       # a struct in6_addr: 2001:db8::1
    MAC = "mac"         # six bytes: 02:00:00:00:00:01
    TEXT = "text"       # a char array: up to its first NUL
    BOOL = "bool"


@dataclass(frozen=True)
class Scalar:
    """An integer, enum or bool of ``size`` bytes."""
    size: int
    name: str = ""
    signed: bool = False
    big_endian: bool = False
    shown: Shown = Shown.NUMBER
    enum: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Array:
    elem: CType
    count: int
    shown: Shown = Shown.NUMBER

    @property
    def size(self) -> int:
        return self.elem.size * self.count


@dataclass(frozen=True)
class Field:
    name: str
    type: CType
    offset: int         # in bits from the start of the struct
    bits: int = 0       # a bitfield's width; 0: the whole type


@dataclass(frozen=True)
class Struct:
    """A struct or union, or the variables of a global-data section."""
    size: int
    fields: tuple[Field, ...]
    name: str = ""
    union: bool = False
    shown: Shown = Shown.NUMBER


@dataclass(frozen=True)
class Opaque:
    """Bytes BTF gives no shape to (or a map without BTF): shown as hex; an
    integer of 1, 2, 4 or 8 bytes may be written as a number."""
    size: int
    name: str = field(default="", compare=False)


CType = Scalar | Array | Struct | Opaque


def type_name(t: CType) -> str:
    """The type as C names it, for listings."""
    if isinstance(t, Array):
        return f"{type_name(t.elem)}[{t.count}]"
    if isinstance(t, Struct):
        return f"{'union' if t.union else 'struct'} {t.name or '(anonymous)'}"
    return t.name or f"{t.size} bytes"


# -- from BTF -----------------------------------------------------------------

def from_btf(btf: Btf, type_id: int) -> CType:
    """The shape of BTF type ``type_id``; typedefs on the way may say how it
    is shown (``__be16``, ``__be32``, ``__be64``)."""
    t, name = btf[type_id], ""
    for _ in btf.types:
        if t.kind is Kind.TYPEDEF and not name:
            name = t.name
        if t.kind not in (Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
            break
        t = btf[t.size_or_type]
    if t.kind is Kind.INT:
        return _int(t, name)
    if t.kind in (Kind.ENUM, Kind.ENUM64):
        return Scalar(t.size_or_type, name or f"enum {t.name}", signed=t.kind_flag,
                      enum=tuple((m.name, m.value) for m in t.members))
    if t.kind is Kind.ARRAY:
        elem = from_btf(btf, t.elem_type)
        return Array(elem, t.nelems, _array_shown(elem, t.nelems))
    if t.kind in (Kind.STRUCT, Kind.UNION):
        fields = tuple(Field(m.name, from_btf(btf, m.type), m.offset, m.bits) for m in t.members)
        return Struct(t.size_or_type, fields, t.name, t.kind is Kind.UNION,
                      Shown.IPV6 if t.name == "in6_addr" and t.size_or_type == 16 else Shown.NUMBER)
    try:
        size = btf.size(t.id)
    except HxdpError:
        size = 0
    return Opaque(size, name or t.name)


def _int(t: BtfType, typedef: str) -> Scalar:
    size, encoding = t.size_or_type, t.extra >> 24
    big = typedef in ("__be16", "__be32", "__be64")
    shown = Shown.BOOL if encoding & _BOOL else Shown.IPV4 if typedef == "__be32" else Shown.NUMBER
    return Scalar(size, typedef or t.name, bool(encoding & _SIGNED), big, shown)


def _array_shown(elem: CType, count: int) -> Shown:
    if isinstance(elem, Scalar) and elem.size == 1 and not elem.enum:
        if elem.name == "char":
            return Shown.TEXT
        if count == 6:
            return Shown.MAC
    return Shown.NUMBER


def variables(btf: Btf, datasec: BtfType, offsets: dict[str, int], size: int) -> Struct:
    """A global-data section as a struct of its variables, at ``offsets``
    (the symbols' values: an object's DATASEC offsets are not final)."""
    fields = tuple(sorted((Field(v.name, from_btf(btf, btf[v.type].size_or_type), offsets[v.name] * 8)
                           for v in datasec.members if v.name in offsets), key=lambda f: f.offset))
    return Struct(size, fields, datasec.name)


# -- bytes to values ------------------------------------------------------------

def decode(t: CType, data: bytes) -> object:
    """``data`` (``t.size`` bytes) as a JSON value."""
    if isinstance(t, Scalar):
        return _decode_scalar(t, int.from_bytes(data, "big" if t.big_endian else "little", signed=t.signed), data)
    if isinstance(t, Array):
        if t.shown is Shown.MAC:
            return ":".join(f"{b:02x}" for b in data)
        if t.shown is Shown.TEXT:
            text, _, rest = data.partition(b"\0")
            if not any(rest) and all(32 <= b < 127 for b in text):
                return text.decode()
        n = t.elem.size
        return [decode(t.elem, data[i * n:(i + 1) * n]) for i in range(t.count)]
    if isinstance(t, Struct):
        if t.shown is Shown.IPV6:
            return str(ipaddress.IPv6Address(data))
        out: dict[str, object] = {}
        for f in _shown_fields(t):
            value = _decode_field(f, data)
            if f.name:
                out[f.name] = value
            else:                       # an anonymous struct or union: its fields are the parent's
                out.update(value)
        return out
    return data.hex()


def _decode_scalar(t: Scalar, number: int, data: bytes) -> object:
    if t.shown is Shown.IPV4 and t.size == 4:
        return str(ipaddress.IPv4Address(data if t.big_endian else data[::-1]))
    if t.shown is Shown.BOOL:
        return bool(number)
    for name, value in t.enum:
        if value == number:
            return name
    return number


def _shown_fields(t: Struct) -> tuple[Field, ...]:
    """A struct's fields; a union's largest member (the first of them), which holds all its bytes."""
    if not t.union or not t.fields:
        return t.fields
    return (max(t.fields, key=lambda f: f.type.size),)


def _decode_field(f: Field, data: bytes) -> object:
    if f.bits:
        whole = int.from_bytes(data, "little") >> f.offset & ((1 << f.bits) - 1)
        if isinstance(f.type, Scalar) and f.type.signed and whole >> (f.bits - 1):
            whole -= 1 << f.bits
        return _decode_scalar(f.type, whole, whole.to_bytes(f.type.size, "little", signed=whole < 0)) \
            if isinstance(f.type, Scalar) else whole
    at = f.offset // 8
    return decode(f.type, data[at:at + f.type.size])


# -- values to bytes ---------------------------------------------------------------

def encode(t: CType, value: object, where: str, base: bytes | None = None) -> bytes:
    """The bytes of ``value`` as type ``t``; the fields of a struct it does not
    name keep ``base``'s bytes (zeros when None). ``where`` names the value
    in errors (``value.addr``)."""
    base = bytes(t.size) if base is None else base
    if isinstance(value, str) and len(value) == 2 * t.size and _HEX.fullmatch(value) \
            and not (isinstance(t, Scalar) and any(name == value for name, _ in t.enum)):
        return bytes.fromhex(value)
    if isinstance(t, Scalar):
        return _encode_int(t, _scalar_number(t, value, where), where, t.size * 8)
    if isinstance(t, Array):
        return _encode_array(t, value, where, base)
    if isinstance(t, Struct):
        return _encode_struct(t, value, where, base)
    if isinstance(value, int) and not isinstance(value, bool) and t.size in (1, 2, 4, 8):
        return _encode_int(Scalar(t.size), value, where, t.size * 8)
    raise CTypeError(f"{where}: give {t.size} bytes as {2 * t.size} hex digits"
                     + (" or a number" if t.size in (1, 2, 4, 8) else "") + f", not {value!r}")


def _scalar_number(t: Scalar, value: object, where: str) -> int:
    if isinstance(value, int):       # bool too
        return int(value)
    if isinstance(value, str):
        for name, number in t.enum:
            if name == value:
                return number
        if t.size == 4 and value.count(".") == 3:    # in memory as on the wire, whatever the type's order
            try:
                raw = ipaddress.IPv4Address(value).packed
            except ValueError:
                raise CTypeError(f"{where}: {value!r} is not an IPv4 address") from None
            return int.from_bytes(raw if t.big_endian else raw[::-1], "big")
        try:
            return int(value, 0)
        except ValueError:
            pass
    kinds = ["a number"] + (["an IPv4 address"] if t.shown is Shown.IPV4 else []) \
        + ([f"one of {', '.join(n for n, _ in t.enum)}"] if t.enum else []) \
        + (["true or false"] if t.shown is Shown.BOOL else [])
    raise CTypeError(f"{where}: {value!r} is not {' or '.join(kinds)} ({type_name(t)})")


def _encode_int(t: Scalar, number: int, where: str, bits: int) -> bytes:
    low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if t.signed else (0, 1 << bits)
    if not low <= number < high:
        raise CTypeError(f"{where}: {number} does not fit {type_name(t)}"
                         + (f" ({bits} bits)" if bits != t.size * 8 else "")
                         + f": give {low} to {high - 1}")
    return number.to_bytes(t.size, "big" if t.big_endian else "little", signed=t.signed)


def _encode_array(t: Array, value: object, where: str, base: bytes) -> bytes:
    if isinstance(value, str) and t.shown is Shown.MAC:
        parts = value.replace("-", ":").split(":")
        if len(parts) == 6 and all(len(p) in (1, 2) and _HEX.fullmatch(p) for p in parts):
            return bytes(int(p, 16) for p in parts)
        raise CTypeError(f"{where}: {value!r} is not a MAC address (02:00:00:00:00:01)")
    if isinstance(value, str) and t.shown is Shown.TEXT:
        raw = value.encode()
        if len(raw) > t.count:
            raise CTypeError(f"{where}: {value!r} is longer than {type_name(t)}")
        return raw + bytes(t.count - len(raw))
    if not isinstance(value, list):
        raise CTypeError(f"{where}: give {type_name(t)} as a list of {t.count}"
                         + {Shown.MAC: ", a MAC address", Shown.TEXT: ", text"}.get(t.shown, "")
                         + f" or {2 * t.size} hex digits, not {value!r}")
    if len(value) != t.count:
        raise CTypeError(f"{where}: {len(value)} elements for {type_name(t)}")
    n = t.elem.size
    return b"".join(encode(t.elem, v, f"{where}[{i}]", base[i * n:(i + 1) * n]) for i, v in enumerate(value))


def _encode_struct(t: Struct, value: object, where: str, base: bytes) -> bytes:
    if t.shown is Shown.IPV6 and isinstance(value, str):
        try:
            return ipaddress.IPv6Address(value).packed
        except ValueError:
            raise CTypeError(f"{where}: {value!r} is not an IPv6 address") from None
    if not isinstance(value, dict):
        raise CTypeError(f"{where}: give {type_name(t)} as an object of its fields "
                         f"({', '.join(_names(t))}) or {2 * t.size} hex digits, not {value!r}")
    out = bytearray(base)
    given = dict(value)
    if t.union and len(given) > 1:
        raise CTypeError(f"{where}: a union takes one of its members, not {', '.join(given)}")
    _fill(t, given, where, out, 0)
    if given:
        raise CTypeError(f"{where}: {type_name(t)} has no field {', '.join(map(repr, given))}; "
                         f"its fields: {', '.join(_names(t))}")
    return bytes(out)


def _fill(t: Struct, given: dict, where: str, out: bytearray, at_bits: int) -> None:
    """Write the fields of ``given`` that ``t`` has (taking them out of it)."""
    for f in t.fields:
        offset = at_bits + f.offset
        if not f.name and isinstance(f.type, Struct):
            _fill(f.type, given, where, out, offset)
            continue
        if f.name not in given:
            continue
        value, name = given.pop(f.name), f"{where}.{f.name}"
        if f.bits:
            scalar = f.type if isinstance(f.type, Scalar) else Scalar(f.type.size)
            number = _scalar_number(scalar, value, name)
            _encode_int(scalar, number, name, f.bits)
            mask = ((1 << f.bits) - 1) << offset
            whole = int.from_bytes(out, "little") & ~mask | (number << offset) & mask
            out[:] = whole.to_bytes(len(out), "little")
        else:
            at = offset // 8
            out[at:at + f.type.size] = encode(f.type, value, name, bytes(out[at:at + f.type.size]))


def _names(t: Struct) -> list[str]:
    return [n for f in t.fields for n in (_names(f.type) if not f.name and isinstance(f.type, Struct) else [f.name])]
