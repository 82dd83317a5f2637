// Distance codes 30 and 31 are not DEFLATE (RFC 1951 §3.2.5 defines 0-29, the furthest reaching
// 32768 bytes back), and a dynamic header may announce at most 30 distance codes (HDIST ≤ 29).
// zlib refuses both ("invalid distance code", "too many length or distance symbols"); libdeflate
// reads codes 30 and 31 as offsets 32769 and 49153 (plus 14 extra bits) wherever its output
// reaches that far. The streams here are written bit by bit: a message whose only defect is such
// a code, after a window of 32 KiB (or a little less, so that the message's own literals make up
// the distance). Every path must call it corrupt (1002 on a connection): whole (libdeflate where
// built in), whole with zlib, and fragmented. The same streams with a valid code 29 reaching
// 32768 back read correctly, which shows the bits are written right.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "deflate_samples.hpp"
#include "wsx/proto/deflate.hpp"

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

// DEFLATE's bit order: values least significant bit first, Huffman codes most significant first.
class BitWriter {
 public:
  void value(std::uint32_t bits, int count) {
    for (int i = 0; i < count; ++i) bit((bits >> i) & 1u);
  }
  void code(std::uint32_t bits, int length) {
    for (int i = length - 1; i >= 0; --i) bit((bits >> i) & 1u);
  }
  Bytes finish() {
    if (used_ != 0) bytes_.push_back(pending_);
    return bytes_;
  }

 private:
  void bit(std::uint32_t b) {
    pending_ = static_cast<std::uint8_t>(pending_ | (b << used_));
    if (++used_ == 8) {
      bytes_.push_back(pending_);
      pending_ = 0;
      used_ = 0;
    }
  }
  Bytes bytes_;
  std::uint8_t pending_ = 0;
  int used_ = 0;
};

enum class Block { fixed, dynamic };

constexpr std::uint8_t literal = 'A';

// The distance code's extra bits: 13 for code 29 (RFC 1951), 14 for 30 and 31 (libdeflate).
int extra_bits(int distance_code) {
  return distance_code == 29 ? 13 : 14;
}

// A non-final block of `literals` times 'A', then a match of length 3 at `distance_code` with
// extra bits `extra`, then the end of the block and the empty stored block's header whose
// 00 00 ff ff the sender removes (RFC 7692 §7.2.1).
Bytes message(Block block, std::size_t literals, int distance_code, std::uint32_t extra) {
  BitWriter w;
  w.value(0, 1);  // BFINAL
  if (block == Block::fixed) {
    w.value(1, 2);
    for (std::size_t i = 0; i < literals; ++i) w.code(0x30 + literal, 8);
    w.code(1, 7);              // length symbol 257: 3
    w.code(distance_code, 5);  // fixed distance codes are the 5-bit code number
    w.value(extra, extra_bits(distance_code));
    w.code(0, 7);  // end of block (256)
  } else {
    // Literal/length code: 'A' 0, 256 10, 257 11 (lengths 1, 2, 2: complete). Distance code:
    // symbols 0 and `distance_code`, length 1 each (complete). HDIST counts up to the latter.
    const int distances = distance_code + 1;
    w.value(2, 2);
    w.value(258 - 257, 5);      // HLIT: symbols 0-257
    w.value(distances - 1, 5);  // HDIST
    w.value(18 - 4, 4);         // HCLEN: code length codes up to symbol 1 in the order below
    // Code length code: symbols 0, 1, 2 and 18 with length 2 each (00, 01, 10, 11).
    constexpr int order[18] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1};
    for (const int symbol : order)
      w.value(symbol == 0 || symbol == 1 || symbol == 2 || symbol == 18 ? 2 : 0, 3);
    const auto zeros = [&w](int count) {  // symbol 18: 11-138 zeros
      w.code(3, 2);
      w.value(static_cast<std::uint32_t>(count - 11), 7);
    };
    zeros(literal);    // 0-64
    w.code(1, 2);      // 'A': length 1
    zeros(138);        // 66-203
    zeros(255 - 203);  // 204-255
    w.code(2, 2);      // 256: length 2
    w.code(2, 2);      // 257: length 2
    w.code(1, 2);      // distance 0: length 1
    zeros(distance_code - 1);
    w.code(1, 2);  // distance_code: length 1
    for (std::size_t i = 0; i < literals; ++i) w.code(0, 1);
    w.code(3, 2);  // 257
    w.code(1, 1);  // distance_code
    w.value(extra, extra_bits(distance_code));
    w.code(2, 2);  // 256
  }
  w.value(0, 3);  // the empty stored block's header; finish() pads to the octet
  return w.finish();
}

