// The hxdp engine's Verilator model, driven for hxdp.gateware.verilator over
// a line protocol: one request a line on stdin, one reply a line on stdout
// (verilator.py describes it). Only this program steps the model's clock, so
// every request that waits on the engine carries the cycles it may wait.

#include <cstdint>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "Vhxdp_engine.h"
#include "verilated.h"

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

// Bytes written as hex digits, "-" for none.
std::vector<uint8_t> parse_bytes(const std::string& text) {
    std::vector<uint8_t> bytes;
    if (text == "-") return bytes;
    if (text.size() % 2) throw std::runtime_error("'" + text + "' is not hex bytes");
    for (size_t i = 0; i < text.size(); i += 2) bytes.push_back(static_cast<uint8_t>(parse_hex(text.substr(i, 2))));
    return bytes;
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
            if (request == "packet") return packet(args);
            throw std::runtime_error("unknown request '" + request + "'");
        } catch (const std::exception& error) {
            idle();
            return std::string("error ") + error.what();
        }
    }

  private:
    VerilatedContext context_;
    Vhxdp_engine top_;
    std::map<std::string, Field> fields_;  // "rx.data": where the field sits in its stream's payload

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

    Bits rx_beat(const std::vector<uint8_t>& bytes, bool last, uint64_t port, uint64_t queue) const {
        Field data = field("rx.data"), keep = field("rx.keep");
        if (bytes.size() > data.width / 8) throw std::runtime_error("a beat holds more bytes than a frame");
        Bits beat(port_words(top_.PORT(rx, payload)));
        for (size_t i = 0; i < bytes.size(); ++i) {
            beat.put(data.offset + 8 * i, 8, bytes[i]);
            beat.set_bit(keep.offset + i, true);
        }
        beat.put(field("rx.last").offset, 1, last);
        Field port_field = field("rx.port"), queue_field = field("rx.queue");
        beat.put(port_field.offset, port_field.width, port);
        beat.put(queue_field.offset, queue_field.width, queue);
        return beat;
    }

    // packet PORT QUEUE LIMIT BEAT...: send the beats on rx while taking the
    // verdict and the bytes on tx; give up after LIMIT cycles.
    std::string packet(std::istringstream& args) {
        uint64_t port = parse_hex(next_word(args, "port"));
        uint64_t queue = parse_hex(next_word(args, "queue"));
        uint64_t limit = parse_hex(next_word(args, "cycle limit"));
        std::vector<std::string> words;
        for (std::string word; args >> word;) words.push_back(word);
        if (words.empty()) throw std::runtime_error("a packet needs at least one beat");
        std::vector<Bits> beats;
        for (size_t i = 0; i < words.size(); ++i)
            beats.push_back(rx_beat(parse_bytes(words[i]), i + 1 == words.size(), port, queue));

        Field action = field("verdict.action"), cycles = field("verdict.cycles");
        Field fault = field("verdict.fault"), sends = field("verdict.sends"), egress = field("verdict.egress");
        Field tx_data = field("tx.data"), tx_keep = field("tx.keep"), tx_last = field("tx.last");
        size_t sent = 0;
        bool have_verdict = false, forwards = false, done_sending = false;
        std::string verdict, bytes;
        for (uint64_t cycle = 0; cycle < limit; ++cycle) {
            bool offer = sent < beats.size();
            top_.PORT(rx, valid) = offer;
            if (offer) store(top_.PORT(rx, payload), beats[sent]);
            top_.PORT(verdict, ready) = !have_verdict;
            top_.PORT(tx, ready) = 1;
            top_.eval();
            if (offer && top_.PORT(rx, ready)) ++sent;
            if (!have_verdict && top_.PORT(verdict, valid)) {
                Bits v = load(top_.PORT(verdict, payload));
                verdict = hex(v.get(action.offset, action.width)) + " " + hex(v.get(cycles.offset, cycles.width)) +
                          " " + hex(v.get(fault.offset, fault.width)) + " " + hex(v.get(egress.offset, egress.width));
                forwards = v.get(sends.offset, 1);
                have_verdict = true;
            }
            if (top_.PORT(tx, valid)) {
                Bits beat = load(top_.PORT(tx, payload));
                for (size_t i = 0; i < tx_data.width / 8; ++i) {
                    if (beat.bit(tx_keep.offset + i)) {
                        static const char digits[] = "0123456789abcdef";
                        uint64_t byte = beat.get(tx_data.offset + 8 * i, 8);
                        bytes += digits[byte >> 4];
                        bytes += digits[byte & 15];
                    }
                }
                done_sending = beat.get(tx_last.offset, 1);
            }
            tick();
            if (have_verdict && (!forwards || done_sending)) {
                idle();
                return "verdict " + verdict + " " + (forwards ? bytes : "-");
            }
        }
        idle();
        return "timeout " + hex(limit);
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
