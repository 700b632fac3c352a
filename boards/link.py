"""The control link between a host and a board without PCIe: the engine's
control bus (docs/engine.md) carried over a UART, 8N1.

A request is a command byte and its operands; only reads answer:

- ``W`` addr d0 d1 d2 d3: write the 32-bit value d (least significant
  byte first) to register ``addr``. The bridge takes the next request once
  no host map access is waiting (STATUS bits 1 and 2), so writes to
  MAP_WRITE and MAP_READ need no polling from the host.
- ``R`` addr: read register ``addr``; answers 4 bytes, least significant first.
- ``C`` index: read the board's counter ``index`` (`board_counters`);
  answers 4 bytes.

A request left unfinished for `IDLE_BYTES` byte times is forgotten, so a
host that gave up half-way is heard again from its next request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from hxdp.errors import HxdpError
from hxdp.gateware.host import BusRead, BusWrite
from hxdp.gateware.registers import ADDR, ID_MAGIC

from .port import PORT_COUNTERS

__all__ = ["WRITE", "READ", "COUNTER", "IDLE_BYTES", "DEFAULT_BAUD", "board_counters", "requests", "replies",
           "BoardLink"]

WRITE, READ, COUNTER = b"W"[0], b"R"[0], b"C"[0]
IDLE_BYTES = 64
DEFAULT_BAUD = 115200
REPLY_BYTES = 4


def board_counters(ports: int) -> list[str]:
    """The names of the board's counters, by index: each port's, in order."""
    return [f"port{p}.{name}" for p in range(ports) for name in PORT_COUNTERS]


def requests(steps: Sequence[BusWrite | BusRead]) -> bytes:
    """The bytes that carry ``steps`` to the bridge."""
    out = bytearray()
    for step in steps:
        if isinstance(step, BusRead):
            out += bytes((READ, step.addr))
        else:
            out += bytes((WRITE, step.addr)) + step.value.to_bytes(4, "little")
    return bytes(out)


def replies(data: bytes) -> list[int]:
    """The values read, from the bytes the bridge answered."""
    return [int.from_bytes(data[i:i + REPLY_BYTES], "little") for i in range(0, len(data), REPLY_BYTES)]


@dataclass
class BoardLink:
    """A board's bridge on serial port ``device`` (pyserial)."""
    device: str
    baud: int = DEFAULT_BAUD
    timeout: float = 2.0

    def __post_init__(self) -> None:
        import serial
        try:
            self._port = serial.Serial(self.device, self.baud, timeout=self.timeout)
        except (serial.SerialException, OSError) as err:
            raise HxdpError(f"{self.device}: cannot open the board's serial port ({err}); give the port "
                            "the board's UART shows up as with --serial") from None

    def close(self) -> None:
        self._port.close()

    def run(self, steps: Sequence[BusWrite | BusRead], what: str = "requests") -> list[int]:
        """Carry ``steps`` out and give the values of their reads, in order."""
        expected = REPLY_BYTES * sum(isinstance(step, BusRead) for step in steps)
        started = time.monotonic()
        self._port.write(requests(steps))
        answer = self._port.read(expected)
        if len(answer) != expected:
            raise HxdpError(f"{self.device}: the board answered {len(answer)} of {expected} bytes to {what} "
                            f"after {time.monotonic() - started:.1f} s; is the hxdp bitstream loaded and "
                            f"the baud rate {self.baud}?")
        return replies(answer)

    def counters(self, count: int) -> list[int]:
        """The board's counters 0 .. count - 1, asked for at once."""
        self._port.write(b"".join(bytes((COUNTER, i)) for i in range(count)))
        answer = self._port.read(REPLY_BYTES * count)
        if len(answer) != REPLY_BYTES * count:
            raise HxdpError(f"{self.device}: the board answered {len(answer)} of {REPLY_BYTES * count} bytes "
                            "to the counters' read")
        return replies(answer)

    def check(self) -> int:
        """The engine's PARAMS register, once its ID is hXDP's."""
        ident, params = self.run([BusRead(ADDR["ID"]), BusRead(ADDR["PARAMS"])], "the ID read")
        if ident != ID_MAGIC:
            raise HxdpError(f"{self.device}: the board answered ID 0x{ident:08x}, not hXDP's "
                            f"0x{ID_MAGIC:08x}: another bitstream, or another serial port")
        return params
