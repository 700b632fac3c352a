// The hxdp engine's Verilator model, driven for hxdp.gateware.verilator over
// a line protocol: one request a line on stdin, one reply a line on stdout
// (verilator.py describes it). Only this program steps the model's clock, so
// every request that waits on the engine carries the cycles it may wait.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "Vhxdp_engine.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

// Verilator spells the Verilog port "bundle__name" as "bundle___05Fname".
#define PORT(bundle, name) bundle##___05F##name

namespace {

// A stream payload as 32-bit words, least significant first.
class Bits {
  public:
    explicit Bits(size_t words) : words_(words, 0) {}

    std::vector<uint32_t>& words() { return words_; }
    const std::vector<uint32_t>& words() const { return words_; }

    bool bit(size_t index) const { return words_.at(index / 32) >> (index % 32) & 1; }

    void set_bit(size_t index, bool value) {
        uint32_t mask = uint32_t(1) << (index % 32);
        words_.at(index / 32) = value ? words_.at(index / 32) | mask : words_.at(index / 32) & ~mask;
    }

    // A field of at most 64 bits.
    uint64_t get(size_t offset, size_t width) const {
        uint64_t value = 0;
        for (size_t i = 0; i < width; ++i) value |= uint64_t(bit(offset + i)) << i;
        return value;
    }

    void put(size_t offset, size_t width, uint64_t value) {
        for (size_t i = 0; i < width; ++i) set_bit(offset + i, i < 64 && (value >> i & 1));
    }

  private:
    std::vector<uint32_t> words_;
};

// Ports up to 64 bits are integers, wider ones VlWide: the same operations on both.
template <typename T>
size_t port_words(const T&) {
    return (sizeof(T) + 3) / 4;
}
template <size_t N>
size_t port_words(const VlWide<N>&) {
    return N;
}

template <typename T>
void store(T& port, const Bits& bits) {
    uint64_t value = 0;
    for (size_t i = 0; i < bits.words().size() && i < 2; ++i) value |= uint64_t(bits.words()[i]) << (32 * i);
    port = static_cast<T>(value);
}
template <size_t N>
void store(VlWide<N>& port, const Bits& bits) {
    for (size_t i = 0; i < N; ++i) port.at(i) = bits.words().at(i);
}

template <typename T>
Bits load(const T& port) {
    Bits bits(port_words(port));
    uint64_t value = port;
    bits.words()[0] = static_cast<uint32_t>(value);
    if (bits.words().size() > 1) bits.words()[1] = static_cast<uint32_t>(value >> 32);
    return bits;
}
template <size_t N>
Bits load(const VlWide<N>& port) {
    Bits bits(N);
    for (size_t i = 0; i < N; ++i) bits.words()[i] = port.at(i);
    return bits;
}

uint64_t parse_hex(const std::string& text) {
    size_t used = 0;
    uint64_t value = 0;
    try {
        value = std::stoull(text, &used, 16);
    } catch (const std::exception&) {
        used = 0;
    }
    if (text.empty() || used != text.size()) throw std::runtime_error("'" + text + "' is not a hex number");
    return value;
}

std::string hex(uint64_t value) {
    std::ostringstream out;
    out << std::hex << value;
    return out.str();
}

std::string next_word(std::istringstream& args, const char* what) {
    std::string word;
    if (!(args >> word)) throw std::runtime_error(std::string("missing ") + what);
    return word;
}

struct Field {
    size_t offset;
    size_t width;
};

// A packet to send: the cycle it is whole in the ingress FIFO, its ingress
// port and queue, its bytes.
struct Packet {
    uint64_t arrival = 0;
    uint32_t port = 0, queue = 0;
    std::vector<uint8_t> bytes;
};

// What became of a packet; the cycles count from the start of the stream.
struct Result {
    enum Kind : uint8_t { LOST = 0, DROPPED = 1, DONE = 2 };
    Kind kind = LOST;
    uint64_t start = 0, verdict = 0, done = 0, action = 0;  // first beat in, verdict, last beat out
    uint32_t cycles = 0, fault = 0, egress = 0, cpu = 0;                 // cpu: the core that ran it
    uint64_t tag = 0;                                        // the engine's number for it
    bool sends = false;
    std::vector<uint8_t> bytes;
};

// A counter-based generator: the same draw for the same seed and cycle,
// which hxdp.sim.timeline repeats to predict the engine's timing.
uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Waves of the model to a VCD file, when the model was built with tracing.
class Tracer {
  public:
    Tracer(Vhxdp_engine& top, const std::string& path, uint64_t half_period) : half_period_(half_period) {
        if (path == "-") return;
#if VM_TRACE
        top.contextp()->traceEverOn(true);
        file_ = std::make_unique<VerilatedVcdC>();
        top.trace(file_.get(), 99);
        file_->open(path.c_str());
        if (!file_->isOpen()) throw std::runtime_error("cannot write " + path);
#else
        (void)top;
        throw std::runtime_error("this model was built without tracing");
#endif
    }
    ~Tracer() {
#if VM_TRACE
        if (file_) file_->close();
#endif
    }

