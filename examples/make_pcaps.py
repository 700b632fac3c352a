"""Write each example's built-in traffic to examples/pcaps/<name>.pcap.

Run it after changing an example's traffic module:

    python examples/make_pcaps.py          # rewrite the files
    python examples/make_pcaps.py --check  # exit 1 if a file is out of date

A pcap holds frames only: the ingress ifindex and rx queue a scenario gives
some packets (firewall, rxq_info, redirect_map) are not kept, so
`hxdp run PROG --pcap FILE` delivers every frame on port 1, queue 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hxdp.pcap import read_pcap, write_pcap
from hxdp.scenario import load_scenario

EXAMPLES = Path(__file__).resolve().parent
PCAPS = EXAMPLES / "pcaps"


def example_traffic() -> dict[str, list[bytes]]:
    """Example name -> the frames of its scenario, for every example with one."""
    out = {}
    for source in sorted(EXAMPLES.glob("*.c")):
        scenario = load_scenario(source)
        if scenario is not None:
            out[source.stem] = [p.packet for p in scenario.packets]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    stale = []
    PCAPS.mkdir(exist_ok=True)
    for name, frames in example_traffic().items():
        path = PCAPS / f"{name}.pcap"
        if args.check:
            current = [r.data for r in read_pcap(path)] if path.exists() else None
            if current != frames:
                stale.append(path)
            continue
        write_pcap(path, frames)
        print(f"{path.relative_to(EXAMPLES.parent)}: {len(frames)} packets")
    for path in stale:
        print(f"{path} is out of date: run python {Path(__file__).name}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
