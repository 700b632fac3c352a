"""A core's packet buffers: one byte memory a buffer, behind the ports of
one memory whose address's high bits pick the buffer. So the receive side
writes a packet's frames into one buffer, the core loads and stores in
another and the transmit side reads a third, all in the same cycle, each
with the ports of its own buffer (`ByteMemory` has one write port, which
its frame port shares, and reads frames through load port 0's copy).
"""

from amaranth.hdl import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..ebpf.runtime import FRAME_SIZE
from .bytemem import ByteMemory, read_port_signature, write_port_signature

__all__ = ["PacketBuffers"]


class PacketBuffers(wiring.Component):
    """``buffers`` frames of `FRAME_SIZE` bytes, with the ports of a
    `ByteMemory` of them all. Two accesses meet only in the same buffer."""

    def __init__(self, buffers: int, read_ports: int, frame_bytes: int):
        self.buffers = buffers
        self.frame_bytes = frame_bytes
        self.addr_bits = (buffers * FRAME_SIZE - 1).bit_length()
        frames = buffers * FRAME_SIZE // frame_bytes
        super().__init__({
            "read": In(read_port_signature(self.addr_bits)).array(read_ports),
            "write": In(write_port_signature(self.addr_bits)),
            "frame_en": In(1),
            "frame_index": In(range(frames)),
            "frame_data": In(8 * frame_bytes),
            "frame_read_en": In(1),
            "frame_read_index": In(range(frames)),
            "frame_read_data": Out(8 * frame_bytes),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        low = (FRAME_SIZE - 1).bit_length()
        frame_low = (FRAME_SIZE // self.frame_bytes - 1).bit_length()
        mems = [ByteMemory(FRAME_SIZE, len(self.read), self.frame_bytes) for _ in range(self.buffers)]
        for b, mem in enumerate(mems):
            m.submodules[f"buffer{b}"] = mem

        def picks(addr, width: int, b: int):
            """Whether ``addr`` (``width`` bits in a buffer) falls in buffer ``b``."""
            return addr[width:] == b if self.buffers > 1 else 1

        # Each read port's data comes from the buffer it addressed, a cycle later.
        for p, rp in enumerate(self.read):
            held = Signal(range(self.buffers), name=f"read{p}_buffer")
            with m.If(rp.en):
                m.d.sync += held.eq(rp.addr[low:])
            for b, mem in enumerate(mems):
                m.d.comb += [mem.read[p].addr.eq(rp.addr[:low]), mem.read[p].en.eq(rp.en & picks(rp.addr, low, b))]
            m.d.comb += rp.data.eq(Array(mem.read[p].data for mem in mems)[held])
        held = Signal(range(self.buffers), name="frame_read_buffer")
        with m.If(self.frame_read_en):
            m.d.sync += held.eq(self.frame_read_index[frame_low:])
        for b, mem in enumerate(mems):
            m.d.comb += [
                mem.write.addr.eq(self.write.addr[:low]), mem.write.data.eq(self.write.data),
                mem.write.mask.eq(self.write.mask), mem.write.en.eq(self.write.en & picks(self.write.addr, low, b)),
                mem.frame_index.eq(self.frame_index[:frame_low]), mem.frame_data.eq(self.frame_data),
                mem.frame_en.eq(self.frame_en & picks(self.frame_index, frame_low, b)),
                mem.frame_read_index.eq(self.frame_read_index[:frame_low]),
                mem.frame_read_en.eq(self.frame_read_en & picks(self.frame_read_index, frame_low, b)),
            ]
        m.d.comb += self.frame_read_data.eq(Array(mem.frame_read_data for mem in mems)[held])
        return m