using test::random_bytes;

struct Path {
  const char* name;
  DeflateEngine engine;
  bool fragmented;
};
constexpr Path paths[] = {{"whole, default engine", DeflateEngine::automatic, false},
                          {"whole, zlib", DeflateEngine::zlib, false},
                          {"fragmented", DeflateEngine::zlib, true}};

// Inflates `history` (so the window holds it), then `payload` on `path`.
InflateResult after_history(const Path& path, const Bytes& history, const Bytes& payload,
                            Bytes& out) {
  DeflateTuning tuning;
  tuning.engine = DeflateEngine::zlib;
  MessageDeflater deflater(15, false, tuning);
  Bytes compressed;
  deflater.compress(history.data(), history.size(), true, compressed);
  MessageInflater inflater(15, false, path.engine);
  Bytes first;
  const InflateResult r =
      inflater.inflate(compressed.data(), compressed.size(), true, first, 1 << 20);
  if (r != InflateResult::ok || first != history) return InflateResult::stopped;  // not the test
  out.clear();
  if (!path.fragmented) return inflater.inflate(payload.data(), payload.size(), true, out, 1 << 20);
  const std::size_t half = payload.size() / 2;
  const InflateResult head = inflater.inflate(payload.data(), half, false, out, 1 << 20);
  if (head != InflateResult::ok) return head;
  return inflater.inflate(payload.data() + half, payload.size() - half, true, out, 1 << 20);
}

struct Case {
  Block block;
  int distance_code;  // 30 or 31
};

TEST(InvalidDistanceCode, EveryPathCallsItCorrupt) {
  // Fixed block with code 30 (zlib: invalid distance code); dynamic blocks with HDIST 31 using
  // code 30 and HDIST 32 using code 31 (zlib: too many length or distance symbols).
  for (const Case c :
       {Case{Block::fixed, 30}, Case{Block::dynamic, 30}, Case{Block::dynamic, 31}}) {
    const std::size_t reach = c.distance_code == 30 ? 32769 : 49153;
    for (const std::size_t history_size : {std::size_t{32768}, std::size_t{32000}}) {
      const Bytes history = random_bytes(history_size, 7);
      const std::size_t literals = reach > history_size ? reach - history_size : 1;
      for (const Path& path : paths) {
        SCOPED_TRACE(testing::Message()
                     << (c.block == Block::fixed ? "fixed" : "dynamic") << " code "
                     << c.distance_code << " history " << history_size << " " << path.name);
        Bytes out;
        EXPECT_EQ(after_history(path, history, message(c.block, literals, c.distance_code, 0), out),
                  InflateResult::corrupt);
      }
    }
  }
}

// The same streams with code 29 and all 13 extra bits set (32768 back, the furthest valid
// distance) in a header of 30 distance codes: every path reads them, byte for byte.
TEST(InvalidDistanceCode, TheSameStreamsWithCode29AreRead) {
  for (const Block block : {Block::fixed, Block::dynamic}) {
    for (const std::size_t history_size : {std::size_t{32768}, std::size_t{32000}}) {
      const Bytes history = random_bytes(history_size, 7);
      const std::size_t literals = 32769 - history_size;
      Bytes expected(literals, literal);
      Bytes all = history;
      all.insert(all.end(), expected.begin(), expected.end());
      for (int i = 0; i < 3; ++i) {
        const std::uint8_t b = all[all.size() - 32768];
        all.push_back(b);
        expected.push_back(b);
      }
      for (const Path& path : paths) {
        SCOPED_TRACE(testing::Message() << (block == Block::fixed ? "fixed" : "dynamic")
                                        << " history " << history_size << " " << path.name);
        Bytes out;
        EXPECT_EQ(after_history(path, history, message(block, literals, 29, 8191), out),
                  InflateResult::ok);
        EXPECT_EQ(out, expected);
      }
    }
  }
}

}  // namespace
}  // namespace wsx::proto