    bool active() const {
#if VM_TRACE
        return bool(file_);
#else
        return false;
#endif
    }

    void dump(uint64_t edge) {
#if VM_TRACE
        file_->dump(edge * half_period_);
#else
        (void)edge;
#endif
    }

  private:
    uint64_t half_period_;
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> file_;
#endif
};

class Driver {
  public:
    Driver() : top_(&context_) { reset(); }
    ~Driver() { top_.final(); }

    std::string handle(const std::string& line) {
        std::istringstream args(line);
        std::string request;
        args >> request;
        try {
            if (request == "field") return declare(args);
            if (request == "write") return write(args);
            if (request == "read") return read(args);
            if (request == "stream") return stream(args);
            throw std::runtime_error("unknown request '" + request + "'");
        } catch (const std::exception& error) {
            settle();             // a stream may stop with the clock high
            return std::string("error ") + error.what();
        }
    }

  private:
    VerilatedContext context_;
    Vhxdp_engine top_;
    std::map<std::string, Field> fields_;  // "rx.data": where the field sits in its stream's payload
    Bits beat_{0};                         // the rx beat last built, and what it is
    const Packet* beat_packet_ = nullptr;
    size_t beat_index_ = 0;
    uint64_t entered_ = 0;          // packets the engine has taken in since reset: the next one's tag

    void tick() {
        top_.clk = 1;
        top_.eval();
        top_.clk = 0;
        top_.eval();
    }

    void reset() {
        idle();
        top_.rst = 1;
        tick();
        tick();
        top_.rst = 0;
        top_.eval();
    }

    // Nothing offered, nothing taken, no bus access.
    void idle() {
        top_.PORT(rx, valid) = 0;
        top_.PORT(verdict, ready) = 0;
        top_.PORT(tx, ready) = 0;
        top_.PORT(bus, w_en) = 0;
        top_.PORT(bus, r_en) = 0;
        top_.eval();
    }

    Field field(const std::string& name) const {
        auto found = fields_.find(name);
        if (found == fields_.end()) throw std::runtime_error("field " + name + " was not declared");
        return found->second;
    }

    // field STREAM NAME OFFSET WIDTH
    std::string declare(std::istringstream& args) {
        std::string stream = next_word(args, "stream");
        std::string name = next_word(args, "field name");
        Field f{parse_hex(next_word(args, "offset")), parse_hex(next_word(args, "width"))};
        size_t bits = 0;
        if (stream == "rx") bits = 32 * port_words(top_.PORT(rx, payload));
        else if (stream == "tx") bits = 32 * port_words(top_.PORT(tx, payload));
        else if (stream == "verdict") bits = 32 * port_words(top_.PORT(verdict, payload));
        else throw std::runtime_error("no stream '" + stream + "'");
        if (f.offset + f.width > bits) throw std::runtime_error(stream + "." + name + " lies outside the payload");
        fields_[stream + "." + name] = f;
        return "ok";
    }

