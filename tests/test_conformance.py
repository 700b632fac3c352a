"""The bpf_conformance data: every test passes on the interpreter, every
negative file is caught, through the API, the command and the plugin."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hxdp.cli import main
from hxdp.ebpf.conformance import Outcome, check, collect, parse_data_file


def test_every_conformance_test_passes(conformance_dir):
    files = collect([conformance_dir / "tests"])
    assert len(files) == 225
    failures = [f"{r.data.name}: {r.outcome.value} {r.detail}"
                for r in (check(parse_data_file(f)) for f in files) if not r.passed]
    assert not failures, "\n".join(failures)


def test_every_negative_file_is_caught(conformance_dir):
    files = collect([conformance_dir / "negative"])
    assert len(files) == 60
    results = [check(parse_data_file(f)) for f in files]
    assert not [r.data.name for r in results if not r.caught]
    # Files carrying "-- error" are rejected before they run, except one that
    # only a verifier would refuse (it returns a pointer).
    ran = [r.data.name for r in results if r.data.error is not None and r.outcome is not Outcome.REJECTED]
    assert ran == ["error.data"]


def test_command_ends_with_counts(conformance_dir, capsys):
    assert main(["conformance", str(conformance_dir / "tests")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "225 passed, 0 failed"
    assert main(["conformance", "--negative", str(conformance_dir / "negative")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "60 passed, 0 failed"


PLUGIN_SAMPLE = ["add64", "alu64-arith", "be16", "call_local", "callx", "div64-by-zero-reg",
                 "lddw2", "ldxdw", "lock_cmpxchg", "mem-len", "movsx3264-reg", "prime", "sdiv64-reg",
                 "smod32-neg-by-neg-imm", "stxb-chain", "subnet", "swap64", "ja32", "jsle32-reg", "neg64"]


def _plugin(program_hex: str, memory_hex: str = "") -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "hxdp.cli", "conformance-plugin"] + ([memory_hex] if memory_hex else [])
    return subprocess.run(argv, input=program_hex + "\n", capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", PLUGIN_SAMPLE)
def test_plugin_protocol(conformance_dir, name):
    from hxdp.ebpf.asm import assemble
    from hxdp.ebpf.isa import encode
    data = parse_data_file(conformance_dir / "tests" / f"{name}.data")
    code = data.raw if data.raw is not None else encode(assemble(data.asm))
    done = _plugin(code.hex(), data.mem.hex())
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip(), 16) == data.result


@pytest.mark.parametrize("name", ["unused-call-dst", "unused-exit-imm", "unused-neg64-src"])
def test_plugin_rejects_bad_programs(conformance_dir, name):
    data = parse_data_file(conformance_dir / "negative" / f"{name}.data")
    done = _plugin(data.raw.hex())
    assert done.returncode != 0 and "field" in done.stderr


def test_plugin_names_the_engines_that_run_conformance_programs():
    done = subprocess.run([sys.executable, "-m", "hxdp.cli", "conformance-plugin", "--engine", "kernel"],
                          input="9500000000000000\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "'kernel' cannot run conformance programs" in done.stderr and "model, rtl" in done.stderr
