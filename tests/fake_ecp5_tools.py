"""Stands in for yosys, nextpnr-ecp5 and ecppack in tests of how `hxdp
build` runs them. nextpnr's behaviour with each seed comes from
FAKE_NEXTPNR (JSON, seed: "met", "missed", "stalls", "fails" or
"too big")."""

import json
import os
import sys
import time

args = sys.argv[1:]


def option(name: str) -> str:
    return args[args.index(name) + 1]


if "--textcfg" in args:
    behaviour = json.loads(os.environ["FAKE_NEXTPNR"])[option("--seed")]
    with open(option("--log"), "w") as log:
        log.write(f"Info: process {os.getpid()}\nInfo: Running main analytical placer.\n")
        log.flush()
        if behaviour in ("fails", "too big"):
            log.write("ERROR: Unable to place cell 'x'\n" if behaviour == "too big" else "ERROR: a net crossed\n")
            sys.exit(1)
        log.write("Info:     iter=1 wires=10 overused=7 overuse=7 archfail=NA\n")
        log.flush()
        if behaviour == "stalls":
            time.sleep(600)
        # A seed that meets timing finishes once the seeds that stall beside
        # it have started (their logs exist), however slowly they start.
        mine = option("--log")
        stalling = [mine.replace(f"seed{option('--seed')}.", f"seed{other}.")
                    for other, how in json.loads(os.environ["FAKE_NEXTPNR"]).items() if how == "stalls"]
        deadline = time.monotonic() + 10
        while not all(map(os.path.exists, stalling)) and time.monotonic() < deadline:
            time.sleep(0.02)
    achieved = 130.0 if behaviour == "met" else 100.0
    with open(option("--report"), "w") as report:
        json.dump({"fmax": {"$glbnet$tx_clk": {"achieved": achieved, "constraint": 125.0}},
                   "utilization": {"TRELLIS_COMB": {"used": 10, "available": 20}}, "critical_paths": []}, report)
    with open(option("--textcfg"), "w") as config:
        config.write(f"seed {option('--seed')}\n")
elif "--bit" in args:
    with open(option("--input")) as config, open(option("--bit"), "w") as bit:
        bit.write(config.read())