    // write ADDR VALUE
    std::string write(std::istringstream& args) {
        top_.PORT(bus, addr) = parse_hex(next_word(args, "address"));
        top_.PORT(bus, w_data) = parse_hex(next_word(args, "value"));
        top_.PORT(bus, w_en) = 1;
        tick();
        idle();
        return "ok";
    }

    // read ADDR: the data comes in the cycle after the request.
    std::string read(std::istringstream& args) {
        top_.PORT(bus, addr) = parse_hex(next_word(args, "address"));
        top_.PORT(bus, r_en) = 1;
        tick();
        idle();
        return hex(top_.PORT(bus, r_data));
    }

    // Beat ``index`` of ``packet``, built once a beat (the payload stays on rx until taken).
    const Bits& rx_beat(const Packet& packet, size_t index) {
        if (&packet == beat_packet_ && index == beat_index_) return beat_;
        Field data = field("rx.data"), keep = field("rx.keep");
        size_t frame = frame_bytes(), at = index * frame;
        size_t count = std::min(frame, packet.bytes.size() - std::min(at, packet.bytes.size()));
        beat_ = Bits(port_words(top_.PORT(rx, payload)));
        for (size_t i = 0; i < count; ++i) {
            beat_.put(data.offset + 8 * i, 8, packet.bytes[at + i]);
            beat_.set_bit(keep.offset + i, true);
        }
        beat_.put(field("rx.last").offset, 1, index + 1 == beats_of(packet));
        Field port_field = field("rx.port"), queue_field = field("rx.queue");
        beat_.put(port_field.offset, port_field.width, packet.port);
        beat_.put(queue_field.offset, queue_field.width, packet.queue);
        beat_packet_ = &packet;
        beat_index_ = index;
        return beat_;
    }

    // The bytes of a beat.
    size_t frame_bytes() const { return field("rx.data").width / 8; }

    size_t beats_of(const Packet& packet) const {
        size_t frame = frame_bytes();
        return std::max<size_t>(1, (packet.bytes.size() + frame - 1) / frame);
    }

