"""Command-line file arguments: files and directories of them, read and
written with errors that name the file and say what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .errors import HxdpError

__all__ = ["expand_paths", "read_bytes", "read_text", "decode_text", "write_file", "output_problem"]


def expand_paths(paths: Iterable[Path | str], suffix: str, what: str) -> list[Path]:
    """The files named, each directory replaced by its ``*suffix`` files, sorted;
    a missing path, or a directory without such files, is an error naming it
    (``what``: "file", "program", ...)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob(f"*{suffix}"))
            if not found:
                raise HxdpError(f"{path}: a directory without {suffix} files; name the {what}s to take")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise HxdpError(f"{path}: no such {what} or directory")
    return files


def read_bytes(path: Path) -> bytes:
    """A file's bytes; a file that cannot be read is the user's error, named."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise HxdpError(f"cannot read {path}: {err.strerror}") from None


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 text; bytes that are not are the user's error (binary given for text)."""
    try:
        return data.decode()
    except UnicodeDecodeError as err:
        raise HxdpError(f"{name}: not a text file (byte {err.start} is not UTF-8)") from None


def read_text(path: Path) -> str:
    """A text file's contents, refusing unreadable and binary files by name."""
    return decode_text(read_bytes(path), str(path))


def write_file(path: Path, data: str | bytes) -> None:
    """Write an output file; a place that cannot be written is the user's error, named."""
    try:
        if isinstance(data, str):
            Path(path).write_text(data)
        else:
            Path(path).write_bytes(data)
    except OSError as err:
        raise HxdpError(f"cannot write {path}: {err.strerror}") from None


def output_problem(path: Path, *, directory: bool = False) -> str | None:
    """Why ``path`` cannot be written as an output file (or made a directory
    of outputs, with ``directory``), or None: checked before a long run so
    that it fails at once rather than at its end."""
    if path.exists():
        if path.is_dir() != directory:
            return "is a directory" if path.is_dir() else "is not a directory"
        return None
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not directory and existing != path.parent:
        return f"no directory {path.parent}"
    return None
