"""The Linux kernel as an oracle: load a Program with bpf() and run packets
through BPF_PROG_TEST_RUN.

The kernel is the authority on XDP semantics. `KernelEngine` gives it the
same `XdpEngine` interface as the interpreter, so tests can run one packet
through both and compare action, output bytes and maps. test_run does not
report where a redirect goes, so `XdpResult.redirect` stays None here.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import functools
import mmap
import os
import platform
import struct

from ..errors import HxdpError
from .isa import Form, Pseudo, encode
from .maps import RINGBUF_HEADER
from .program import MapDef, MapType, Program
from .xdp import XDP_MD, MapDump, XdpInput, XdpResult

__all__ = ["KernelEngine", "kernel_unavailable_reason", "possible_cpus"]

_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}


class Cmd:
    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    PROG_TEST_RUN = 10
    BTF_LOAD = 18
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22


BPF_PROG_TYPE_XDP = 6
# A ring buffer record header's flags.
RINGBUF_BUSY, RINGBUF_DISCARD = 1 << 31, 1 << 30
BPF_F_RDONLY_PROG = 1 << 7
ATTR_SIZE = 144
LOG_SIZE = 1 << 20
_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: ctypes.Array, what: str) -> int:
    number = _SYSCALL.get(platform.machine())
    if number is None:
        raise HxdpError(f"the kernel oracle does not know the bpf() syscall number on {platform.machine()}")
    rc = _libc.syscall(number, cmd, attr, ctypes.sizeof(attr))
    if rc < 0:
        err = ctypes.get_errno()
        raise _BpfError(err, f"{what}: {os.strerror(err)} ({errno.errorcode.get(err, err)})")
    return rc


class _BpfError(HxdpError):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.errno = code


def _attr(layout: str, *values) -> ctypes.Array:
    buf = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into(layout, buf, 0, *values)
    return buf


def _addr(buf: ctypes.Array | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


@functools.cache
def possible_cpus() -> int:
    """Number of possible CPUs: per-CPU map values come one per possible CPU."""
    try:
        text = open("/sys/devices/system/cpu/possible").read().strip()
    except OSError:
        return os.cpu_count() or 1
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


class _Map:
    """One kernel map: its fd and the element commands."""

    def __init__(self, d: MapDef, inner_fd: int = 0, btf_fd: int = 0):
        """``btf_fd``: the object's BTF, which gives the key's and value's types (a spin lock's place)."""
        self.d = d
        flags = d.flags | (BPF_F_RDONLY_PROG if d.readonly else 0)
        name = "".join(c for c in d.name if c.isalnum() or c in "._")[:15].encode()
        def create(typed: bool) -> int:
            key_id, value_id = d.btf_ids if typed else (0, 0)
            attr = _attr("<7I16sIIII", d.type, d.key_size, d.value_size, d.max_entries, flags, inner_fd, 0, name,
                         0, btf_fd if typed else 0, key_id, value_id)
            return _bpf(Cmd.MAP_CREATE, attr, f"creating map {d.name} ({d.type.name.lower()})")
        # The kernel checks both types or none; some map types take none (a
        # devmap), and are made without, as libbpf makes them.
        typed = bool(btf_fd and all(d.btf_ids))
        try:
            self.fd = create(typed)
        except _BpfError:
            if not typed:
                raise
            self.fd = create(False)
        self.per_cpu = d.per_cpu
        self.stride = (d.value_size + 7) // 8 * 8 if self.per_cpu else d.value_size
        self.value_len = self.stride * possible_cpus() if self.per_cpu else d.value_size

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _elem(self, cmd: int, key: bytes, value: ctypes.Array | None, flags: int, what: str) -> None:
        kbuf = ctypes.create_string_buffer(bytes(key), len(key)) if key else None   # a map without keys takes NULL
        _bpf(cmd, _attr("<IIQQQ", self.fd, 0, _addr(kbuf), _addr(value), flags), f"{what} in map {self.d.name}")

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        if self.per_cpu:
            parts = [value] * possible_cpus() if len(value) == self.d.value_size else \
                [value[i * self.d.value_size:(i + 1) * self.d.value_size] for i in range(possible_cpus())]
            value = b"".join(p.ljust(self.stride, b"\0") for p in parts)
        self._elem(Cmd.MAP_UPDATE_ELEM, key, ctypes.create_string_buffer(value, len(value)), flags, "update")

    def lookup(self, key: bytes) -> bytes | None:
        out = ctypes.create_string_buffer(self.value_len)
        try:
            self._elem(Cmd.MAP_LOOKUP_ELEM, key, out, 0, "lookup")
        except _BpfError as err:
            if err.errno == errno.ENOENT:
                return None
            raise
        raw = out.raw
        if self.per_cpu:
            return b"".join(raw[i * self.stride:i * self.stride + self.d.value_size]
                            for i in range(possible_cpus()))
        return raw

    def keys(self) -> list[bytes]:
        out, key = [], None
        while True:
            nxt = ctypes.create_string_buffer(self.d.key_size)
            kbuf = ctypes.create_string_buffer(key, len(key)) if key is not None else None
            try:
                _bpf(Cmd.MAP_GET_NEXT_KEY, _attr("<IIQQ", self.fd, 0, _addr(kbuf), _addr(nxt)),
                     f"iterating map {self.d.name}")
            except _BpfError as err:
                if err.errno == errno.ENOENT:
                    return out
                raise
            key = nxt.raw
            out.append(key)

    def drain(self) -> list[bytes]:
        """A queue or stack map's values, oldest first, put back as they were
        (the kernel reads them only by popping)."""
        popped = []
        while True:
            out = ctypes.create_string_buffer(self.d.value_size)
            try:
                self._elem(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, b"", out, 0, "pop")
            except _BpfError as err:
                if err.errno == errno.ENOENT:
                    break
                raise
            popped.append(out.raw)
        oldest_first = popped if self.d.type is MapType.QUEUE else popped[::-1]
        for value in oldest_first:
            self.update(b"", value)
        return oldest_first

    def take_records(self) -> list[bytes]:
        """A ring buffer's records since the last take, taken (the consumer
        position moved past them), as a user-space reader takes them."""
        size = self.d.max_entries
        page = mmap.PAGESIZE
        with mmap.mmap(self.fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as consumer, \
                mmap.mmap(self.fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page) as producer:
            taken, = struct.unpack_from("<Q", consumer, 0)
            end, = struct.unpack_from("<Q", producer, 0)
            records = []
            while taken < end:
                at = page + (taken & (size - 1))
                header, = struct.unpack_from("<I", producer, at)
                if header & RINGBUF_BUSY:
                    break
                length = header & ~(RINGBUF_BUSY | RINGBUF_DISCARD)
                if not header & RINGBUF_DISCARD:
                    records.append(bytes(producer[at + RINGBUF_HEADER:at + RINGBUF_HEADER + length]))
                taken += -(-(length + RINGBUF_HEADER) // 8) * 8
            struct.pack_into("<Q", consumer, 0, taken)
        return records

    def freeze(self) -> None:
        _bpf(Cmd.MAP_FREEZE, _attr("<I", self.fd), f"freezing map {self.d.name}")


def _load_btf(program: Program) -> int | None:
    """The program's BTF loaded into the kernel, or None where there is none or
    the kernel refuses it (BTF is optional, as libbpf has it: what needs it,
    a spin lock or a callback, is then refused by the verifier, which says so)."""
    if program.btf is None:
        return None
    data = ctypes.create_string_buffer(program.btf.data, len(program.btf.data))
    try:
        return _bpf(Cmd.BTF_LOAD, _attr("<QQIII", _addr(data), 0, len(program.btf.data), 0, 0),
                    f"loading the BTF of {program.name}")
    except _BpfError:
        return None


def _load(program: Program, fds: list[int], btf_fd: int | None = None) -> int:
    """BPF_PROG_LOAD with map references turned into fds, and with the
    program's functions' BTF types where ``btf_fd`` is its BTF."""
    insns = []
    for insn in program.insns:
        if insn.spec.form is Form.LDDW and insn.src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE):
            index = insn.imm & 0xFFFFFFFF
            insn = dataclasses.replace(insn, imm=(insn.imm & ~0xFFFFFFFF) | fds[index])
        insns.append(insn)
    code = encode(insns)
    code_buf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer((program.license or "GPL").encode())
    log = ctypes.create_string_buffer(LOG_SIZE)
    name = "".join(c for c in program.name if c.isalnum() or c == "_")[:15].encode()
    funcs = program.btf.funcs if btf_fd is not None and program.btf else ()
    func_info = ctypes.create_string_buffer(b"".join(struct.pack("<II", pc, t) for pc, t in funcs)) if funcs else None
    attr = _attr("<IIQQIIQII16sIIIIQI", BPF_PROG_TYPE_XDP, len(code) // 8, _addr(code_buf), _addr(lic),
                 1, LOG_SIZE, _addr(log), 0, 0, name, 0, 0, btf_fd or 0, 8 if funcs else 0,
                 _addr(func_info), len(funcs))
    try:
        return _bpf(Cmd.PROG_LOAD, attr, f"loading program {program.name}")
    except _BpfError as err:
        tail = "\n".join(log.value.decode(errors="replace").strip().splitlines()[-12:])
        raise HxdpError(f"the kernel verifier rejected {program.name}: {err}\n{tail}") from None


class KernelEngine:
    """A Program loaded into the running kernel, run with BPF_PROG_TEST_RUN."""

    def __init__(self, program: Program):
        reason = kernel_unavailable_reason()
        if reason:
            raise HxdpError(f"the kernel oracle is not available: {reason}")
        self.program = program
        self.maps: dict[str, _Map] = {}
        self.prog_fds: list[int] = []
        self.btf_fd = None
        try:
            self.btf_fd = _load_btf(program)
            fds = []
            for d in program.maps:
                fds.append(self._create(d).fd)
            self.fd = _load(program, fds, self.btf_fd)
            self.prog_fds.append(self.fd)
            for name, programs in program.prog_arrays.items():
                for index, prog in programs.items():
                    fd = _load(prog, fds, self.btf_fd)
                    self.prog_fds.append(fd)
                    self.maps[name].update(index.to_bytes(4, "little"), fd.to_bytes(4, "little"))
        except BaseException:
            self.close()
            raise

    def _create(self, d: MapDef) -> _Map:
        inner_fd = 0
        template = None
        if d.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            template = _Map(dataclasses.replace(d.inner, name=d.name[:10] + "_in"))
            inner_fd = template.fd
        try:
            m = _Map(d, inner_fd, self.btf_fd or 0)
        finally:
            if template:
                template.close()
        self.maps[d.name] = m
        if d.initial is not None:
            m.update(bytes(4), d.initial.ljust(d.value_size, b"\0"))
            if d.readonly:
                m.freeze()
        return m

    def close(self) -> None:
        for fd in self.prog_fds:
            os.close(fd)
        self.prog_fds = []
        if self.btf_fd is not None:
            os.close(self.btf_fd)
            self.btf_fd = None
        for m in self.maps.values():
            m.close()
        self.maps = {}

    def __enter__(self) -> "KernelEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update_map(self, name: str, key: bytes, value: bytes) -> None:
        if name not in self.maps:
            raise HxdpError(f"no map called {name!r}; the program has {', '.join(self.maps)}")
        self.maps[name].update(key, value)

    def run(self, inp: XdpInput) -> XdpResult:
        data = ctypes.create_string_buffer(inp.packet, len(inp.packet))
        out = ctypes.create_string_buffer(4096)
        ctx = ctypes.create_string_buffer(XDP_MD.pack(0, len(inp.packet), 0, inp.ingress_ifindex,
                                                      inp.rx_queue_index, 0))
        ctx_out = ctypes.create_string_buffer(XDP_MD.size)
        attr = _attr("<IIIIQQIIIIQQII", self.fd, 0, len(inp.packet), len(out), _addr(data), _addr(out),
                     1, 0, XDP_MD.size, XDP_MD.size, _addr(ctx), _addr(ctx_out), 0, 0)
        _bpf(Cmd.PROG_TEST_RUN, attr, f"running {self.program.name} (ingress ifindex "
                                      f"{inp.ingress_ifindex}, rx queue {inp.rx_queue_index})")
        retval, _size_in, size_out = struct.unpack_from("<III", attr, 4)
        # The output starts with the metadata; ctx_out gives data and data_end
        # as offsets from its start.
        start, end = XDP_MD.unpack(ctx_out.raw)[:2]
        raw = out.raw[:size_out]
        records = [(name, record) for name, m in self.maps.items() if m.d.type is MapType.RINGBUF
                   for record in m.take_records()]
        return XdpResult(retval, raw[start:end], meta=raw[:start], ringbuf=records)

    def dump_maps(self) -> MapDump:
        dump: MapDump = {}
        for name, m in self.maps.items():
            if m.d.type in (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
                continue
            if m.d.type is MapType.RINGBUF:
                dump[name] = {}         # its records went with their packets
                continue
            if m.d.type in (MapType.QUEUE, MapType.STACK):
                dump[name] = {i.to_bytes(4, "little"): v for i, v in enumerate(m.drain())}
                continue
            entries = {}
            for key in m.keys():
                value = m.lookup(key)
                if value is not None:
                    entries[key] = value
            dump[name] = entries
        return dump


@functools.cache
def kernel_unavailable_reason() -> str | None:
    """None when XDP programs can be loaded and test-run here, else why not."""
    if platform.system() != "Linux":
        return f"not Linux ({platform.system()})"
    if platform.machine() not in _SYSCALL:
        return f"unknown bpf() syscall number on {platform.machine()}"
    from .asm import assemble
    probe = Program("hxdp_probe", assemble("mov %r0, 2\nexit"), license="GPL")
    try:
        with KernelEngine.__new__(KernelEngine) as engine:
            engine.program, engine.maps, engine.prog_fds, engine.btf_fd = probe, {}, [], None
            engine.fd = _load(probe, [])
            engine.prog_fds.append(engine.fd)
            result = engine.run(XdpInput(bytes(64)))
    except HxdpError as err:
        return f"cannot load and run an XDP program with bpf(): {err} (needs root or CAP_BPF)"
    if result.action != 2:
        return f"the probe program returned {result.action}, not XDP_PASS"
    return None
