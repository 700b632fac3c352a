"""Byte-addressed memory for the stack and the packet buffer.

Loads and stores of 1 to 8 bytes may start at any byte, so the memory is
split into banks of 64-bit words, consecutive words in consecutive banks:
an access touches at most two words, which sit in two different banks and
are read or written in the same cycle. Each load port reads its own copy of
the banks (block RAM with one write and one read port).

With ``zeroed``, a valid bit per word (kept by its bank) makes the memory
read as zero after ``clear`` without spending cycles on zeroing it (the
stack is zero for every packet): the first write to a word writes all its
bytes, the ones not stored to as zero. The packet buffer does without: a
program reaches only the bytes between its packet's start and end, which
the frame port has written (the last frame padded with zeros).

Writes become visible to reads in the same cycle (the read ports are
transparent), which is what lets the core delay every store by a cycle.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..errors import HxdpError
from .bits import kept_bytes

__all__ = ["ByteMemory", "read_port_signature", "write_port_signature"]

WORD_BYTES = 8
# Every bank goes to block RAM, the stack's small ones too: in LUT RAM, a
# 512-byte stack with its read copies took about 1,100 LUTs on the ECP5.
BLOCK_RAM = {"ram_style": "block"}


def read_port_signature(addr_bits: int) -> wiring.Signature:
    """From the reader's side: ``data`` holds the 8 bytes at ``addr`` the cycle
    after ``en`` (and keeps them while ``en`` is low)."""
    return wiring.Signature({"addr": Out(addr_bits), "en": Out(1), "data": In(64)})


def write_port_signature(addr_bits: int) -> wiring.Signature:
    """From the writer's side: the bytes of ``data`` selected by ``mask``
    (bit i: byte i) go to ``addr`` + i."""
    return wiring.Signature({"addr": Out(addr_bits), "data": Out(64), "mask": Out(8), "en": Out(1)})


class ByteMemory(wiring.Component):
    """``size`` bytes, ``read_ports`` load ports, one store port, and a frame
    port writing ``frame_bytes`` aligned bytes a cycle."""

    def __init__(self, size: int, read_ports: int, frame_bytes: int = WORD_BYTES, *, zeroed: bool = False,
                 init: bytes = b"", regions: int = 1):
        """``init``: the first bytes' contents from reset (the rest zero).
        ``regions``: the memory in that many equal parts (by its address's
        high bits), each in block RAMs of its own, so that the store port,
        the frame port and frame reads meet only in the same part (a core's
        packet buffers: one receiving, one running, one sending)."""
        if size % frame_bytes or frame_bytes % WORD_BYTES or size & (size - 1):
            raise HxdpError(f"byte memory: size {size} must be a power of two and a multiple "
                            f"of the frame ({frame_bytes} bytes, a multiple of {WORD_BYTES})")
        if len(init) > size:
            raise HxdpError(f"byte memory: {len(init)} bytes of contents for {size}")
        if regions & (regions - 1) or size // regions < 2 * frame_bytes or zeroed and regions > 1:
            raise HxdpError(f"byte memory: {regions} regions of {size} bytes (a power of two, each two "
                            "frames or more, and one if zeroed)")
        self.regions = regions
        self.size = size
        self.zeroed = zeroed
        self.init = bytes(init) + bytes(-len(init) % WORD_BYTES)
        self.frame_bytes = frame_bytes
        self.banks = max(2, frame_bytes // WORD_BYTES)
        self.addr_bits = (size - 1).bit_length()
        super().__init__({
            "read": In(read_port_signature(self.addr_bits)).array(read_ports),
            "write": In(write_port_signature(self.addr_bits)),
            "frame_en": In(1),
            "frame_index": In(range(size // frame_bytes)),
            "frame_data": In(8 * frame_bytes),
            # With ``zeroed``: every word reads as zero, in this cycle's reads
            # and after, whatever this cycle writes.
            "clear": In(1),
            # A whole aligned frame, through load port 0's copy, a cycle later.
            "frame_read_en": In(1),
            "frame_read_index": In(range(size // frame_bytes)),
            "frame_read_data": Out(8 * frame_bytes),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        banks, words, regions = self.banks, self.size // WORD_BYTES, self.regions
        bank_bits = (banks - 1).bit_length()
        depth = words // banks // regions                   # rows of a bank in a region
        row_bits = (depth - 1).bit_length()
        frame_words = self.frame_bytes // WORD_BYTES
        words_init = [int.from_bytes(self.init[i:i + WORD_BYTES], "little")
                      for i in range(0, len(self.init), WORD_BYTES)]
        # A block RAM memory for each bank of each region.
        mems = []
        for r in range(regions):
            for k in range(banks):
                mem = memory.Memory(shape=64, depth=depth, init=words_init[k::banks][r * depth:(r + 1) * depth],
                                    attrs=BLOCK_RAM)
                m.submodules[f"bank{k}" if regions == 1 else f"region{r}_bank{k}"] = mem
                mems.append(mem)
        writes = [mem.write_port(granularity=8) for mem in mems]
        reads = [[mem.read_port(transparent_for=(wp,)) for mem, wp in zip(mems, writes)]
                 for _ in self.read]

        def bank_of(word):
            return word[:bank_bits]

        def row_of(word):
            return word[bank_bits:bank_bits + row_bits]

        def region_of(word):
            return word[bank_bits + row_bits:]

        def place(n: int) -> tuple[int, int]:
            """The region and bank of memory ``n``."""
            return divmod(n, banks)

        def frame_word(index, i):
            """Word ``i`` of frame ``index``: its bank is constant when a frame spans the banks."""
            return Cat(Const(i, (frame_words - 1).bit_length()), index) if frame_words > 1 else index

        # Valid bits (``zeroed`` only), one a row in each bank: a word not
        # written since ``clear`` reads as zero. A bank's bits are looked up
        # with the row its ports address, as its words are.
        valid = [Signal(depth, name=f"valid{k}") for k in range(banks)]
        written = [Signal(depth, name=f"written{k}") for k in range(banks)]

        def holds_data(k: int, row: Value) -> Value:
            """Whether a read of ``row`` in bank ``k`` in this cycle gets data."""
            if not self.zeroed:
                return Const(1)
            return ~self.clear & (valid[k].bit_select(row, 1) | written[k].bit_select(row, 1))

        # Store port: the bytes split over word w and w + 1, which sit in two banks.
        wr = self.write
        w0 = Signal(self.addr_bits - 3)
        w1 = Signal(self.addr_bits - 3)
        m.d.comb += [w0.eq(wr.addr[3:]), w1.eq(w0 + 1)]
        shift = wr.addr[:3]
        masked = kept_bytes(wr.data, wr.mask)
        data2 = Signal(128)
        mask2 = Signal(16)
        m.d.comb += [data2.eq(masked << (shift * 8)), mask2.eq(wr.mask << shift)]
        halves = [(w0, data2[:64], mask2[:8]), (w1, data2[64:], mask2[8:])]

        for n, port in enumerate(writes):
            r, k = place(n)
            mask = Signal(8, name=f"write_mask{n}")
            for word, data, half_mask in halves:
                with m.If(wr.en & (bank_of(word) == k) & (region_of(word) == r)):
                    m.d.comb += [port.addr.eq(row_of(word)), port.data.eq(data), mask.eq(half_mask)]
            for i in range(frame_words):
                word = frame_word(self.frame_index, i)
                with m.If(self.frame_en & (bank_of(word) == k) & (region_of(word) == r)):
                    m.d.comb += [port.addr.eq(row_of(word)), port.data.eq(self.frame_data[64 * i:64 * i + 64]),
                                 mask.eq(0xFF)]
            if not self.zeroed:
                m.d.comb += port.en.eq(mask)
                continue
            # The first write to a word since ``clear`` writes all its bytes,
            # the ones not stored to as zero; a clear wins over a write in its cycle.
            m.d.comb += [port.en.eq(Mux(valid[k].bit_select(port.addr, 1), mask, Mux(mask != 0, 0xFF, 0))),
                         written[k].bit_select(port.addr, 1).eq(mask != 0)]
            m.d.sync += valid[k].eq(Mux(self.clear, 0, valid[k] | written[k]))

        # Each memory's read ports: with ``zeroed``, whether the row read
        # holds data, from the cycle after, beside the data.
        holds = []
        for p, mem_reads in enumerate(reads):
            if not self.zeroed:
                holds.append([port.data for port in mem_reads])
                continue
            flags = [Signal(name=f"holds{p}_{k}") for k in range(banks)]
            for k, (port, flag) in enumerate(zip(mem_reads, flags)):
                with m.If(port.en):
                    m.d.sync += flag.eq(holds_data(k, port.addr))
            holds.append([Mux(flag, port.data, 0) for flag, port in zip(flags, mem_reads)])

        def bank_data(datas: list, k: int, region: Value) -> Value:
            """Bank ``k``'s word as read, from the region its row was in."""
            return Array(datas[r * banks + k] for r in range(regions))[region]

        # Load ports: ask both banks, pick and shift the bytes a cycle later.
        for p, (rp, mem_reads, datas) in enumerate(zip(self.read, reads, holds)):
            r0 = Signal(self.addr_bits - 3)
            r1 = Signal(self.addr_bits - 3)
            m.d.comb += [r0.eq(rp.addr[3:]), r1.eq(r0 + 1)]
            shift_r = Signal(3)
            bank_r = Signal(bank_bits)
            words_read = []
            for k in range(banks):
                word = Mux(bank_of(r0) == k, r0, r1)
                for r in range(regions):        # another region's word stays on its port (a frame read's)
                    m.d.comb += [mem_reads[r * banks + k].en.eq(rp.en & (region_of(word) == r)),
                                 mem_reads[r * banks + k].addr.eq(row_of(word))]
                region_r = Signal(range(regions), name=f"read{p}_region{k}")
                with m.If(rp.en):
                    m.d.sync += region_r.eq(region_of(word))
                words_read.append(bank_data(datas, k, region_r))
            with m.If(rp.en):
                m.d.sync += [shift_r.eq(rp.addr[:3]), bank_r.eq(bank_of(r0))]
            words_read = Array(words_read)
            lo = words_read[bank_r]
            hi = words_read[(bank_r + 1)[:bank_bits]]
            m.d.comb += rp.data.eq((Cat(lo, hi) >> (shift_r * 8))[:64])

        # Frame reads (the output stream), through load port 0's copy of
        # their region, while no load runs there.
        out_words = []
        for i in range(frame_words):
            word = frame_word(self.frame_read_index, i)
            for n, port in enumerate(reads[0]):
                r, k = place(n)
                with m.If(self.frame_read_en & (bank_of(word) == k) & (region_of(word) == r)):
                    m.d.comb += [port.addr.eq(row_of(word)), port.en.eq(1)]
            bank_r = Signal(bank_bits, name=f"out_bank{i}")
            region_r = Signal(range(regions), name=f"out_region{i}")
            with m.If(self.frame_read_en):
                m.d.sync += [bank_r.eq(bank_of(word)), region_r.eq(region_of(word))]
            out_words.append(Array(bank_data(holds[0], k, region_r) for k in range(banks))[bank_r])
        m.d.comb += self.frame_read_data.eq(Cat(*out_words))
        return m
