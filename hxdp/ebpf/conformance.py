"""bpf_conformance data files: parsing, running, and the plugin protocol.

A data file holds a program (``-- asm`` and/or ``-- raw``; raw is the
authority), optional input memory and either the expected r0 (``-- result``)
or ``-- error`` (the program must be rejected). `check` runs one file on an
engine and says whether it passed and why not.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..errors import HxdpError
from ..files import expand_paths, read_text
from .asm import assemble
from .isa import Insn, decode
from .interp import ExecutionFault, run_raw

__all__ = ["DataFile", "parse_data_file", "program_of", "Outcome", "Check", "check", "find_conformance_dir",
           "collect", "ENGINES", "engine_runner"]

Runner = Callable[[Sequence[Insn], bytes], int]


def _interp_runner(lanes: int) -> Runner:
    return lambda insns, mem: run_raw(insns, mem)


def _model_runner(lanes: int) -> Runner:
    from ..model.engine import run_conformance
    from ..target import Target
    target = Target.with_lanes(lanes)
    return lambda insns, mem: run_conformance(insns, mem, target)


def _rtl_runner(lanes: int) -> Runner:
    from ..gateware.verilator import ConformanceRunner
    from ..target import Target
    return ConformanceRunner(Target.with_lanes(lanes))


# Engines that can run conformance programs.
ENGINES: dict[str, Callable[[int], Runner]] = {"interp": _interp_runner, "model": _model_runner,
                                               "rtl": _rtl_runner}


def engine_runner(name: str, lanes: int = 4) -> Runner:
    if name not in ENGINES:
        raise HxdpError(f"engine {name!r} cannot run conformance programs; the engines that can: "
                        f"{', '.join(ENGINES)}")
    return ENGINES[name](lanes)


@dataclass
class DataFile:
    path: Path
    asm: str | None = None
    raw: bytes | None = None
    mem: bytes = b""
    result: int | None = None
    error: str | None = None   # None: no error section; "" or text: must be rejected

    @property
    def name(self) -> str:
        return self.path.name


def _raw_bytes(text: str, path: Path) -> bytes:
    out = bytearray()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            if line.lower().startswith("0x"):
                out += int(line, 16).to_bytes(8, "little")
            else:
                out += bytes.fromhex(line)
        except (ValueError, OverflowError):
            raise HxdpError(f"{path}: -- raw line {number}: {line!r} is neither a 64-bit word "
                            "nor 8 hex bytes") from None
    return bytes(out)


def parse_data_file(path: Path) -> DataFile:
    """The sections of a conformance data file."""
    text = read_text(path)
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("-- "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    data = DataFile(Path(path))
    if "asm" in sections:
        data.asm = "\n".join(sections["asm"])
    if "raw" in sections:
        data.raw = _raw_bytes("\n".join(sections["raw"]), data.path)
    if "mem" in sections:
        hex_text = "".join("".join(sections["mem"]).split())
        try:
            data.mem = bytes.fromhex(hex_text)
        except ValueError:
            raise HxdpError(f"{path}: -- mem is not hex bytes") from None
    if "result" in sections:
        words = " ".join(l.split("#", 1)[0] for l in sections["result"]).split()
        if words:
            try:
                data.result = int(words[0], 0)
            except ValueError:
                raise HxdpError(f"{path}: -- result {words[0]!r} is not a number") from None
    if "error" in sections:
        data.error = "\n".join(l for l in sections["error"] if not l.startswith("#")).strip()
    return data


class Outcome(enum.Enum):
    PASSED = "passed"            # ran and r0 matched
    REJECTED = "rejected"        # rejected at assembly/decoding, as `-- error` demands
    MISMATCH = "mismatch"        # ran, r0 differs (or ran although `-- error` is given)
    REFUSED = "refused"          # rejected although a result was expected
    FAULT = "fault"              # the engine stopped the program


@dataclass
class Check:
    data: DataFile
    outcome: Outcome
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome is (Outcome.REJECTED if self.data.error is not None else Outcome.PASSED)

    @property
    def caught(self) -> bool:
        """For negative files: the program was rejected or its run was reported as a
        mismatch, so the file did not slip through as a passing test."""
        return self.outcome is not Outcome.PASSED


def program_of(data: DataFile) -> list[Insn]:
    """The data file's program, from its raw bytes or its assembly."""
    if data.raw is not None:
        return decode(data.raw)
    if data.asm is not None:
        return assemble(data.asm, str(data.path))
    raise HxdpError(f"{data.path}: no -- asm or -- raw section")


def check(data: DataFile, runner: Runner = run_raw) -> Check:
    """Run one data file and classify what happened."""
    try:
        insns = program_of(data)
    except HxdpError as err:
        if data.error is not None:
            return Check(data, Outcome.REJECTED, str(err))
        return Check(data, Outcome.REFUSED, str(err))
    try:
        r0 = runner(insns, data.mem)
    except ExecutionFault as err:
        if data.error is not None:
            return Check(data, Outcome.REJECTED, str(err))
        return Check(data, Outcome.FAULT, str(err))
    except HxdpError as err:        # a compiled engine could not take the program
        if data.error is not None:
            return Check(data, Outcome.REJECTED, str(err))
        return Check(data, Outcome.REFUSED, str(err))
    if data.error is not None:
        return Check(data, Outcome.MISMATCH, f"ran (r0 = {r0:#x}) but must be rejected")
    if data.result is None:
        return Check(data, Outcome.MISMATCH, f"r0 = {r0:#x}, no -- result to compare with")
    if r0 != data.result:
        return Check(data, Outcome.MISMATCH, f"r0 = {r0:#x}, expected {data.result:#x}")
    return Check(data, Outcome.PASSED)


def collect(paths: Iterable[Path]) -> list[Path]:
    """The .data files named, directories expanded, sorted."""
    return expand_paths(paths, ".data", "file")


def find_conformance_dir() -> Path | None:
    """``$HXDP_CONFORMANCE``, else ``../shared/conformance`` beside the repository."""
    env = os.environ.get("HXDP_CONFORMANCE")
    if env:
        return Path(env) if Path(env).is_dir() else None
    candidate = Path(__file__).resolve().parents[3] / "shared" / "conformance"
    return candidate if candidate.is_dir() else None
