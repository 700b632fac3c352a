"""Every subcommand on bad input, as a new user gives it.

Each (command, input) pair runs through `hxdp.cli.main`, the console
script's entry point, and must end with a non-zero status and one
``hxdp: error:`` line that names the input, with no traceback, no internal
error and nothing that looks like success. Hypothesis then feeds garbage
and damaged files of every kind to the commands that read them: any answer
but a clean one (a run, or the one error line naming the file) fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence
from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

from hxdp.cli import main
from hxdp.toolchain import compile_c

from .conftest import EXAMPLES


@dataclass(frozen=True)
class Outcome:
    """What a command line did: its status and its two outputs."""
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("hxdp: error:")]


def hxdp(argv: Sequence[str], stdin: bytes = b"") -> Outcome:
    """The ``hxdp`` command in this process, with ``stdin`` as its input;
    any exception it lets out fails the test with its traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin))):
        code = main(list(argv))
    return Outcome(code, out.getvalue(), err.getvalue())


# -- the inputs -----------------------------------------------------------------

ELF_MACHINE_AT = 18        # e_machine in the ELF header
EM_X86_64 = 62
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _pcap_with_linktype(linktype: int) -> bytes:
    return PCAP_HEADER[:20] + struct.pack("<I", linktype)


def _files(good_object: bytes, xdp1: str) -> dict[str, bytes | str]:
    """The bad files (and the few good ones they are paired with), by name."""
    x86 = bytearray(good_object)
    x86[ELF_MACHINE_AT:ELF_MACHINE_AT + 2] = struct.pack("<H", EM_X86_64)
    record = struct.pack("<IIII", 0, 0, 60, 60)
    return {
        "empty.c": "", "garbage.c": b"\x7f\x00\xffgarbage\x80", "truncated.c": xdp1[:len(xdp1) // 2],
        "noprog.c": "int counter;\n",
        "empty.o": b"", "garbage.o": b"garbage, not an object\n", "truncated.o": good_object[:700],
        "x86.o": bytes(x86), "good.o": good_object,
        "empty.s": "", "garbage.s": b"\x80\x81\xfe\xff\n", "bad.s": "frob %r0\n", "truncated.s": "mov %r0,",
        "empty.hex": "", "garbage.hex": "zz yy", "truncated.hex": "b4000000020000009500000000",
        "lddw.hex": "1800000001000000", "binary.hex": b"\x80\xff",
        "image.json": '{"format": "hxdp-image"}',
        "empty.pcap": b"", "garbage.pcap": b"garbage, not a pcap file....\n", "truncated.pcap": PCAP_HEADER[:10],
        "cut.pcap": PCAP_HEADER + record + bytes(20), "headless.pcap": PCAP_HEADER + record[:7],
        "pcapng.pcap": b"\x0a\x0d\x0d\x0a" + bytes(40), "wifi.pcap": _pcap_with_linktype(105),
        "nopackets.pcap": PCAP_HEADER, "runt.pcap": PCAP_HEADER + struct.pack("<IIII", 0, 0, 3, 3) + b"abc",
        "garbage.routes": b"\x80\x81\n", "bad.routes": "10.0.0.0/8 x\n", "truncated.routes": "10.0.0.0/8 2 02:00\n",
        "ifindex.routes": "10.0.0.0/8 99999999999 020000000001 020000000002\n",
        "mac.routes": "10.0.0.0/8 2 00:11 020000000002\n", "mtu.routes": "10.0.0.0/8 2 020000000001 - 70000\n",
        "prefix.routes": "10.0.0.300/8 2 020000000001 020000000002\n",
        "binary.data": b"\x80\xff", "badraw.data": "-- raw\nzz\n", "badmem.data": "-- asm\nexit\n-- mem\nzz\n",
        "badresult.data": "-- asm\nexit\n-- result\nmany\n",
        "afile": "a file where a directory belongs\n",
        "xdp1.c": xdp1, "common.h": (EXAMPLES / "common.h").read_text(), "xdp1.py": (EXAMPLES / "xdp1.py").read_text(),
        "broken.c": xdp1, "broken.py": "def scenario():\n    raise ValueError('no traffic today')\n",
        "unparsed.c": xdp1, "unparsed.py": "def scenario(:\n",
        "huge.c": xdp1.replace("__uint(max_entries, 256);", "__uint(max_entries, 1 << 30);"),
    }


DIRECTORIES = ("dir.c", "dir.o", "dir.s", "dir.hex", "dir.pcap", "dir.routes", "outdir", "nodata", "objs")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    good_object = compile_c(EXAMPLES / "xdp1.c").read_bytes()
    for name, content in _files(good_object, (EXAMPLES / "xdp1.c").read_text()).items():
        if isinstance(content, str):
            (root / name).write_text(content)
        else:
            (root / name).write_bytes(content)
    for name in DIRECTORIES:
        (root / name).mkdir()
    shutil.copy(root / "good.o", root / "objs" / "good.o")
    shutil.copy(EXAMPLES / "pcaps" / "xdp1.pcap", root / "xdp1.pcap")
    return root


@pytest.fixture(scope="module", autouse=True)
def no_long_work() -> Iterator[None]:
    """Stand-ins for what takes minutes (synthesis, board builds, Verilog,
    Verilator): a bad input must be refused before any of it starts, and one
    that is not shows as an internal error, failing its case."""
    def started(*args, **kwargs):
        raise AssertionError("long work started on bad input")
    with pytest.MonkeyPatch.context() as patch:
        for module, name in (("hxdp.gateware.synth", "synthesize"), ("hxdp.gateware.verilog", "generate"),
                             ("hxdp.gateware.verilator", "VerilatorEngine"), ("hxdp.boards.build", "build_ecp5"),
                             ("hxdp.boards.xilinx", "write_project")):
            patch.setattr(f"{module}.{name}", started)
        yield


# -- the table of (command, input) ------------------------------------------------

@dataclass(frozen=True)
class Case:
    """A command line on a bad input, and what its error line must name."""
    argv: tuple[str, ...]
    names: str
    stdin: bytes = b""
    reports_first: bool = False     # fails in or after the run, with part of its report printed

    @property
    def id(self) -> str:
        return " ".join(self.argv) + (f" <{self.stdin[:12]!r}" if self.stdin else "")


def case(line: str, names: str, stdin: bytes = b"", reports_first: bool = False) -> Case:
    return Case(tuple(line.split()), names, stdin, reports_first)


# How each command takes a program: PROG stands for it.
PROGRAM_COMMANDS = (
    "disasm PROG", "compile PROG", "run PROG --pcap xdp1.pcap", "sim PROG --pcap xdp1.pcap",
    "bench PROG --pcap xdp1.pcap --no-sweep", "verilog --program PROG -o outdir/x.v",
    "build --board versa_ecp5 --no-run -o outdir PROG", "load --board versa_ecp5 --serial /dev/null PROG",
    "maps --board versa_ecp5 --serial /dev/null PROG",
)
BAD_PROGRAMS = (
    "missing.c", "empty.c", "garbage.c", "truncated.c", "noprog.c", "dir.c",
    "missing.o", "empty.o", "garbage.o", "truncated.o", "x86.o", "dir.o",
    "missing.s", "empty.s", "garbage.s", "bad.s", "truncated.s", "dir.s",
    "missing.hex", "empty.hex", "garbage.hex", "truncated.hex", "lddw.hex", "binary.hex", "dir.hex",
    "image.json",
)
PCAP_COMMANDS = ("run xdp1.c --pcap PCAP", "sim xdp1.c --pcap PCAP", "bench xdp1.c --no-sweep --pcap PCAP")
BAD_PCAPS = ("missing.pcap", "empty.pcap", "garbage.pcap", "truncated.pcap", "cut.pcap", "headless.pcap",
             "pcapng.pcap", "wifi.pcap", "nopackets.pcap", "runt.pcap", "dir.pcap")
ROUTE_COMMANDS = ("run xdp1.c --routes ROUTES", "sim xdp1.c --engine model --routes ROUTES")
BAD_ROUTES = ("missing.routes", "garbage.routes", "bad.routes", "truncated.routes", "ifindex.routes", "mac.routes",
              "mtu.routes", "prefix.routes", "dir.routes")

# Numeric options with values out of their range or not numbers at all.
LANES_COMMANDS = ("conformance nodata", "conformance-plugin", "run xdp1.c", "sim xdp1.c", "compile xdp1.c",
                  "bench xdp1.c", "verilog -o outdir/x.v", "synth", "build --board versa_ecp5",
                  "load --board versa_ecp5 --serial /dev/null xdp1.c", "maps --board versa_ecp5 --serial /dev/null "
                  "xdp1.c", "target")
CORES_COMMANDS = ("run xdp1.c --engine model", "sim xdp1.c", "bench xdp1.c", "verilog -o outdir/x.v", "synth")
NUMBERS = (
    ("run xdp1.c --packets", ("-1", "x")),
    ("run xdp1.c --flows", ("0", "-3", "1.5")),
    ("run xdp1.c --flows 2 --count", ("0", "-5", "x")),
    ("run xdp1.c --engine model --clock", ("0", "-1", "nan", "inf", "x")),
    ("run xdp1.c --engine model --fifo", ("-1", "x")),
    ("run xdp1.c --engine model --tx-ready", ("0", "1.5", "-0.5", "nan")),
    ("run xdp1.c --engine model --seed", ("-1", str(2**64), "x")),
    ("sim xdp1.c --clock", ("0", "-2")),
    ("synth --freq", ("0", "-125", "nan")),
    ("build --board versa_ecp5 --time-limit", ("0", "-1")),
    ("build --board versa_ecp5 --seeds", ("0", "-2")),
    ("build --board versa_ecp5 --route-minutes", ("0", "inf")),
    ("load --board versa_ecp5 --serial /dev/null xdp1.c --baud", ("0", "-9600")),
    ("maps --board versa_ecp5 --serial /dev/null xdp1.c --baud", ("0", "x")),
)
SPANS = (
    ("run xdp1.c --flows 2 --sizes", ("10", "60:50", "a:b")),
    ("run xdp1.c --engine model --vcd-packets", ("3:1", "x")),
)

# Outputs that cannot be written: a missing directory, a place under a
# regular file (root cannot write there either), a directory for a file.
UNWRITABLE_FILES = ("nodir/out.x", "afile/out.x", "outdir")
OUTPUT_COMMANDS = ("run xdp1.c -o OUT", "sim xdp1.c -o OUT", "sim xdp1.c --table OUT", "sim xdp1.c --vcd OUT",
                   "compile xdp1.c -o OUT", "verilog -o OUT")
OUTPUT_DIR_COMMANDS = ("synth --dir OUT", "build --board versa_ecp5 -o OUT")


def _cases() -> list[Case]:
    cases = [case(c.replace("PROG", p), p) for c in PROGRAM_COMMANDS for p in BAD_PROGRAMS]
    cases += [case(c.replace("PCAP", p), p) for c in PCAP_COMMANDS for p in BAD_PCAPS]
    cases += [case(c.replace("ROUTES", r), r) for c in ROUTE_COMMANDS for r in BAD_ROUTES]
    cases += [case(f"{c} --lanes {n}", "--lanes") for c in LANES_COMMANDS for n in ("0", "9", "x")]
    cases += [case(f"{c} --cores {n}", "--cores") for c in CORES_COMMANDS for n in ("0", "17")]
    cases += [case(f"{c} {v}", c.split()[-1]) for c, values in NUMBERS + SPANS for v in values]
    cases += [case(c.replace("OUT", o), o) for c in OUTPUT_COMMANDS for o in UNWRITABLE_FILES]
    cases += [case(c.replace("OUT", o), o) for c in OUTPUT_DIR_COMMANDS for o in ("afile", "afile/sub")]
    cases += [case("run xdp1.c -o /proc/out.pcap", "/proc/out.pcap", reports_first=True),
              case("compile xdp1.c -o /proc/out.json", "/proc/out.json", reports_first=True),
              case("sim xdp1.c --engine model --table table.txt", "table.txt")]
    cases += [case(f"asm {f}", f) for f in ("missing.s", "empty.s", "garbage.s", "bad.s", "truncated.s", "dir.s")]
    cases += [case("asm", "<stdin>", stdin) for stdin in (b"", b"\x80\xff\n", b"mov %r0, 1\nfrob\n", b"lddw %r0")]
    cases += [case(f"conformance {f}", f) for f in ("missing.data", "nodata", "binary.data", "badraw.data",
                                                    "badmem.data", "badresult.data")]
    cases += [case("conformance-plugin", "<stdin>", stdin)
              for stdin in (b"", b"\x80\xff\n", b"not hex\n", b"b400000002000000950000\n", b"18000000\n")]
    cases += [case("conformance-plugin zz", "zz", b"9500000000000000\n")]
    cases += [
        case("run good.o", "good.o"), case("bench good.o", "good.o"),
        case("bench objs", "objs"), case("bench objs --pcap xdp1.pcap", "objs"), case("bench outdir", "outdir"),
        case("bench missing", "missing"), case("bench xdp1.c --cores 2", "--cores"),
        case("run xdp1.c --flows 2 --pcap xdp1.pcap", "--pcap or --flows"),
        case("run xdp1.c --flows 2 --sizes 1:2", "1:2"), case("run xdp1.c --flows 2 --sizes 60:99999", "60:99999"),
        case("run broken.c", "broken.py"), case("run unparsed.c", "unparsed.py"),
        case("load --board versa_ecp5 --serial broken.py broken.c", "broken.py"),
        case("run huge.c --pcap xdp1.pcap", "rxcnt", reports_first=True),
        case("run xdp1.c --clock 100", "--clock"), case("run xdp1.c --rate 10g", "--rate"),
        case("run xdp1.c --engine model --vcd w.vcd", "--vcd"),
        case("run xdp1.c --engine nope", "--engine"), case("run xdp1.c --rate 2g", "--rate"),
        case("conformance nodata --engine kernel", "kernel"), case("bench xdp1.c --engine interp", "--engine"),
        case("synth --family nope", "--family"),
        case("build --board nope", "nope"), case("load --board nope --serial /dev/null xdp1.c", "nope"),
        case("build xdp1.c", "--board"), case("build --board netfpga_sume", "--no-run"),
        case("load --board versa_ecp5 --serial /dev/nonexistent xdp1.c", "/dev/nonexistent"),
        case("maps --board versa_ecp5 --serial afile xdp1.c", "afile"),
        case("verilog", "-o"), case("boards extra", "extra"), case("nonsense", "nonsense"), case("", "COMMAND"),
    ]
    return cases


CASES = _cases()


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_error_line(bad: Case, inputs: Path, monkeypatch):
    monkeypatch.chdir(inputs)
    done = hxdp(bad.argv, bad.stdin)
    assert done.code in (1, 2), done
    assert len(done.error_lines) == 1, done.err
    assert bad.names in done.error_lines[0]
    assert "Traceback" not in done.out + done.err and "internal error" not in done.err
    if bad.reports_first:
        assert "wrote" not in done.out
    else:
        assert done.out == ""


def test_conformance_files_that_fail_are_results_not_errors(tmp_path: Path, monkeypatch):
    """A data file whose program is missing or bad is a failing conformance
    test (the suite's negative files must be caught this way), listed with
    its reason, the run ending non-zero."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "noprogram.data").write_text("-- result\n0x0\n")
    (tmp_path / "frob.data").write_text("-- asm\nfrob\n-- result\n0x1\n")
    done = hxdp(["conformance", "."])
    assert done.code == 1 and done.err == ""
    assert "FAIL frob.data" in done.out and "unknown mnemonic 'frob'" in done.out
    assert "FAIL noprogram.data" in done.out and done.out.endswith("0 passed, 2 failed\n")


# -- garbage from Hypothesis -----------------------------------------------------------

def assert_clean(done: Outcome, name: str) -> None:
    """A run, or one error line naming the input: never a crash."""
    assert "Traceback" not in done.out + done.err and "internal error" not in done.err, done.err
    if done.code != 0:
        assert done.code == 1 and len(done.error_lines) == 1 and name in done.error_lines[0], done.err


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("garbage")
    shutil.copy(EXAMPLES / "xdp1.c", root)
    shutil.copy(EXAMPLES / "common.h", root)
    return root


GARBAGE = settings(max_examples=100, deadline=None)


# Objects to damage, with the options that choose their program: maps in
# .maps with BTF, legacy maps, global data, several programs.
OBJECTS = ((EXAMPLES / "xdp1.c", ()), (EXAMPLES / "firewall.c", ()),
           (Path(__file__).parent / "data" / "maps_kinds.c", ("--program", "second")))


@GARBAGE
@given(data=st.data(), which=st.sampled_from(range(len(OBJECTS))), seed=st.integers(0, 2**32 - 1))
def test_damaged_objects(scratch: Path, data, which: int, seed: int):
    """An object with some bytes changed or cut off: loaded, or refused by name."""
    source, options = OBJECTS[which]
    obj = bytearray(compile_c(source).read_bytes())
    rng = random.Random(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        obj[rng.randrange(len(obj))] = rng.randrange(256)
    if data.draw(st.booleans()):
        del obj[rng.randrange(len(obj)):]
    path = scratch / "damaged.o"
    path.write_bytes(bytes(obj))
    assert_clean(hxdp(["disasm", str(path), *options]), str(path))


@GARBAGE
@given(suffix=st.sampled_from([".o", ".s", ".hex", ".txt"]), content=st.binary(max_size=300),
       elf=st.booleans())
def test_garbage_programs(scratch: Path, suffix: str, content: bytes, elf: bool):
    path = scratch / f"garbage{suffix}"
    path.write_bytes((b"\x7fELF" if elf else b"") + content)
    assert_clean(hxdp(["disasm", str(path)]), str(path))


@GARBAGE
@given(records=st.lists(st.tuples(st.integers(0, 200), st.binary(max_size=120)), max_size=4),
       tail=st.binary(max_size=24))
def test_garbage_pcaps(scratch: Path, records: list[tuple[int, bytes]], tail: bytes):
    """Records whose announced lengths need not match their bytes."""
    path = scratch / "garbage.pcap"
    path.write_bytes(PCAP_HEADER + b"".join(struct.pack("<IIII", 0, 0, length, length) + frame
                                            for length, frame in records) + tail)
    assert_clean(hxdp(["run", str(scratch / "xdp1.c"), "--pcap", str(path), "-q"]), str(path))


@GARBAGE
@given(lines=st.lists(st.text(st.sampled_from("0123456789abcdef:./- x#\t"), max_size=60), max_size=4))
def test_garbage_route_files(inputs: Path, scratch: Path, lines: list[str]):
    path = scratch / "garbage.routes"
    path.write_text("\n".join(lines))
    assert_clean(hxdp(["run", str(scratch / "xdp1.c"), "--pcap", str(inputs / "xdp1.pcap"), "-q", "--routes",
                       str(path)]), str(path))


@GARBAGE
@given(command=st.sampled_from([["asm"], ["asm", "--hex"], ["conformance-plugin"]]), stdin=st.binary(max_size=80))
def test_garbage_on_standard_input(command: list[str], stdin: bytes):
    assert_clean(hxdp(command, stdin), "<stdin>")



# -- through the console script ----------------------------------------------------------

def _console_script() -> Path:
    script = Path(sys.executable).with_name("hxdp")
    if not script.is_file():
        pytest.skip("the hxdp console script is not installed beside this Python")
    return script


def test_the_console_script_gives_one_error_line(inputs: Path):
    done = subprocess.run([_console_script(), "run", "missing.c"], cwd=inputs, capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "hxdp: error: missing.c: no such file\n")


def test_the_console_script_shows_the_traceback_when_debugging(inputs: Path):
    done = subprocess.run([_console_script(), "run", "missing.c"], cwd=inputs, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "HXDP_DEBUG": "1"})
    assert done.returncode == 1 and done.stderr.startswith("Traceback")
    assert done.stderr.endswith("hxdp.errors.HxdpError: missing.c: no such file\n")
