"""hxdp load and hxdp maps over a serial port (a pseudo-terminal), to a
stand-in for the board's bridge that keeps the engine's registers and map
memory as the control bus defines them: what load writes, maps reads back."""

import dataclasses
import os
import pty
import threading
import tty

import pytest

from hxdp.boards.catalog import board
from hxdp.boards.link import COUNTER, READ, WRITE, board_counters
from hxdp.cli import main
from hxdp.gateware.registers import ADDR, ID_MAGIC, Params

from .conftest import EXAMPLES


class FakeBridge(threading.Thread):
    """Answers the link's requests on ``fd`` from a register file and map memory."""

    def __init__(self, fd: int, params: int):
        super().__init__(daemon=True)
        self.fd = fd
        self.regs = {ADDR["ID"]: ID_MAGIC, ADDR["PARAMS"]: params}
        self.memory = bytearray(1 << 16)
        self.writes = 0

    def _take(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = os.read(self.fd, count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def run(self) -> None:
        try:
            while True:
                command = self._take(1)[0]
                if command == WRITE:
                    addr, *value = self._take(5)
                    self.write(addr, int.from_bytes(bytes(value), "little"))
                elif command == READ:
                    os.write(self.fd, self.regs.get(self._take(1)[0], 0).to_bytes(4, "little"))
                elif command == COUNTER:
                    os.write(self.fd, (1000 + self._take(1)[0]).to_bytes(4, "little"))
        except (EOFError, OSError):
            return

    def write(self, addr: int, value: int) -> None:
        self.writes += 1
        self.regs[addr] = value
        at = self.regs.get(ADDR["MAP_ADDR"], 0)
        if addr == ADDR["MAP_WRITE"]:
            word = self.regs.get(ADDR["MAP_WDATA_LO"], 0) | self.regs.get(ADDR["MAP_WDATA_HI"], 0) << 32
            self.memory[at:at + 8] = word.to_bytes(8, "little")
            self.regs[ADDR["MAP_ADDR"]] = at + 8
        elif addr == ADDR["MAP_READ"]:
            word = int.from_bytes(self.memory[at:at + 8], "little")
            self.regs[ADDR["MAP_RDATA_LO"]], self.regs[ADDR["MAP_RDATA_HI"]] = word & 0xFFFF_FFFF, word >> 32
            self.regs[ADDR["MAP_ADDR"]] = at + 8


@pytest.fixture
def serial_board():
    master, slave = pty.openpty()
    tty.setraw(slave)
    target = board("versa_ecp5").target
    bridge = FakeBridge(master, Params.of(target).word)
    bridge.start()
    yield os.ttyname(slave), bridge
    os.close(master)
    os.close(slave)


def test_load_then_maps_reads_back_the_scenarios_routes(serial_board, capsys):
    device, bridge = serial_board
    prog = str(EXAMPLES / "router_ipv4.c")
    assert main(["load", "--board", "versa_ecp5", "--serial", device, prog]) == 0
    assert "loaded router_ipv4" in capsys.readouterr().out
    assert bridge.regs[ADDR["CTRL"]] == 1 and bridge.regs[ADDR["PROGRAM_ROWS"]] > 0
    assert main(["maps", "--board", "versa_ecp5", "--serial", device, prog]) == 0
    out = capsys.readouterr().out
    routes = out[out.index("maps:"):]
    assert "non-zero of" in routes and "0 non-zero" not in routes.splitlines()[1]
    names = board_counters(board("versa_ecp5").ports)
    assert f"{names[-1]}" in out and f"{1000 + len(names) - 1:,}" in out       # the stand-in's counter n: 1000 + n


def test_a_board_running_another_build_is_named(serial_board, capsys):
    device, bridge = serial_board
    bridge.regs[ADDR["PARAMS"]] = dataclasses.replace(Params.of(board("versa_ecp5").target), lanes=4).word
    assert main(["load", "--board", "versa_ecp5", "--serial", device, str(EXAMPLES / "xdp_drop.c")]) == 1
    assert "build and load its bitstream again" in capsys.readouterr().err


def test_a_silent_port_is_reported(capsys):
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        assert main(["maps", "--board", "versa_ecp5", "--serial", os.ttyname(slave), "--baud", "115200",
                     str(EXAMPLES / "xdp_drop.c")]) == 1
    finally:
        os.close(master)
        os.close(slave)
    assert "is the hxdp bitstream loaded" in capsys.readouterr().err


def test_load_sets_maps_from_a_map_file_and_maps_reads_them_back_typed(serial_board, capsys, tmp_path):
    """A route written in the map file and one given with --map go into the
    board's map memory with the load; hxdp maps reads them back by their C
    types and writes the file form."""
    device, _ = serial_board
    prog = str(EXAMPLES / "router_ipv4.c")
    setup = tmp_path / "routes.json"
    setup.write_text('{"maps": {"routes": [{"key": {"prefixlen": 8, "addr": "100.0.0.0"}, '
                     '"value": {"id": 9, "port": 2, "dmac": "02:00:00:00:09:01", "smac": "02:00:00:00:09:00"}}]}}')
    assert main(["load", "--board", "versa_ecp5", "--serial", device, prog, "--maps", str(setup),
                 "--map", "drops", "1=5"]) == 0
    capsys.readouterr()
    saved = tmp_path / "read.json"
    assert main(["maps", "--board", "versa_ecp5", "--serial", device, prog, "-o", str(saved)]) == 0
    out = capsys.readouterr().out
    assert '{"prefixlen": 8, "addr": "100.0.0.0"} -> {"id": 9, "port": 2, "dmac": "02:00:00:00:09:01"' in out
    assert "    1 -> 5" in out
    assert '{"key": {"prefixlen": 8, "addr": "100.0.0.0"}' in saved.read_text()
