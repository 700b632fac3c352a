"""Command-line file arguments: files and directories of them."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .errors import HxdpError

__all__ = ["expand_paths"]


def expand_paths(paths: Iterable[Path | str], suffix: str, what: str) -> list[Path]:
    """The files named, each directory replaced by its ``*suffix`` files, sorted;
    a missing path is an error naming it (``what``: "file", "program", ...)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.glob(f"*{suffix}"))
        elif path.exists():
            files.append(path)
        else:
            raise HxdpError(f"{path}: no such {what} or directory")
    return files
