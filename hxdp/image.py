"""The hxdp image: everything an engine needs to run a compiled program.

An image is a JSON document (docs/image.md describes every field): the
target parameters it was compiled for, the bundles as hexadecimal row
words in the target's encoding, the maps with their initial contents, and
a source map from every slot back to the eBPF instructions (and C lines)
it came from. The model reads it; the gateware loads its rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .ebpf.program import MapDef, MapType, SourceLine
from .errors import HxdpError
from .files import read_text, write_file
from .target import Slot, Target, decode_row, encode_row, target_from_dict, target_to_dict

__all__ = ["Image", "ImageStats", "FORMAT", "VERSION"]

FORMAT = "hxdp-image"
VERSION = 1


@dataclass
class ImageStats:
    """What the compiler measured, for `hxdp bench`."""
    insns: int = 0               # eBPF instructions in the input
    ops: int = 0                 # operations after the compiler's passes
    bound_rows: int = 0          # critical-path lower bound on rows
    stack_bytes: int = 0         # stack the program uses


@dataclass
class Image:
    name: str
    target: Target
    rows: list[list[Slot]]
    maps: list[MapDef] = field(default_factory=list)
    source: list[list[tuple[int, ...]]] = field(default_factory=list)   # [row][lane] -> eBPF pcs
    lines: dict[int, SourceLine] = field(default_factory=dict)         # eBPF pc -> C line
    context_in_r1: bool = True       # XDP: r1 holds the context at entry
    stats: ImageStats = field(default_factory=ImageStats)

    @property
    def slots_used(self) -> int:
        return sum(1 for row in self.rows for s in row if int(s.op))

    def where(self, row: int, lane: int) -> str:
        """Row, lane and where the slot came from, for messages."""
        text = f"{self.name} row {row} lane {lane}"
        pcs = self.source[row][lane] if row < len(self.source) and lane < len(self.source[row]) else ()
        if pcs:
            text += f" (eBPF pc {pcs[0]}"
            line = self.lines.get(pcs[0])
            text += f", {line.file}:{line.line})" if line else ")"
        return text

    # -- files ------------------------------------------------------------
    def to_json(self) -> dict:
        lanes = self.target.lanes
        width = (self.target.row_bits + 3) // 4
        return {
            "format": FORMAT, "version": VERSION, "name": self.name,
            "target": target_to_dict(self.target),
            "context_in_r1": self.context_in_r1,
            "rows": [f"{encode_row(row, lanes):0{width}x}" for row in self.rows],
            "maps": [_map_to_json(m) for m in self.maps],
            "source": [[list(pcs) for pcs in row] for row in self.source],
            "lines": {str(pc): [l.file, l.line, l.text] for pc, l in sorted(self.lines.items())},
            "stats": vars(self.stats),
        }

    @classmethod
    def from_json(cls, data: dict, origin: str = "image") -> "Image":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise HxdpError(f"{origin}: not an hxdp image (format is {found!r})")
        if data.get("version") != VERSION:
            raise HxdpError(f"{origin}: image version {data.get('version')}; this hxdp reads "
                            f"version {VERSION}: compile the program again")
        try:
            target = target_from_dict(data["target"])
            rows = [decode_row(int(word, 16), target.lanes) for word in data["rows"]]
            return cls(data["name"], target, rows, [_map_from_json(m) for m in data["maps"]],
                       [[tuple(pcs) for pcs in row] for row in data["source"]],
                       {int(pc): SourceLine(*v) for pc, v in data["lines"].items()},
                       data["context_in_r1"], ImageStats(**data["stats"]))
        except (KeyError, TypeError, ValueError) as err:
            raise HxdpError(f"{origin}: damaged image ({err})") from None

    def save(self, path: Path) -> None:
        write_file(path, json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Image":
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as err:
            raise HxdpError(f"{path}: not an image (not JSON: {err})") from None
        return cls.from_json(data, str(path))


def _map_to_json(m: MapDef) -> dict:
    return {"name": m.name, "type": m.type.name.lower(), "key_size": m.key_size,
            "value_size": m.value_size, "max_entries": m.max_entries, "flags": m.flags,
            "inner": _map_to_json(m.inner) if m.inner else None,
            "initial": m.initial.hex() if m.initial is not None else None, "readonly": m.readonly}


def _map_from_json(d: dict) -> MapDef:
    return MapDef(d["name"], MapType[d["type"].upper()], d["key_size"], d["value_size"],
                  d["max_entries"], d["flags"], _map_from_json(d["inner"]) if d["inner"] else None,
                  bytes.fromhex(d["initial"]) if d["initial"] is not None else None, d["readonly"])
