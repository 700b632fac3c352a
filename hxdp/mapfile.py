"""Map files: a program's maps set up as its loader would set them, and
maps shown and saved by their C types.

A map file is JSON (docs/maps.md)::

    {"maps": {
        "routes": [{"key": {"prefixlen": 24, "addr": "10.1.0.0"},
                    "value": {"ifindex": 2, "dmac": "02:00:00:00:00:02"}}],
        ".rodata": {"max_len": 1500}
    }}

A map's entries are a list of ``key``/``value`` objects written as
`hxdp.ebpf.ctype` reads them (a per-CPU map may give ``values``, one for
each CPU, instead of one ``value`` for all); a global-data section
(``.rodata``, ``.data``, ``.bss``) is an object of its variables, set
before the program loads as libbpf's skeletons set them. The same entries
come from the command line as ``--map NAME KEY=VALUE``. Every entry is
tried on the reference interpreter's maps before any engine sees it, so a
bad one is refused by where it was written, whatever the engine.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from .ebpf.ctype import CType, CTypeError, Opaque, Struct, decode, encode, type_name
from .ebpf.program import KEYLESS_TYPES, MapDef, MapType, Program
from .ebpf.xdp import MapDump, MapEntry
from .errors import HxdpError
from .files import read_text, write_file

__all__ = ["MapSetting", "read_map_file", "parse_map_option", "apply_settings", "map_file", "write_map_file",
           "format_maps", "SKIPPED_TYPES"]

# Untyped values of these sizes are shown as numbers too.
NUMBER_SIZES = (4, 8)

# Maps a map file does not hold: their values are maps, or records a
# program sends. (A prog array's are the names of programs of the object.)
SKIPPED_TYPES = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.RINGBUF})


@dataclass(frozen=True)
class MapSetting:
    """One entry as written, and where: ``key`` is a variable's name for a
    global-data section; ``values`` is True when ``value`` lists per-CPU values."""
    map: str
    key: object
    value: object
    origin: str
    values: bool = False


def read_map_file(path: Path) -> list[MapSetting]:
    """The entries of a map file, in order."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise HxdpError(f"{path}: not JSON: {err}") from None
    maps = data.get("maps") if isinstance(data, dict) else None
    if not isinstance(maps, dict):
        raise HxdpError(f"{path}: a map file is an object with \"maps\": {{NAME: [entries] or {{variables}}}} "
                        "(docs/maps.md)")
    out = []
    for name, entries in maps.items():
        where = f"{path}: maps.{name}"
        if isinstance(entries, dict):
            out += [MapSetting(name, var, value, f"{where}.{var}") for var, value in entries.items()]
        elif isinstance(entries, list):
            out += [_entry(name, entry, f"{where}[{i}]") for i, entry in enumerate(entries)]
        else:
            raise HxdpError(f"{where}: give a list of {{\"key\": ..., \"value\": ...}} entries "
                            "(or, for .rodata, .data and .bss, an object of variables)")
    return out


def _entry(name: str, entry: object, where: str) -> MapSetting:
    if not isinstance(entry, dict) or ("value" in entry) == ("values" in entry) \
            or set(entry) - {"key", "value", "values"}:
        raise HxdpError(f"{where}: an entry is {{\"key\": ..., \"value\": ...}} "
                        f"(or \"values\": [one a CPU] for a per-CPU map), not {json.dumps(entry)}")
    if "values" in entry and not (isinstance(entry["values"], list) and entry["values"]):
        raise HxdpError(f"{where}: \"values\" lists one value for each CPU")
    return MapSetting(name, entry.get("key"), entry.get("value", entry.get("values")), where, "values" in entry)


def parse_map_option(name: str, text: str) -> MapSetting:
    """``--map NAME KEY=VALUE``: KEY and VALUE are JSON where they parse as
    JSON (numbers, objects, lists), else text (10.0.0.1, a MAC, hex); a
    queue's or stack's value has no key (``=VALUE``)."""
    origin = f"--map {name} {text}"
    key_text, value_text = _split(text, origin)
    return MapSetting(name, _json_or_text(key_text) if key_text else None, _json_or_text(value_text), origin)


