"""Human-readable listings of an image: one line per row, a column per lane,
and the C line each row starts from; as text, or as a web page."""

from __future__ import annotations

import html

from .ebpf.program import SourceLine
from .image import Image
from .target import Op

__all__ = ["format_schedule", "html_schedule"]


def _lane_texts(image: Image) -> list[list[str]]:
    """Each row's operations, a string a lane (empty for a NOP or a lane it leaves out)."""
    lanes = image.target.lanes
    return [[str(s) if s.op is not Op.NOP else "" for s in row] + [""] * (lanes - len(row)) for row in image.rows]


def _line_of(image: Image, pcs) -> SourceLine | None:
    """The C line of the first of ``pcs`` (eBPF pcs) that has one."""
    return next((image.lines[pc] for pc in sorted(pcs) if pc in image.lines), None)


def _row_line(image: Image, row: int) -> SourceLine | None:
    return _line_of(image, [pc for origin in image.source[row] for pc in origin])


def format_schedule(image: Image, source: bool = True) -> str:
    lanes = image.target.lanes
    texts = _lane_texts(image)
    width = [max([len(f"lane {i}")] + [len(t[i]) for t in texts]) for i in range(lanes)]
    digits = len(str(max(len(image.rows) - 1, 0)))
    lines = [" " * (digits + 2) + " | ".join(f"lane {i}".ljust(width[i]) for i in range(lanes))]
    last_line = None
    for r, row in enumerate(texts):
        text = f"{r:>{digits}}: " + " | ".join(row[i].ljust(width[i]) for i in range(lanes))
        if source:
            line = _row_line(image, r)
            if line and line != last_line:
                text += f"   ; {line.file.rsplit('/', 1)[-1]}:{line.line} {line.text.strip()[:50]}"
                last_line = line
        lines.append(text.rstrip())
    return "\n".join(lines)


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; font-family: monospace; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; white-space: pre; }
th { background: #eee; position: sticky; top: 0; }
td.row { color: #888; text-align: right; }
td.empty { background: #fafafa; }
td.src { color: #333; font-family: sans-serif; }
tr.new td { border-top: 2px solid #888; }
"""

# Backgrounds that tell one C line's rows from the next one's.
_SHADES = ("#ffffff", "#eef5ff", "#fff5e6", "#eefbea", "#f8eefb", "#fdfde8")


def html_schedule(image: Image) -> str:
    """The schedule as a page: a row a table row, a lane a column (each
    operation's own C lines on hover), the C line each row starts from
    beside it; the rows of one C line share a shade."""
    st = image.stats
    lanes = image.target.lanes
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(image.name)}: schedule</title>",
           f"<style>{_STYLE}</style></head><body>",
           f"<h1>{html.escape(image.name)}</h1>",
           f"<p>{st.insns} eBPF instructions &rarr; {st.ops} operations in {len(image.rows)} rows of {lanes} "
           f"lanes: static IPC {st.insns / max(len(image.rows), 1):.2f}, critical path {st.bound_rows} rows, "
           f"stack {st.stack_bytes} B.</p>",
           "<table><tr><th>row</th>" + "".join(f"<th>lane {i}</th>" for i in range(lanes)) + "<th>C</th></tr>"]
    last, shade = None, -1
    for r, texts in enumerate(_lane_texts(image)):
        line = _row_line(image, r)
        new = line is not None and line != last
        if new:
            shade, last = (shade + 1) % len(_SHADES), line
        cells = []
        for lane, text in enumerate(texts):
            pcs = image.source[r][lane] if lane < len(image.source[r]) else ()
            own = "\n".join(dict.fromkeys(_where(image.lines[pc]) for pc in sorted(pcs) if pc in image.lines))
            title = f" title='{html.escape(own, quote=True)}'" if own and text else ""
            cells.append(f"<td{title}>{html.escape(text)}</td>" if text else "<td class='empty'></td>")
        source = f"{html.escape(_where(line))}" if new else ""
        out.append(f"<tr class='{'new' if new else ''}' style='background: {_SHADES[max(shade, 0)]}'>"
                   f"<td class='row'>{r}</td>{''.join(cells)}<td class='src'>{source}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"


def _where(line: SourceLine) -> str:
    return f"{line.file.rsplit('/', 1)[-1]}:{line.line}  {line.text.strip()}"
