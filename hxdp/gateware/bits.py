"""Small combinational pieces the memories, the core and the engine share."""

from amaranth.hdl import Cat, Const, Mux, Value

__all__ = ["low_ones", "low_bytes", "kept_bytes", "one_of", "ring_next"]


def low_ones(count: Value, width: int) -> Value:
    """``width`` bits with the low ``count`` set (all of them when ``count`` >= width)."""
    shift = count[:width.bit_length()]           # only used when count < width
    return Mux(count >= width, (1 << width) - 1, (Const(1, width + 1) << shift) - 1)[:width]


def low_bytes(count: Value, width_bytes: int) -> Value:
    """``width_bytes`` bytes with the low ``count`` all ones: `low_ones` on
    bytes, each bit spread over its byte (cheaper than shifting bits)."""
    ones = low_ones(count, width_bytes)
    return Cat(*(ones[i].replicate(8) for i in range(width_bytes)))


def kept_bytes(data: Value, keep: Value) -> Value:
    """The bytes of ``data`` whose ``keep`` bit is set; the others zero."""
    return Cat(*(Mux(keep[i], data[8 * i:8 * i + 8], 0) for i in range(len(keep))))


def one_of(value: Value, choices) -> Value:
    """Whether ``value`` equals one of the constants ``choices``."""
    return Cat(*(value == c for c in choices)).any()


def ring_next(index: Value, depth: int) -> Value:
    """The place after ``index`` in a ring of ``depth``."""
    return Mux(index == depth - 1, 0, index + 1)
