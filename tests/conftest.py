"""Shared fixtures: the repository's paths, the conformance data, the kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

import dataclasses

from hxdp.ebpf.asm import assemble
from hxdp.ebpf.conformance import find_conformance_dir
from hxdp.ebpf.isa import Insn, Pseudo

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    found = find_conformance_dir()
    if found is None:
        pytest.skip("the conformance data (../shared/conformance or $HXDP_CONFORMANCE) is absent")
    return found


@pytest.fixture(scope="session")
def kernel() -> None:
    """Skips the test, with the reason, where the kernel cannot run XDP programs."""
    from hxdp.ebpf.kernel import kernel_unavailable_reason
    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(f"kernel oracle unavailable: {reason}")


def assemble_with_maps(text: str, pseudo: Pseudo = Pseudo.MAP_FD) -> list[Insn]:
    """Assemble ``text``, each ``lddw rX, N`` in it a map reference: map N
    (``MAP_FD``), or map N's values from offset N >> 32 (``MAP_VALUE``)."""
    return [dataclasses.replace(i, src=pseudo) if i.mnemonic == "lddw" else i for i in assemble(text)]


_KERNEL_PACKETS: list[int] = []


def record_kernel_packets(count: int) -> None:
    """Count packets compared against the kernel, for the session summary."""
    _KERNEL_PACKETS.append(count)


def pytest_terminal_summary(terminalreporter) -> None:
    if _KERNEL_PACKETS:
        terminalreporter.write_line(f"kernel differential: {sum(_KERNEL_PACKETS)} packets compared "
                                    f"between interpreter and kernel")