def _split(text: str, origin: str) -> tuple[str, str]:
    """KEY=VALUE at the first '=' outside quotes and brackets."""
    depth, quoted = 0, False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif not quoted and c in "{[":
            depth += 1
        elif not quoted and c in "}]":
            depth -= 1
        elif c == "=" and not quoted and depth == 0:
            return text[:i], text[i + 1:]
    raise HxdpError(f"{origin}: give KEY=VALUE")


def _json_or_text(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# -- setting maps ---------------------------------------------------------------------

def apply_settings(program: Program, settings: Iterable[MapSetting],
                   before: Iterable[MapEntry] = ()) -> tuple[Program, list[MapEntry]]:
    """``program`` with its global data as ``settings`` set them, and the
    entries to install in its other maps after those ``before`` (a
    scenario's), in order: each tried first on the interpreter's maps, so
    that a bad one is named."""
    defs = {d.name: d for d in program.maps}
    initial = {d.name: d.initial for d in program.maps if d.initial is not None}
    entries: list[tuple[MapSetting, MapEntry]] = []
    prog_arrays = {name: dict(held) for name, held in program.prog_arrays.items()}
    for s in settings:
        d = defs.get(s.map)
        if d is None:
            raise HxdpError(f"{s.origin}: {program.name} has no map {s.map!r}; its maps: "
                            f"{', '.join(defs) or 'none'}")
        if d.type in SKIPPED_TYPES:
            raise HxdpError(f"{s.origin}: {s.map} ({d.type.name.lower()}) holds maps or a program's records: "
                            "a map file does not set it")
        try:
            if d.name in initial:
                initial[d.name] = _set_global(d, s, initial[d.name])
            elif d.type is MapType.PROG_ARRAY:
                index = int.from_bytes(_key(d, s.key), "little")
                if index >= d.max_entries:
                    raise CTypeError(f"key: {index} is beyond {d.name}'s max_entries ({d.max_entries})")
                prog_arrays.setdefault(d.name, {})[index] = _tail_call_target(program, s.value)
            else:
                entries.append((s, MapEntry(d.name, _key(d, s.key), _value(d, s))))
        except CTypeError as err:
            raise HxdpError(f"{s.origin}: {err}") from None
    program = replace(program, maps=[replace(d, initial=initial[d.name]) if d.name in initial else d
                                     for d in program.maps], prog_arrays=prog_arrays)
    _try(program, list(before), entries)
    return program, [entry for _, entry in entries]


def _tail_call_target(program: Program, name: object) -> Program:
    """The program of ``program``'s object a prog array's entry names, by
    its function or its section."""
    from .ebpf.elf import list_programs, load_elf
    from .toolchain import compile_c
    if not isinstance(name, str) or program.path is None:
        raise CTypeError(f"value: a prog array's value names a program of {program.name}'s object "
                         f"(a function or a section), not {name!r}")
    obj = compile_c(program.path) if program.path.suffix == ".c" else program.path
    programs = list_programs(obj)
    named = [p for p in programs if p[1] == name] or [p for p in programs if p[0] == name]
    if len(named) != 1:
        listing = ", ".join(f"{function} (section {section})" for section, function in programs)
        raise CTypeError(f"value: {program.path} has no program (function or section) {name!r}; "
                         f"its programs: {listing}")
    (section, function), = named
    return load_elf(obj, section, function, source=program.path if obj != program.path else None)


def _set_global(d: MapDef, s: MapSetting, data: bytes) -> bytes:
    """A global-data section's bytes with one variable set (the key names
    it), or all of them (key 0, as for any array)."""
    if isinstance(s.key, str) and s.key.isidentifier():
        if not isinstance(d.value_type, Struct):
            raise CTypeError(f"{d.name} has no BTF description of its variables (compile with -g); "
                             "give [{\"key\": 0, \"value\": HEX}]")
        return encode(d.value_type, {s.key: s.value}, d.name, data)
    if _key(d, s.key) != bytes(4):
        raise CTypeError("key: a global-data section has one entry, key 0")
    return _value(d, s, data)


def _key(d: MapDef, key: object) -> bytes:
    if d.type in KEYLESS_TYPES:
        if key is not None:
            raise CTypeError(f"key: {d.name} is a {d.type.name.lower()} map, whose values have no keys: "
                             "give only \"value\" (values are pushed in order)")
        return b""
    if key is None:
        raise CTypeError("give the entry's \"key\"")
    return encode(d.key_type or Opaque(d.key_size), key, "key")


def _value(d: MapDef, s: MapSetting, base: bytes | None = None) -> bytes:
    t = d.value_type or Opaque(d.value_size)
    if s.values:
        return b"".join(encode(t, v, f"values[{cpu}]") for cpu, v in enumerate(s.value))
    return encode(t, s.value, "value", base)


def _try(program: Program, before: list[MapEntry], entries: list[tuple[MapSetting, MapEntry]]) -> None:
    """Install ``before`` and then ``entries`` in the interpreter's maps,
    naming the first of ``entries`` that fails."""
    from .ebpf.runtime import XdpRuntime
    if not entries:
        return
    cpus = max((len(s.value) for s, _ in entries if s.values), default=1)
    maps = XdpRuntime(program, nr_cpus=cpus).maps
    for e in before:
        maps.update(e.map, e.key, e.value)
    for s, e in entries:
        m = maps[e.map]
        d = m.d
        if s.values and not d.per_cpu:
            raise HxdpError(f"{s.origin}: {d.name} is not a per-CPU map: give one \"value\"")
        if s.values and len(s.value) != cpus:
            raise HxdpError(f"{s.origin}: per-CPU values for {len(s.value)} CPUs where another entry gives {cpus}")
        rc = m.update(e.key, e.value)
        if rc:
            raise HxdpError(f"{s.origin}: {d.name}: {_refusal(d, -rc)}")


def _refusal(d: MapDef, code: int) -> str:
    """Why a map refused an update, said for a person."""
    if code in (errno.E2BIG, errno.ENOSPC):
        if d.type in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.DEVMAP):
            return f"the key is beyond the map's max_entries ({d.max_entries})"
        return f"the map is full: it holds {d.max_entries} entries (max_entries)"
    if code == errno.EINVAL:
        return "the map refuses the key (an LPM prefix longer than the key's address?)"
    return errno.errorcode.get(code, str(code))