    // stream IN OUT STALL TX_READY SEED FIFO VCD FIRST LAST HALF_PERIOD:
    // the packets of file IN enter an ingress FIFO of FIFO bytes (0: no
    // limit) each at its cycle, whole (store and forward), and leave it on
    // rx a beat a cycle; a packet that finds the FIFO too full is dropped.
    // tx is ready in a cycle with chance TX_READY/65536 (drawn from SEED and
    // the cycle). What became of every packet goes to file OUT. With VCD
    // not "-", the waves from packet FIRST's first beat to packet LAST's end
    // go there (HALF_PERIOD picoseconds a clock edge). Replies "progress
    // DONE CYCLE" lines while it runs, then "done CYCLES TICKS MICROSECONDS"
    // (TICKS: the cycles evaluated, without those skipped while the engine
    // was idle and no packet came), or
    // "stalled CYCLE PACKET" when nothing moved for STALL cycles.
    std::string stream(std::istringstream& args) {
        std::string in_path = next_word(args, "input file"), out_path = next_word(args, "output file");
        uint64_t stall = parse_hex(next_word(args, "stall limit"));
        uint64_t tx_ready = parse_hex(next_word(args, "tx readiness"));
        uint64_t seed = parse_hex(next_word(args, "seed"));
        uint64_t fifo_limit = parse_hex(next_word(args, "FIFO bytes"));
        std::string vcd_path = next_word(args, "VCD file");
        uint64_t vcd_first = parse_hex(next_word(args, "first traced packet"));
        uint64_t vcd_last = parse_hex(next_word(args, "last traced packet"));
        uint64_t half_period = parse_hex(next_word(args, "half period"));
        std::vector<Packet> packets = read_packets(in_path);
        beat_packet_ = nullptr;
        std::vector<Result> results(packets.size());

        Tracer tracer(top_, vcd_path, half_period);
        Field action = field("verdict.action"), cycles = field("verdict.cycles");
        Field fault = field("verdict.fault"), sends = field("verdict.sends"), egress = field("verdict.egress");
        Field tag = field("verdict.tag"), cpu = field("verdict.cpu");
        Field tx_data = field("tx.data"), tx_keep = field("tx.keep"), tx_last = field("tx.last");
        std::deque<size_t> fifo, awaiting_verdict, awaiting_tx;
        uint64_t fifo_bytes = 0, now = 0, moved = 0, resolved = 0, ticks = 0;
        size_t next_arrival = 0, beat = 0;
        bool tracing = false;
        auto started = std::chrono::steady_clock::now(), reported = started;
        while (resolved < packets.size()) {
            for (; next_arrival < packets.size() && packets[next_arrival].arrival <= now; ++next_arrival) {
                Packet& p = packets[next_arrival];
                if (fifo_limit && fifo_bytes + p.bytes.size() > fifo_limit) {
                    results[next_arrival].kind = Result::DROPPED;
                    ++resolved;
                } else {
                    fifo.push_back(next_arrival);
                    fifo_bytes += p.bytes.size();
                }
            }
            bool idle = fifo.empty() && awaiting_verdict.empty() && awaiting_tx.empty();
            if (idle && now > moved + 1 && next_arrival < packets.size()) {
                now = packets[next_arrival].arrival;        // nothing happens until it comes
                continue;
            }
            if (!fifo.empty() && beat == 0 && fifo.front() == vcd_first) tracing = tracer.active();
            bool offer = !fifo.empty();
            top_.clk = 0;
            top_.PORT(rx, valid) = offer;
            if (offer) store(top_.PORT(rx, payload), rx_beat(packets[fifo.front()], beat));
            top_.PORT(verdict, ready) = 1;
            top_.PORT(tx, ready) = (splitmix64(seed + now * 0x9E3779B97F4A7C15ull) >> 48) < tx_ready;
            top_.eval();
            if (tracing) tracer.dump(2 * now);
            bool accepted = offer && top_.PORT(rx, ready);
            bool verdict_taken = top_.PORT(verdict, valid);
            bool tx_taken = top_.PORT(tx, valid) && top_.PORT(tx, ready);
            // A verdict names its packet by its tag, its number in arrival order.
            size_t judged = 0;
            if (verdict_taken) {
                Bits v = load(top_.PORT(verdict, payload));
                uint64_t mask = (uint64_t(1) << tag.width) - 1, number = v.get(tag.offset, tag.width);
                auto it = std::find_if(awaiting_verdict.begin(), awaiting_verdict.end(),
                                       [&](size_t i) { return (results[i].tag & mask) == number; });
                if (it == awaiting_verdict.end()) throw std::runtime_error("a verdict came for no packet");
                judged = *it;
                Result& r = results[judged];
                r.verdict = now;
                r.action = v.get(action.offset, action.width);
                r.cycles = v.get(cycles.offset, cycles.width);
                r.fault = v.get(fault.offset, fault.width);
                r.egress = v.get(egress.offset, egress.width);
                r.cpu = v.get(cpu.offset, cpu.width);
                r.sends = v.get(sends.offset, 1);
            }
            if (tx_taken) {
                if (awaiting_tx.empty() && !(verdict_taken && results[judged].sends))
                    throw std::runtime_error("tx sent bytes of no packet");
            }
            Bits tx_beat = tx_taken ? load(top_.PORT(tx, payload)) : Bits(0);
            top_.clk = 1;
            top_.eval();
            ++ticks;
            if (tracing) tracer.dump(2 * now + 1);

            if (accepted) {
                Packet& p = packets[fifo.front()];
                if (beat == 0) {
                    results[fifo.front()].start = now;
                    results[fifo.front()].tag = entered_++;
                    awaiting_verdict.push_back(fifo.front());
                }
                size_t frame = frame_bytes();
                fifo_bytes -= std::min(frame, p.bytes.size() - std::min(beat * frame, p.bytes.size()));
                if (++beat == beats_of(p)) {
                    fifo.pop_front();
                    beat = 0;
                }
            }
            if (verdict_taken) {
                size_t index = judged;
                awaiting_verdict.erase(std::find(awaiting_verdict.begin(), awaiting_verdict.end(), index));
                if (results[index].sends) {
                    awaiting_tx.push_back(index);
                } else {
                    finish(results[index], now, resolved, tracing, index, vcd_last);
                }
            }
            if (tx_taken) {
                size_t index = awaiting_tx.front();
                Result& r = results[index];
                for (size_t i = 0; i < tx_data.width / 8; ++i)
                    if (tx_beat.bit(tx_keep.offset + i)) r.bytes.push_back(uint8_t(tx_beat.get(tx_data.offset + 8 * i, 8)));
                if (tx_beat.get(tx_last.offset, 1)) {
                    awaiting_tx.pop_front();
                    finish(r, now, resolved, tracing, index, vcd_last);
                }
            }
            if (accepted || verdict_taken || tx_taken) moved = now;
            ++now;
            if (!idle && now - moved > stall) {
                size_t stuck = !awaiting_verdict.empty() ? awaiting_verdict.front()
                             : !awaiting_tx.empty()      ? awaiting_tx.front()
                                                         : fifo.front();
                settle();
                return "stalled " + hex(now) + " " + hex(stuck);
            }
            if ((now & 0xFFF) == 0) {
                auto clock = std::chrono::steady_clock::now();
                if (clock - reported > std::chrono::milliseconds(250)) {
                    std::cout << "progress " << hex(resolved) << " " << hex(now) << std::endl;
                    reported = clock;
                }
            }
        }
        auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
        settle();
        write_results(out_path, results);
        return "done " + hex(now) + " " + hex(ticks) + " " + hex(took.count());
    }

