"""The engine's Verilog built for cocotb under Verilator, once per target and
cached beside the rtl engine's builds (hxdp.gateware.rtlcache), and the
cocotb runner that runs bench_engine.py's tests on it. Skips, saying why,
where Verilator, a C++ compiler or Python's shared library is missing."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import find_libpython
import pytest
from cocotb_tools.runner import get_runner

from hxdp.errors import HxdpError, ToolMissing
from hxdp.gateware.rtlcache import build_key, cached_build, engine_verilog, rtl_cache
from hxdp.gateware.verilator import BUILD_LOG, MAKE_FLAGS, WARNING_FLAGS
from hxdp.gateware.verilog import TOP_NAME
from hxdp.target import Target
from hxdp.toolchain import Verilator, find_verilator

from .bench import LANES_ENV

# The one target CI runs the benches at: the default one, whose Verilog the
# rtl engine's tests generate anyway (the slow marker sweeps the others).
CI_LANES = 4


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """cocotb's runner builds with this process's environment: lend it ``env``."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _build(verilator: Verilator, verilog: Path, top: str, what: str, directory: Path) -> None:
    log = directory / BUILD_LOG
    # make takes variables from MAKEFLAGS as from its command line.
    with _environment({**verilator.env(), "MAKEFLAGS": " ".join(MAKE_FLAGS)}):
        try:
            get_runner("verilator").build(sources=[verilog], hdl_toplevel=top, build_dir=directory,
                                          build_args=list(WARNING_FLAGS), log_file=log)
        except (RuntimeError, SystemExit) as err:
            tail = "\n".join(log.read_text().splitlines()[-20:]) if log.exists() else ""
            raise HxdpError(f"cocotb's Verilator build of {what} failed ({err}); the end of its log:\n"
                            f"{tail}") from None


@dataclass(frozen=True)
class Simulation:
    """A cocotb build of a design (``top`` in ``verilog``) and the bench
    module whose tests drive it, with the environment they read."""
    build: Path
    top: str
    bench: str
    what: str
    env: dict[str, str]

    @classmethod
    def of(cls, verilator: Verilator, verilog: Path, top: str, bench: str, what: str,
           env: dict[str, str] | None = None) -> "Simulation":
        key = build_key(verilog.read_bytes(), "cocotb", importlib.metadata.version("cocotb"),
                        verilator.version, *WARNING_FLAGS, *MAKE_FLAGS)
        directory = cached_build(rtl_cache() / f"cocotb-{key}",
                                 lambda scratch: _build(verilator, verilog, top, what, scratch),
                                 f"{what} for cocotb", keep=(top, BUILD_LOG))
        return cls(directory, top, bench, what, env or {})

    @classmethod
    def engine(cls, verilator: Verilator, lanes: int) -> "Simulation":
        return cls.of(verilator, engine_verilog(Target.with_lanes(lanes)), TOP_NAME, "rtl_tests.bench_engine",
                      f"the {lanes}-lane engine", {LANES_ENV: str(lanes)})

    def run(self, directory: Path, testcase: str | None = None) -> None:
        """Run the bench's tests (or one of them) in a simulation working in
        ``directory``; their log is the test's output."""
        try:
            get_runner("verilator").test(test_module=self.bench, hdl_toplevel=self.top,
                                         hdl_toplevel_lang="verilog", testcase=testcase,
                                         build_dir=self.build, test_dir=directory, extra_env=self.env)
        except SystemExit as exit:
            pytest.fail(f"cocotb: {testcase or self.bench} failed on {self.what} "
                        f"(status {exit.code}); its log is in the captured output", pytrace=False)


@pytest.fixture(scope="session")
def verilator() -> Verilator:
    try:
        found = find_verilator()
    except ToolMissing as err:
        pytest.skip(f"RTL tests need Verilator: {err}")
    if find_libpython.find_libpython() is None:
        pytest.skip("cocotb needs Python's shared library (libpython), and this Python has none")
    return found


@pytest.fixture(scope="session")
def simulation(verilator: Verilator) -> Simulation:
    return Simulation.engine(verilator, CI_LANES)
