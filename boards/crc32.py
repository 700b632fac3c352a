"""The Ethernet frame check sequence: CRC-32 (IEEE 802.3), bits least
significant first, in Python for the tests and as logic for the MAC.

A frame's FCS is the complement of the CRC of its bytes, sent least
significant byte first; the CRC of a frame with its FCS leaves the
residue ``RESIDUE`` in the register."""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Cat, Value

__all__ = ["POLY", "INIT", "RESIDUE", "crc32_step", "fcs", "crc32_byte"]

POLY = 0xEDB88320          # 0x04C11DB7, bit-reversed
INIT = 0xFFFF_FFFF
RESIDUE = 0xDEBB_20E3      # the register after a good frame and its FCS


def crc32_step(crc: int, byte: int) -> int:
    for i in range(8):
        crc = (crc >> 1) ^ (POLY if (crc ^ (byte >> i)) & 1 else 0)
    return crc


def fcs(frame: bytes) -> bytes:
    """The four bytes that follow ``frame`` on the wire."""
    crc = INIT
    for byte in frame:
        crc = crc32_step(crc, byte)
    return (crc ^ INIT).to_bytes(4, "little")


def crc32_byte(crc: Value, byte: Value) -> Value:
    """The register after ``byte``, as logic. The step is linear in the
    register's and the byte's bits, so each bit of the result is the XOR of
    the bits whose unit vectors set it (one XOR tree a bit, where eight
    chained shift-and-xor steps would nest each other's expressions)."""
    crc, byte = Value.cast(crc), Value.cast(byte)
    from_crc = [crc32_step(1 << i, 0) for i in range(32)]
    from_byte = [crc32_step(0, 1 << i) for i in range(8)]
    bits = []
    for j in range(32):
        terms = [crc[i] for i in range(32) if from_crc[i] >> j & 1] + \
                [byte[i] for i in range(8) if from_byte[i] >> j & 1]
        bits.append(functools.reduce(operator.xor, terms))
    return Cat(*bits)