# -- showing and saving maps ----------------------------------------------------------

def _shown(t: CType | None, size: int, data: bytes) -> object:
    """``data`` as its type shows it, or hex where that would not give the
    same bytes back (padding that holds something, text that is not)."""
    t = t or Opaque(size)
    value = decode(t, data)
    try:
        if encode(t, value, "") == data:
            return value
    except CTypeError:
        pass
    return data.hex()


def _cpu_values(d: MapDef | None, value: bytes) -> list[bytes]:
    """A dumped value split into its CPUs' (one part for a map that is not per-CPU)."""
    if d is None or not d.per_cpu or len(value) <= d.value_size:
        return [value]
    return [value[at:at + d.value_size] for at in range(0, len(value), d.value_size)]


def _kept(d: MapDef | None, entries: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """The entries worth showing and saving, in an order no engine's
    iteration decides: an array's that are not zero (every index is
    there), by index; a queue's or stack's oldest first; every entry of
    other maps by its key's bytes."""
    if d is None or d.type in KEYLESS_TYPES or d.type is MapType.DEVMAP:
        return entries
    if d.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
        return entries if d.initial is not None else {k: v for k, v in entries.items() if any(v)}
    return dict(sorted(entries.items()))


def map_file(program: Program, maps: MapDump) -> dict:
    """``maps`` (an engine's dump) as a map file's JSON: reading it back sets them up again."""
    defs = {d.name: d for d in program.maps}
    out: dict[str, object] = {name: [{"key": index, "value": held.name} for index, held in sorted(held.items())]
                              for name, held in program.prog_arrays.items()}
    for name, entries in maps.items():
        d = defs.get(name)
        if d is None or d.type in SKIPPED_TYPES:
            continue
        if d.initial is not None and isinstance(d.value_type, Struct):
            variables = _shown(d.value_type, d.value_size, entries.get(bytes(4), d.initial))
            if isinstance(variables, dict):         # else hex: saved as an entry below
                out[name] = variables
                continue
        out[name] = [_saved(d, key, value) for key, value in _kept(d, entries).items()]
    return {"maps": out}


def _saved(d: MapDef, key: bytes, value: bytes) -> dict:
    parts = _cpu_values(d, value)
    entry = {} if d.type in KEYLESS_TYPES else {"key": _shown(d.key_type, d.key_size, key)}
    if len(set(parts)) == 1:
        entry["value"] = _shown(d.value_type, d.value_size, parts[0])
    else:
        entry["values"] = [_shown(d.value_type, d.value_size, part) for part in parts]
    return entry


def write_map_file(path: Path, program: Program, maps: MapDump) -> None:
    """`map_file` as JSON with an entry (or a section's variables) a line."""
    def line(value: object) -> str:
        return json.dumps(value, separators=(", ", ": "))
    parts = []
    for name, entries in map_file(program, maps)["maps"].items():
        if isinstance(entries, dict):
            parts.append(f"  {line(name)}: {line(entries)}")
        else:
            inner = ",\n".join(f"    {line(entry)}" for entry in entries)
            parts.append(f"  {line(name)}: [\n{inner}\n  ]" if entries else f"  {line(name)}: []")
    write_file(path, "{\"maps\": {\n" + ",\n".join(parts) + "\n}}\n")


def format_maps(maps: MapDump, defs: Iterable[MapDef], show_entries: int = 8,
                prog_arrays: dict[str, dict[int, Program]] | None = None) -> list[str]:
    """Each map with its types and its entries (an array's non-zero ones),
    the first ``show_entries`` of each, by their C types; a per-CPU value
    CPU by CPU, leaving out the CPUs whose value is zero; then the programs
    in ``prog_arrays`` (a `Program.prog_arrays`), by name."""
    defs = {d.name: d for d in defs}
    lines = ["maps:"]
    for name, held in (prog_arrays or {}).items():
        lines.append(f"  {name} (prog_array): {len(held)} entries")
        lines += [f"    {index} -> {program.name}" for index, program in sorted(held.items())[:show_entries]]
    for name, entries in maps.items():
        d = defs.get(name)
        kept = _kept(d, entries)
        kinds = f" ({_kinds(d)})" if d else ""
        count = f"{len(kept)} non-zero of {len(entries)}" if len(kept) != len(entries) else f"{len(entries)}"
        lines.append(f"  {name}{kinds}: {count} entries")
        for i, (key, value) in enumerate(kept.items()):
            if not show_entries:
                break
            if i >= show_entries:
                lines.append(f"    … {len(kept) - show_entries} more")
                break
            k = _text(d.key_type if d else None, len(key), key)
            lines.append(f"    {k} -> {_value_text(d, value)}")
    return lines


def _kinds(d: MapDef) -> str:
    """A map's type, and what its keys and values are."""
    kind = d.type.name.lower()
    if d.type is MapType.RINGBUF:
        return f"{kind}, {d.max_entries} bytes"
    if d.type in KEYLESS_TYPES:
        return f"{kind} of {_type_text(d.value_type, d.value_size)}"
    return f"{kind}, {_type_text(d.key_type, d.key_size)} -> {_type_text(d.value_type, d.value_size)}"


def _type_text(t: CType | None, size: int) -> str:
    return type_name(t) if t is not None else f"{size} bytes"


def _value_text(d: MapDef | None, value: bytes) -> str:
    parts = _cpu_values(d, value)
    t, size = (d.value_type, d.value_size) if d else (None, len(value))
    if len(parts) == 1:
        return _text(t, size, value)
    text = ", ".join(f"cpu{cpu} {_text(t, size, part)}" for cpu, part in enumerate(parts) if any(part))
    if d.value_size in NUMBER_SIZES:
        text += f"; sum {sum(int.from_bytes(part, 'little') for part in parts)}"
    return text


def _text(t: CType | None, size: int, data: bytes, limit: int = 120) -> str:
    """One key or value on a line: as its type shows it (compact JSON, a
    number or text bare); untyped bytes of a number's size with the number."""
    value = _shown(t, size, data)
    if isinstance(value, (dict, list, bool)):
        text = json.dumps(value, separators=(", ", ": "))
    else:
        text = str(value)
        if t is None and size in NUMBER_SIZES:
            text += f" ({int.from_bytes(data, 'little')})"
    return text if len(text) <= limit else text[:limit] + "…"
