"""The built-in traffic of an example, with what each packet should become.

An example ``examples/NAME.c`` has a module ``examples/NAME.py`` beside it
whose ``scenario()`` returns a `Scenario`: packets, the map entries to
install first, and expectations computed from the example's documented
behaviour, independently of any engine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

from .ebpf.fib import RouteTable
from .ebpf.xdp import MapDump, MapEntry, XdpAction, XdpInput, XdpResult
from .errors import HxdpError

__all__ = ["Expect", "Scenario", "load_scenario", "load_module", "fields", "u32"]


def u32(value: int) -> bytes:
    """A little-endian u32 map key or value."""
    return value.to_bytes(4, "little")


def fields(maps: MapDump, name: str, key: bytes, layout: str = "<Q") -> tuple[int, ...]:
    """A map value decoded with ``layout``; per-CPU values (several copies of the
    layout back to back) are summed field by field. Missing keys read as zeros."""
    size = struct.calcsize(layout)
    raw = maps.get(name, {}).get(key, bytes(size))
    totals = [0] * len(struct.unpack(layout, bytes(size)))
    for off in range(0, len(raw) - size + 1, size):
        for i, v in enumerate(struct.unpack_from(layout, raw, off)):
            totals[i] += v
    return tuple(totals)


@dataclass(frozen=True)
class Expect:
    """What one packet should give: the action, and the output bytes (None:
    the input unchanged)."""
    action: XdpAction
    packet: bytes | None = None
    why: str = ""
    redirect: int | None = None   # devmap key (or ifindex) an XDP_REDIRECT goes to


@dataclass
class Scenario:
    """An example's traffic: ``packets`` in order, one `Expect` each, the map
    entries to install before the first packet, the route table for
    bpf_fib_lookup when the example uses it, and a check of the final maps."""
    packets: list[XdpInput]
    expect: list[Expect]
    setup: list[MapEntry] = field(default_factory=list)
    routes: RouteTable | None = None
    # Checks on the final maps: returns the problems found.
    check_maps: Callable[[MapDump], list[str]] | None = None

    def problems(self, results: list[XdpResult], maps: MapDump) -> list[str]:
        """Every way ``results`` and ``maps`` differ from the expectations."""
        out = []
        if len(results) != len(self.packets):
            out.append(f"{len(results)} results for {len(self.packets)} packets")
        for i, (inp, exp, res) in enumerate(zip(self.packets, self.expect, results)):
            label = f"packet {i}" + (f" ({exp.why})" if exp.why else "")
            if res.action != exp.action:
                out.append(f"{label}: {XdpAction.name_of(res.action)}, expected "
                           f"{XdpAction.name_of(exp.action)}" + (f" [{res.fault}]" if res.fault else ""))
                continue
            want = inp.packet if exp.packet is None else exp.packet
            if exp.action in (XdpAction.TX, XdpAction.PASS, XdpAction.REDIRECT) and res.packet != want:
                out.append(f"{label}: output bytes differ\n  got  {res.packet.hex()}\n  want {want.hex()}")
            # Engines that can see the redirect target (the kernel's test_run cannot) report it.
            if exp.redirect is not None and res.redirect is not None and res.redirect.key != exp.redirect:
                out.append(f"{label}: redirected to {res.redirect.key}, expected {exp.redirect}")
        if self.check_maps:
            out += self.check_maps(maps)
        return out


def load_module(module_path: Path) -> ModuleType:
    """Import a traffic module by its path: examples/ is a folder of files
    beside their programs, not a package, and one example may reuse another's
    traffic this way."""
    module_path = Path(module_path)
    spec = importlib.util.spec_from_file_location(f"hxdp_example_{module_path.stem}", module_path)
    module = importlib.util.module_from_spec(spec)
    with _traffic_code(module_path):
        spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _traffic_code(module_path: Path) -> Iterator[None]:
    """A traffic module is the user's code: what it raises is their error,
    named by the module (--debug shows where in it)."""
    try:
        yield
    except Exception as err:
        raise HxdpError(f"{module_path}: the example's traffic failed: {type(err).__name__}: {err}") from err


def load_scenario(program_path: Path) -> Scenario | None:
    """The scenario of the example beside ``program_path`` (a .c or .o file),
    or None when it has no traffic module."""
    module_path = Path(program_path).with_suffix(".py")
    if not module_path.is_file():
        return None
    module = load_module(module_path)
    if not callable(getattr(module, "scenario", None)):
        raise HxdpError(f"{module_path}: has no scenario() function returning a Scenario")
    with _traffic_code(module_path):
        scenario = module.scenario()
    if not isinstance(scenario, Scenario):
        raise HxdpError(f"{module_path}: scenario() returned {type(scenario).__name__}, not a Scenario")
    if len(scenario.expect) != len(scenario.packets):
        raise HxdpError(f"{module_path}: {len(scenario.packets)} packets but "
                        f"{len(scenario.expect)} expectations")
    return scenario