    // The clock low and nothing offered, as a bus request expects it.
    void settle() {
        top_.clk = 0;
        idle();
    }

    static void finish(Result& r, uint64_t now, uint64_t& resolved, bool& tracing, size_t index, uint64_t last) {
        r.kind = Result::DONE;
        r.done = now;
        ++resolved;
        if (index == last) tracing = false;
    }

    static std::vector<Packet> read_packets(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("cannot read " + path);
        std::vector<Packet> packets;
        for (;;) {
            Packet p;
            uint32_t length = 0;
            if (!in.read(reinterpret_cast<char*>(&p.arrival), 8)) break;
            in.read(reinterpret_cast<char*>(&p.port), 4);
            in.read(reinterpret_cast<char*>(&p.queue), 4);
            in.read(reinterpret_cast<char*>(&length), 4);
            p.bytes.resize(length);
            if (!in.read(reinterpret_cast<char*>(p.bytes.data()), length))
                throw std::runtime_error(path + " ends inside packet " + std::to_string(packets.size()));
            if (!packets.empty() && p.arrival < packets.back().arrival)
                throw std::runtime_error("packet " + std::to_string(packets.size()) + " arrives before the one before it");
            packets.push_back(std::move(p));
        }
        return packets;
    }

    static void write_results(const std::string& path, const std::vector<Result>& results) {
        std::ofstream out(path, std::ios::binary);
        for (const Result& r : results) {
            uint32_t length = r.bytes.size();
            out.write(reinterpret_cast<const char*>(&r.kind), 1);
            for (uint64_t word : {r.start, r.verdict, r.done, r.action}) out.write(reinterpret_cast<const char*>(&word), 8);
            for (uint32_t word : {r.cycles, r.fault, r.egress, r.cpu, uint32_t(r.sends), length})
                out.write(reinterpret_cast<const char*>(&word), 4);
            out.write(reinterpret_cast<const char*>(r.bytes.data()), length);
        }
        if (!out) throw std::runtime_error("cannot write " + path);
    }
};

}  // namespace

int main() {
    std::ios::sync_with_stdio(false);
    Driver driver;
    for (std::string line; std::getline(std::cin, line);) {
        if (line == "quit") break;
        std::cout << driver.handle(line) << std::endl;  // flushed: the host waits for each reply
    }
    return 0;
}
