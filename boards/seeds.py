"""Placement seeds for nextpnr: how many a build tries, how long a seed's
router may run, and each seed's run under names of its own."""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["TOP", "SEEDS", "ROUTE_MINUTES", "SEEDED_OPTIONS", "seeded", "seeded_args", "written_files",
           "overused_wires"]

TOP = "hxdp_nic"
# router2 settles on the Versa (72% of its LUTs) in about 5 minutes, or
# not at all: which, turns on the placement, so a build tries several
# placement seeds and gives up a seed whose router runs on
# (docs/boards.md, Figures).
SEEDS = 4
ROUTE_MINUTES = 10
# nextpnr's files that each seed writes for itself.
SEEDED_OPTIONS = ("--log", "--report", "--textcfg")


def seeded(name: str, seed: int) -> str:
    """A file of nextpnr's run with one seed: hxdp_nic.tim -> hxdp_nic.seed2.tim."""
    return f"{TOP}.seed{seed}{name.removeprefix(TOP)}"


def written_files(args: list[str]) -> list[str]:
    """The files nextpnr's arguments have it write that each seed writes for itself."""
    return [args[args.index(option) + 1] for option in SEEDED_OPTIONS]


def seeded_args(args: list[str], seed: int) -> list[str]:
    """nextpnr's arguments for one placement seed, its files its own."""
    out = [seeded(arg, seed) if option in SEEDED_OPTIONS else arg for option, arg in zip(["", *args], args)]
    return [*out, "--seed", str(seed)]


# router2's progress lines give the wires still used by more than one net.
_OVERUSED = re.compile(r"overused=(\d+)")


def overused_wires(log: Path) -> int | None:
    """The wires router2 last had overused, from the end of nextpnr's log;
    None before it routes."""
    try:
        with log.open("rb") as text:
            text.seek(0, os.SEEK_END)
            text.seek(max(0, text.tell() - 4096))
            tail = text.read().decode(errors="replace")
    except FileNotFoundError:
        return None
    found = _OVERUSED.findall(tail)
    return int(found[-1]) if found else None
