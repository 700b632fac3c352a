"""Human-readable listings of an image: one line per row, a column per lane,
and the C line each row starts from."""

from __future__ import annotations

from .image import Image
from .target import Op

__all__ = ["format_schedule"]


def format_schedule(image: Image, source: bool = True) -> str:
    lanes = image.target.lanes
    texts = [[str(s) if s.op is not Op.NOP else "" for s in row] + [""] * (lanes - len(row))
             for row in image.rows]
    width = [max([len(f"lane {i}")] + [len(t[i]) for t in texts]) for i in range(lanes)]
    digits = len(str(max(len(image.rows) - 1, 0)))
    lines = [" " * (digits + 2) + " | ".join(f"lane {i}".ljust(width[i]) for i in range(lanes))]
    last_line = None
    for r, row in enumerate(texts):
        text = f"{r:>{digits}}: " + " | ".join(row[i].ljust(width[i]) for i in range(lanes))
        if source:
            pcs = sorted(pc for origin in image.source[r] for pc in origin)
            line = next((image.lines[pc] for pc in pcs if pc in image.lines), None)
            if line and line != last_line:
                text += f"   ; {line.file.rsplit('/', 1)[-1]}:{line.line} {line.text.strip()[:50]}"
                last_line = line
        lines.append(text.rstrip())
    return "\n".join(lines)
