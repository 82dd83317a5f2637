// MessageDeflater / MessageInflater: the permessage-deflate payload transform (RFC 7692 §7.2).
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "deflate_samples.hpp"
#include "proto/stream_resume.hpp"
#include "proto/zlib_stream_pool.hpp"
#include "wsx/proto/deflate.hpp"

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

using test::random_bytes;

// Compressible text with some variety, like JSON or logs.
Bytes text_bytes(std::size_t size, std::uint32_t seed) {
  static constexpr std::string_view words[] = {
      "{\"id\":", "\"name\":", "\"value\":", "true", "false", "null", "websocket",
      "deflate",  "message",   "frame",      ",",    "}",     "[",    "]",
      " ",        "\n",        "0123",       "42",   "hello", "world"};
  std::mt19937 rng(seed);
  Bytes out;
  out.reserve(size + 16);
  while (out.size() < size) {
    const auto w = words[rng() % std::size(words)];
    out.insert(out.end(), w.begin(), w.end());
  }
  out.resize(size);
  return out;
}

Bytes compress(MessageDeflater& deflater, const Bytes& message) {
  Bytes out;
  deflater.compress(message.data(), message.size(), true, out);
  return out;
}

struct Inflated {
  InflateResult result;
  Bytes data;
};

Inflated inflate(MessageInflater& inflater, const Bytes& payload,
                 std::size_t limit = 64 * 1024 * 1024) {
  Inflated r;
  r.result = inflater.inflate(payload.data(), payload.size(), true, r.data, limit);
  return r;
}

// Feeds `payload` as fragments cut at `cuts` (offsets into payload, ascending).
Inflated inflate_fragments(MessageInflater& inflater, const Bytes& payload,
                           std::vector<std::size_t> cuts, std::size_t limit = 64 * 1024 * 1024) {
  Inflated r{InflateResult::ok, {}};
  cuts.push_back(payload.size());
  std::size_t begin = 0;
  for (std::size_t i = 0; i < cuts.size() && r.result == InflateResult::ok; ++i) {
    const bool fin = i + 1 == cuts.size();
    r.result = inflater.inflate(payload.data() + begin, cuts[i] - begin, fin, r.data, limit);
    begin = cuts[i];
  }
  return r;
}

std::vector<std::size_t> random_cuts(std::size_t size, std::size_t count, std::mt19937& rng) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < count; ++i) cuts.push_back(size == 0 ? 0 : rng() % (size + 1));
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

DeflateTuning default_tuning() {
  return DeflateTuning{};
}

// The RFC's examples and the bomb below are zlib's output byte for byte (other engines: see
// deflate_engines_test.cpp).
DeflateTuning zlib_tuning() {
  DeflateTuning tuning;
  tuning.engine = DeflateEngine::zlib;
  return tuning;
}

// zlib's own defaults (window 15, memLevel 8), for tests that need a window wider than ours.
DeflateTuning zlib_default_tuning() {
  DeflateTuning tuning;
  tuning.window_bits = 15;
  tuning.mem_level = 8;
  return tuning;
}

// ---------------------------------------------------------------------------------------------
// The examples of RFC 7692 §7.2.3

const Bytes hello = text("Hello");
const Bytes hello_compressed = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});

TEST(DeflateCodecRfcExamples, Section7231HelloCompressesAndInflates) {
  MessageDeflater deflater(15, false, default_tuning());
  EXPECT_EQ(compress(deflater, hello), hello_compressed);
  MessageInflater inflater(15, false);
  const auto r = inflate(inflater, hello_compressed);
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, hello);
}

TEST(DeflateCodecRfcExamples, Section7231FragmentedHello) {
  MessageInflater inflater(15, false);
  Bytes out;
  const auto first = bytes({0xf2, 0x48, 0xcd});
  const auto second = bytes({0xc9, 0xc9, 0x07, 0x00});
  ASSERT_EQ(inflater.inflate(first.data(), first.size(), false, out, 100), InflateResult::ok);
  ASSERT_EQ(inflater.inflate(second.data(), second.size(), true, out, 100), InflateResult::ok);
  EXPECT_EQ(out, hello);
}

TEST(DeflateCodecRfcExamples, Section7232ContextTakeoverSharesTheWindow) {
  const auto second_compressed = bytes({0xf2, 0x00, 0x11, 0x00, 0x00});
  MessageDeflater deflater(15, false, zlib_tuning());
  EXPECT_EQ(compress(deflater, hello), hello_compressed);
  EXPECT_EQ(compress(deflater, hello), second_compressed);

  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate(inflater, hello_compressed).data, hello);
  const auto r = inflate(inflater, second_compressed);
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, hello);

  // The second message refers 5 bytes back into the first: a fresh window cannot resolve it.
  MessageInflater fresh(15, false);
  EXPECT_EQ(inflate(fresh, second_compressed).result, InflateResult::corrupt);
  // Nor can an inflater that (wrongly) resets between messages.
  MessageInflater resetting(15, true);
  EXPECT_EQ(inflate(resetting, hello_compressed).data, hello);
  EXPECT_EQ(inflate(resetting, second_compressed).result, InflateResult::corrupt);
}

TEST(DeflateCodecRfcExamples, NoContextTakeoverCompressesEachMessageAlone) {
  MessageDeflater deflater(15, true, default_tuning());
  EXPECT_EQ(compress(deflater, hello), hello_compressed);
  EXPECT_EQ(compress(deflater, hello), hello_compressed);
}

TEST(DeflateCodecRfcExamples, Section7233StoredBlock) {
  const auto stored = bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
  MessageInflater inflater(15, false);
  const auto r = inflate(inflater, stored);
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, hello);
  // Level 0 produces exactly this: a stored block, then the empty one minus its tail.
  DeflateTuning tuning;
  tuning.level = 0;
  MessageDeflater deflater(15, false, tuning);
  EXPECT_EQ(compress(deflater, hello), stored);
}

TEST(DeflateCodecRfcExamples, StoredBlockWithoutTheLastOctetIsCorrupt) {
  // Without its final 00 the message does not end with the header of an empty stored block, so
  // the appended tail is read as an unfinished block header.
  const auto truncated = bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate(inflater, truncated).result, InflateResult::corrupt);
}

TEST(DeflateCodecRfcExamples, Section7234BfinalBlock) {
  const auto bfinal = bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00});
  MessageInflater inflater(15, false);
  auto r = inflate(inflater, bfinal);
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, hello);
  // The stream goes on after the final block, window included: the §7.2.3.2 second message
  // refers back into it.
  r = inflate(inflater, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}));
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, hello);
  r = inflate(inflater, hello_compressed);
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, hello);
}

TEST(DeflateCodecRfcExamples, BfinalBlockWithoutTheStoredHeaderOctetIsCorrupt) {
  // §7.2.3.4: the trailing 00 "is necessary"; without it the tail is an unfinished block.
  const auto bfinal = bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate(inflater, bfinal).result, InflateResult::corrupt);
}

TEST(DeflateCodecRfcExamples, Section7235TwoBlocksInOneMessage) {
  const auto two_blocks =
      bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00});
  MessageInflater inflater(15, false);
  const auto r = inflate(inflater, two_blocks);
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, hello);
  // The same bytes cut inside the sync flush and inside a code still give "Hello".
  for (std::size_t cut = 0; cut <= two_blocks.size(); ++cut) {
    MessageInflater cut_inflater(15, false);
    const auto f = inflate_fragments(cut_inflater, two_blocks, {cut});
    ASSERT_EQ(f.result, InflateResult::ok) << cut;
    EXPECT_EQ(f.data, hello) << cut;
  }
}

TEST(DeflateCodecRfcExamples, Section7236EmptyMessageIsOneZeroOctet) {
  for (bool no_takeover : {false, true}) {
    MessageDeflater deflater(15, no_takeover, default_tuning());
    EXPECT_EQ(compress(deflater, {}), bytes({0x00}));
    EXPECT_FALSE(deflater.allocated());  // nothing to compress, nothing allocated
    EXPECT_EQ(compress(deflater, hello), hello_compressed);
    EXPECT_EQ(compress(deflater, {}), bytes({0x00}));  // also after a message
  }
  MessageInflater inflater(15, false);
  auto r = inflate(inflater, bytes({0x00}));
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_TRUE(r.data.empty());
  EXPECT_EQ(inflate(inflater, hello_compressed).data, hello);
  r = inflate(inflater, bytes({0x00}));
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_TRUE(r.data.empty());
}

TEST(DeflateCodecRfcExamples, EmptyLastFragmentEndsTheMessage) {
  MessageDeflater deflater(15, false, default_tuning());
  Bytes payload;
  deflater.compress(hello.data(), 3, false, payload);
  const std::size_t first_fragment = payload.size();
  deflater.compress(nullptr, 0, true, payload);
  EXPECT_EQ(payload.size(), first_fragment + 1);
  EXPECT_EQ(payload.back(), 0x00);
  MessageInflater inflater(15, false);
  const auto r = inflate_fragments(inflater, payload, {first_fragment});
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, text("Hel"));
}

TEST(DeflateCodecInflate, EntirelyEmptyPayloadIsAnEmptyMessage) {
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate(inflater, hello_compressed).data, hello);
  auto r = inflate_fragments(inflater, {}, {0, 0});
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_TRUE(r.data.empty());
  // The window is untouched: a back reference into "Hello" still works.
  r = inflate(inflater, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}));
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, hello);
}

TEST(DeflateCodecInflate, EmptyFragmentsInsideAMessageAreHarmless) {
  MessageInflater inflater(15, false);
  Bytes out;
  const auto first = bytes({0xf2, 0x48, 0xcd});
  const auto second = bytes({0xc9, 0xc9, 0x07, 0x00});
  ASSERT_EQ(inflater.inflate(nullptr, 0, false, out, 100), InflateResult::ok);
  ASSERT_EQ(inflater.inflate(first.data(), first.size(), false, out, 100), InflateResult::ok);
  ASSERT_EQ(inflater.inflate(nullptr, 0, false, out, 100), InflateResult::ok);
  ASSERT_EQ(inflater.inflate(second.data(), second.size(), false, out, 100), InflateResult::ok);
  ASSERT_EQ(inflater.inflate(nullptr, 0, true, out, 100), InflateResult::ok);
  EXPECT_EQ(out, hello);
}

// ---------------------------------------------------------------------------------------------
// BFINAL blocks inside messages (RFC 7692 §7.2.1: "The next DEFLATE block follows")

// Raw DEFLATE of `data` as one final block, padded to an octet, with `dictionary` as history.
Bytes final_block(const Bytes& data, const Bytes& dictionary = {}) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  if (!dictionary.empty())
    deflateSetDictionary(&z, dictionary.data(), static_cast<uInt>(dictionary.size()));
  Bytes out(deflateBound(&z, data.size()) + 16);
  z.next_in = const_cast<Bytef*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

TEST(DeflateCodecBfinal, BlocksAfterAFinalBlockReferBackAcrossIt) {
  const Bytes part = text_bytes(3000, 1);
  // Message: part as a final block, then part again compressed against it (all back references),
  // then the header octet of the empty stored block.
  Bytes payload = final_block(part);
  const Bytes again = final_block(part, part);
  EXPECT_LT(again.size(), 60u);  // about 3 bytes per 258-byte match
  payload.insert(payload.end(), again.begin(), again.end());
  payload.push_back(0x00);
  MessageInflater inflater(15, true);
  const auto r = inflate(inflater, payload);
  ASSERT_EQ(r.result, InflateResult::ok);
  Bytes expected = part;
  expected.insert(expected.end(), part.begin(), part.end());
  EXPECT_EQ(r.data, expected);
}

std::chrono::nanoseconds thread_cpu_time() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

TEST(DeflateCodecBfinal, ManyTinyFinalBlocksAreCheap) {
  // 03 00 is an empty fixed-Huffman block with BFINAL set, padded. Each one restarts the zlib
  // stream; with a full 32 KiB window that restart must not cost a window copy.
  Bytes payload = final_block(random_bytes(40000, 2));
  for (int i = 0; i < 200000; ++i) {
    payload.push_back(0x03);
    payload.push_back(0x00);
  }
  payload.push_back(0x00);
  MessageInflater inflater(15, false);
  // This thread's CPU time, not the wall clock: on a loaded machine the wall time of the same
  // work grows with every other process (a window copy per block costs ~10 s of CPU).
  const auto started = thread_cpu_time();
  const auto r = inflate(inflater, payload);
  const auto elapsed = thread_cpu_time() - started;
  ASSERT_EQ(r.result, InflateResult::ok);
  EXPECT_EQ(r.data, random_bytes(40000, 2));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

// ---------------------------------------------------------------------------------------------
// Round trips

struct Takeover {
  bool deflater_resets;
  bool inflater_resets;
};

void round_trip(const Bytes& message, std::uint8_t window, Takeover takeover, int level = 6) {
  DeflateTuning tuning;
  tuning.level = level;
  MessageDeflater deflater(window, takeover.deflater_resets, tuning);
  MessageInflater inflater(window, takeover.inflater_resets);
  Bytes first_payload;
  for (int round = 0; round < 2; ++round) {
    const Bytes payload = compress(deflater, message);
    if (round == 0) first_payload = payload;
    const auto r = inflate(inflater, payload, message.size());  // the limit is exactly the size
    ASSERT_EQ(r.result, InflateResult::ok) << "size " << message.size() << " round " << round;
    ASSERT_EQ(r.data, message) << "size " << message.size() << " round " << round;
    if (takeover.deflater_resets) {
      // Every message stands alone: a fresh inflater reads it, and it compresses the same way.
      EXPECT_EQ(payload, first_payload);
      MessageInflater fresh(window, true);
      EXPECT_EQ(inflate(fresh, payload).data, message);
    }
  }
}

class DeflateCodecRoundTrip : public ::testing::TestWithParam<std::uint8_t> {};

TEST_P(DeflateCodecRoundTrip, AllSizesAndTakeoverModes) {
  const std::uint8_t window = GetParam();
  const std::size_t sizes[] = {0, 1, 125, 126, 65535, 65536};
  for (const Takeover t : {Takeover{false, false}, Takeover{true, false}, Takeover{true, true}}) {
    SCOPED_TRACE(testing::Message()
                 << "window " << int{window} << " deflater resets " << t.deflater_resets
                 << " inflater resets " << t.inflater_resets);
    for (std::size_t size : sizes) {
      round_trip(random_bytes(size, static_cast<std::uint32_t>(size)), window, t);
      round_trip(text_bytes(size, static_cast<std::uint32_t>(size)), window, t);
    }
    round_trip(random_bytes(1 << 20, 3), window, t);
    round_trip(text_bytes(1 << 20, 4), window, t);
  }
}

INSTANTIATE_TEST_SUITE_P(Windows, DeflateCodecRoundTrip,
                         ::testing::Values(9, 10, 11, 12, 13, 14, 15), [](const auto& param_info) {
                           return "bits" + std::to_string(param_info.param);
                         });

TEST(DeflateCodecRoundTrips, AllLevelsAndMemLevels) {
  const Bytes message = text_bytes(20000, 5);
  for (int level = 0; level <= 9; ++level) {
    for (int mem_level = 1; mem_level <= 9; ++mem_level) {
      DeflateTuning tuning;
      tuning.level = level;
      tuning.mem_level = mem_level;
      MessageDeflater deflater(15, false, tuning);
      MessageInflater inflater(15, false);
      for (int round = 0; round < 2; ++round) {
        const auto r = inflate(inflater, compress(deflater, message));
        ASSERT_EQ(r.result, InflateResult::ok) << level << " " << mem_level;
        ASSERT_EQ(r.data, message) << level << " " << mem_level;
      }
    }
  }
}

TEST(DeflateCodecRoundTrips, ContextTakeoverMakesARepeatedMessageSmall) {
  const Bytes message = text_bytes(4000, 6);
  MessageDeflater takeover(15, false, zlib_default_tuning());
  MessageDeflater resetting(15, true, zlib_default_tuning());
  const auto first = compress(takeover, message);
  const auto second = compress(takeover, message);
  EXPECT_LT(second.size() * 10, first.size());
  EXPECT_EQ(compress(resetting, message), first);
  EXPECT_EQ(compress(resetting, message), first);
}

TEST(DeflateCodecRoundTrips, FragmentedCompressAndInflateAtRandomCuts) {
  std::mt19937 rng(7);
  for (bool no_takeover : {false, true}) {
    MessageDeflater deflater(15, no_takeover, default_tuning());
    MessageInflater inflater(15, no_takeover);
    for (int message_index = 0; message_index < 30; ++message_index) {
      const std::size_t size = rng() % 50000;
      const Bytes message = message_index % 2 ? random_bytes(size, rng()) : text_bytes(size, rng());
      // Compress in fragments cut at random points (some empty).
      Bytes payload;
      std::size_t begin = 0;
      for (std::size_t cut : random_cuts(size, rng() % 6, rng)) {
        deflater.compress(message.data() + begin, cut - begin, false, payload);
        begin = cut;
      }
      deflater.compress(message.data() + begin, size - begin, true, payload);
      // Inflate in fragments cut elsewhere.
      const auto r = inflate_fragments(inflater, payload,
                                       random_cuts(payload.size(), rng() % 8, rng), message.size());
      ASSERT_EQ(r.result, InflateResult::ok) << message_index;
      ASSERT_EQ(r.data, message) << message_index;
    }
  }
}

TEST(DeflateCodecRoundTrips, ByteByByteInflate) {
  const Bytes message = text_bytes(3000, 8);
  MessageDeflater deflater(12, false, default_tuning());
  MessageInflater inflater(12, false);
  for (int round = 0; round < 3; ++round) {
    const Bytes payload = compress(deflater, message);
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < payload.size(); ++i) cuts.push_back(i);
    const auto r = inflate_fragments(inflater, payload, cuts);
    ASSERT_EQ(r.result, InflateResult::ok);
    ASSERT_EQ(r.data, message);
  }
}

TEST(DeflateCodecRoundTrips, InflaterWithALargerWindowReadsASmallerOne) {
  const Bytes message = text_bytes(10000, 9);
  MessageDeflater deflater(9, false, default_tuning());
  MessageInflater inflater(15, false);
  for (int round = 0; round < 2; ++round)
    EXPECT_EQ(inflate(inflater, compress(deflater, message)).data, message);
}

// ---------------------------------------------------------------------------------------------
// Windows

TEST(DeflateCodecWindows, InflaterRejectsDistancesBeyondItsWindowAcrossMessages) {
  // A 10-bit compressor repeats a block 300 bytes back, in the previous message: beyond the
  // 256-byte window of an 8-bit decompressor, which RFC 7692 §7.1.2 lets it refuse. A zlib peer
  // at "8" (zlib: 9) never goes that far: ZlibPeerAtWindowEightIsReadByAnEightBitInflater.
  const Bytes block = random_bytes(300, 10);
  MessageDeflater deflater(10, false, default_tuning());
  const auto first = compress(deflater, block);
  const auto second = compress(deflater, block);
  EXPECT_LT(second.size(), 50u);  // it is all back references
  MessageInflater inflater(8, false);
  EXPECT_EQ(inflate(inflater, first).data, block);
  EXPECT_EQ(inflate(inflater, second).result, InflateResult::corrupt);
  MessageInflater wide_enough(9, false);
  EXPECT_EQ(inflate(wide_enough, first).data, block);
  EXPECT_EQ(inflate(wide_enough, second).data, block);
}

TEST(DeflateCodecWindows, NegotiatedWindowEightSendsStoredBlocksOnly) {
  const Bytes block = random_bytes(400, 10);
  const Bytes repetitive = text_bytes(5000, 11);
  MessageDeflater deflater(8, false, default_tuning());
  MessageInflater inflater(8, false);
  for (const Bytes* message : {&block, &block, &repetitive, &repetitive}) {
    const auto payload = compress(deflater, *message);
    EXPECT_GE(payload.size(), message->size());  // stored, never smaller
    const auto r = inflate(inflater, payload);
    ASSERT_EQ(r.result, InflateResult::ok);
    EXPECT_EQ(r.data, *message);
  }
}

// A peer that negotiated window 8 and compresses with zlib: zlib (1.2.9 on) refuses raw
// deflateInit2(-8), so Node's zlib (and any careful caller) passes 9. Does that reach further
// back than the 256 bytes an 8-bit inflater keeps? No: zlib's deflate only matches up to
// MAX_DIST = w_size - MIN_LOOKAHEAD = 512 - 262 = 250 bytes back (Node's zlib docs: window 9
// "results in a compressed stream that effectively uses an 8-bit window only"). The checks below
// make that concrete, so the inflater keeps 256 bytes for window 8 rather than 512.

// Messages that copy runs from 200 to 600 bytes back (across message boundaries too): where
// a compressor with a window over 256 would reach past what an 8-bit inflater keeps.
std::vector<Bytes> messages_repeating_200_to_600_back(std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Bytes> messages;
  Bytes history;
  for (int m = 0; m < 40; ++m) {
    Bytes message;
    const std::size_t pieces = 1 + rng() % 8;
    for (std::size_t p = 0; p < pieces; ++p) {
      const std::size_t seen = history.size() + message.size();
      if (seen > 600 && rng() % 10 < 7) {
        const std::size_t back = 200 + rng() % 401;
        const std::size_t length = 3 + rng() % 98;
        for (std::size_t i = 0; i < length; ++i) {
          const std::size_t at = seen - back + i;  // may run into the bytes it copies
          message.push_back(at < history.size() ? history[at] : message[at - history.size()]);
        }
      } else {
        const Bytes noise = random_bytes(1 + rng() % 300, static_cast<std::uint32_t>(rng()));
        message.insert(message.end(), noise.begin(), noise.end());
      }
    }
    history.insert(history.end(), message.begin(), message.end());
    messages.push_back(std::move(message));
  }
  return messages;
}

// What a zlib-based peer sends: one raw stream (context takeover), a sync flush per message,
// its 00 00 ff ff tail removed.
std::vector<Bytes> zlib_peer_payloads(const std::vector<Bytes>& messages, int zlib_window_bits) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -zlib_window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<Bytes> payloads;
  for (const Bytes& message : messages) {
    Bytes out(deflateBound(&z, static_cast<uLong>(message.size())) + 16);
    z.next_in = const_cast<Bytef*>(message.data());
    z.avail_in = static_cast<uInt>(message.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    EXPECT_EQ(z.avail_in, 0u);
    out.resize(out.size() - z.avail_out - 4);
    payloads.push_back(std::move(out));
  }
  deflateEnd(&z);
  return payloads;
}

// Whether every payload inflates to its message with only 256 bytes of history, every distance
// checked: zlib's raw inflater at -8 keeps a 256-byte window, and given one output byte per
// call it resolves every back reference from that window (with a larger output buffer it would
// also read back into what the same call produced, however far).
bool inflates_with_256_bytes_of_history(const std::vector<Bytes>& payloads,
                                        const std::vector<Bytes>& messages) {
  z_stream z{};
  if (inflateInit2(&z, -8) != Z_OK) return false;
  bool ok = true;
  for (std::size_t m = 0; ok && m < payloads.size(); ++m) {
    Bytes payload = payloads[m];
    payload.insert(payload.end(), {0x00, 0x00, 0xff, 0xff});
    Bytes output;
    z.next_in = payload.data();
    z.avail_in = static_cast<uInt>(payload.size());
    for (;;) {
      std::uint8_t byte = 0;
      z.next_out = &byte;
      z.avail_out = 1;
      const int rc = ::inflate(&z, Z_SYNC_FLUSH);
      if (z.avail_out == 0) output.push_back(byte);
      if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == 0 && z.avail_out == 1)) break;
      if (rc != Z_OK) {
        ok = false;
        break;
      }
    }
    ok = ok && output == messages[m];
  }
  inflateEnd(&z);
  return ok;
}

TEST(DeflateCodecWindows, TheStrictCheckRejectsDistancesBeyond256) {
  // The check below must be able to fail: a peer compressing with window 10 does reach further.
  const auto messages = messages_repeating_200_to_600_back(21);
  EXPECT_FALSE(inflates_with_256_bytes_of_history(zlib_peer_payloads(messages, 10), messages));
  EXPECT_FALSE(inflates_with_256_bytes_of_history(zlib_peer_payloads(messages, 15), messages));
}

TEST(DeflateCodecWindows, ZlibPeerAtWindowEightIsReadByAnEightBitInflater) {
  for (std::uint32_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE(seed);
    const auto messages = messages_repeating_200_to_600_back(seed);
    const auto payloads = zlib_peer_payloads(messages, 9);  // what "8" becomes in zlib
    EXPECT_TRUE(inflates_with_256_bytes_of_history(payloads, messages));
    MessageInflater whole(8, false);  // libdeflate for whole messages, where built with it
    MessageInflater with_zlib(8, false, DeflateEngine::zlib);
    MessageInflater fragmented(8, false);
    std::mt19937 rng(seed);
    for (std::size_t m = 0; m < messages.size(); ++m) {
      ASSERT_EQ(inflate(whole, payloads[m]).data, messages[m]) << m;
      ASSERT_EQ(inflate(with_zlib, payloads[m]).data, messages[m]) << m;
      const auto cuts = random_cuts(payloads[m].size(), 1 + rng() % 4, rng);
      ASSERT_EQ(inflate_fragments(fragmented, payloads[m], cuts).data, messages[m]) << m;
    }
  }
}

TEST(DeflateCodecWindows, NegotiatedWindowEightOutputNeedsOnly256BytesOfHistory) {
  // What we send once 8 was negotiated for our compressor, whichever engine: a peer that keeps
  // exactly 256 bytes of history (RFC 7692 §7.1.2) resolves every message.
  const auto messages = messages_repeating_200_to_600_back(7);
  for (const DeflateTuning& tuning : {default_tuning(), zlib_tuning()}) {
    SCOPED_TRACE(tuning.engine == DeflateEngine::zlib ? "zlib" : "automatic (ISA-L where built)");
    MessageDeflater deflater(8, false, tuning);
    std::vector<Bytes> payloads;
    for (const Bytes& message : messages) payloads.push_back(compress(deflater, message));
    EXPECT_TRUE(inflates_with_256_bytes_of_history(payloads, messages));
  }
}

TEST(DeflateCodecWindows, TuningCapsTheNegotiatedWindow) {
  // Negotiated 15, tuned 10: the repeat 2000 bytes back is out of reach, so the second message is
  // not all back references, and a 10-bit inflater reads both.
  const Bytes block = random_bytes(2000, 12);
  DeflateTuning tuning;
  tuning.window_bits = 10;
  MessageDeflater deflater(15, false, tuning);
  MessageInflater inflater(10, false);
  EXPECT_EQ(inflate(inflater, compress(deflater, block)).data, block);
  const auto second = compress(deflater, block);
  EXPECT_GT(second.size(), 1000u);
  EXPECT_EQ(inflate(inflater, second).data, block);
}

TEST(DeflateCodecWindows, TuningEightWithALargerNegotiatedWindowStillCompresses) {
  const Bytes message = text_bytes(5000, 13);
  DeflateTuning tuning;
  tuning.window_bits = 8;
  MessageDeflater deflater(15, false, tuning);  // uses 9, which the peer's window 15 covers
  MessageInflater inflater(9, false);
  for (int round = 0; round < 2; ++round) {
    const auto payload = compress(deflater, message);
    EXPECT_LT(payload.size(), message.size() / 2);
    EXPECT_EQ(inflate(inflater, payload).data, message);
  }
}

TEST(DeflateCodecWindows, InvalidArgumentsThrow) {
  DeflateTuning tuning;
  EXPECT_THROW(MessageDeflater(7, false, tuning), std::invalid_argument);
  EXPECT_THROW(MessageDeflater(16, false, tuning), std::invalid_argument);
  EXPECT_THROW(MessageInflater(7, false), std::invalid_argument);
  EXPECT_THROW(MessageInflater(16, false), std::invalid_argument);
  tuning.level = 10;
  EXPECT_THROW(MessageDeflater(15, false, tuning), std::invalid_argument);
  tuning.level = -1;
  EXPECT_THROW(MessageDeflater(15, false, tuning), std::invalid_argument);
  tuning = DeflateTuning{};
  tuning.mem_level = 0;
  EXPECT_THROW(MessageDeflater(15, false, tuning), std::invalid_argument);
  tuning.mem_level = 10;
  EXPECT_THROW(MessageDeflater(15, false, tuning), std::invalid_argument);
  tuning = DeflateTuning{};
  tuning.window_bits = 16;
  EXPECT_THROW(MessageDeflater(15, false, tuning), std::invalid_argument);
  EXPECT_NO_THROW(MessageDeflater(8, false, DeflateTuning{}));
  EXPECT_NO_THROW(MessageInflater(8, false));
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(DeflateCodecLimits, DecompressionBombFailsWithoutAllocatingIt) {
  const Bytes zeros(10'000'000, 0);
  MessageDeflater deflater(15, false, zlib_tuning());
  const Bytes bomb = compress(deflater, zeros);
  EXPECT_LT(bomb.size(), 20'000u);
  constexpr std::size_t limit = 1 << 20;
  for (bool fragmented : {false, true}) {
    MessageInflater inflater(15, false);
    Inflated r{InflateResult::ok, {}};
    if (fragmented) {
      std::vector<std::size_t> cuts;
      for (std::size_t at = 100; at < bomb.size(); at += 100) cuts.push_back(at);
      r = inflate_fragments(inflater, bomb, cuts, limit);
    } else {
      r = inflate(inflater, bomb, limit);
    }
    EXPECT_EQ(r.result, InflateResult::too_big);
    EXPECT_LE(r.data.size(), limit + 1);
    EXPECT_LE(r.data.capacity(), limit + MessageInflater::max_output_step);
    // The failure is final and frees zlib.
    EXPECT_FALSE(inflater.allocated());
    EXPECT_EQ(inflater.failure(), InflateResult::too_big);
    Bytes more;
    EXPECT_EQ(inflater.inflate(hello_compressed.data(), hello_compressed.size(), true, more, limit),
              InflateResult::too_big);
    EXPECT_TRUE(more.empty());
  }
}

TEST(DeflateCodecLimits, LimitEqualToTheMessagePassesOneLessFails) {
  for (std::size_t size : {1u, 100u, 70000u, 300000u}) {
    const Bytes message = text_bytes(size, static_cast<std::uint32_t>(size));
    MessageDeflater deflater(15, true, default_tuning());
    const Bytes payload = compress(deflater, message);
    MessageInflater exact(15, true);
    for (int round = 0; round < 2; ++round) {  // the limit is per message
      const auto r = inflate(exact, payload, size);
      ASSERT_EQ(r.result, InflateResult::ok) << size;
      EXPECT_EQ(r.data, message);
    }
    MessageInflater one_less(15, true);
    const auto r = inflate(one_less, payload, size - 1);
    EXPECT_EQ(r.result, InflateResult::too_big) << size;
    EXPECT_EQ(r.data.size(), size);  // exactly one byte beyond the limit
    // Fragmented: the limit covers the whole message, not each fragment.
    MessageInflater fragmented(15, true);
    std::vector<std::size_t> cuts{payload.size() / 3, payload.size() * 2 / 3};
    EXPECT_EQ(inflate_fragments(fragmented, payload, cuts, size - 1).result,
              InflateResult::too_big);
    MessageInflater fragmented_exact(15, true);
    EXPECT_EQ(inflate_fragments(fragmented_exact, payload, cuts, size).result, InflateResult::ok);
  }
}

TEST(DeflateCodecLimits, LimitLoweredBetweenFragmentsCountsWhatIsAlreadyOut) {
  const Bytes message = text_bytes(1000, 16);
  MessageDeflater deflater(15, false, default_tuning());
  Bytes payload;
  deflater.compress(message.data(), 600, false, payload);
  const std::size_t first = payload.size();
  deflater.compress(message.data() + 600, 400, true, payload);
  MessageInflater inflater(15, false);
  Bytes out;
  ASSERT_EQ(inflater.inflate(payload.data(), first, false, out, 1000), InflateResult::ok);
  EXPECT_EQ(out.size(), 600u);
  EXPECT_EQ(inflater.inflate(payload.data() + first, payload.size() - first, true, out, 500),
            InflateResult::too_big);
  EXPECT_EQ(out.size(), 600u);
}

TEST(DeflateCodecLimits, ZeroLimitAllowsOnlyEmptyMessages) {
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate(inflater, bytes({0x00}), 0).result, InflateResult::ok);
  EXPECT_EQ(inflate(inflater, hello_compressed, 0).result, InflateResult::too_big);
}

TEST(DeflateCodecLimits, OutputAppendsToExistingContent) {
  MessageInflater inflater(15, false);
  Bytes out = text("abc");
  ASSERT_EQ(inflater.inflate(hello_compressed.data(), hello_compressed.size(), true, out, 5),
            InflateResult::ok);
  EXPECT_EQ(out, text("abcHello"));  // the limit counts this message only
}

// Collects what an InflateSink is handed; stops after `stop_after` pieces when that is set.
class PieceLog : public InflateSink {
 public:
  bool on_inflated(std::span<const std::uint8_t> piece) override {
    joined.insert(joined.end(), piece.begin(), piece.end());
    largest = std::max(largest, piece.size());
    ++pieces;
    return stop_after == 0 || pieces < stop_after;
  }
  Bytes joined;
  std::size_t largest = 0;
  std::size_t pieces = 0;
  std::size_t stop_after = 0;
};

TEST(DeflateCodecSink, OutputIsHandedOverInBoundedPiecesAndTheLimitStillCountsTheWhole) {
  const Bytes message = text_bytes(3'000'000, 17);
  MessageDeflater deflater(15, false, default_tuning());
  const Bytes payload = compress(deflater, message);
  for (std::size_t cut : {payload.size(), std::size_t{1000}}) {
    MessageInflater inflater(15, false);
    PieceLog sink;
    Bytes out;
    std::size_t largest_out = 0;
    for (std::size_t begin = 0; begin < payload.size(); begin += cut) {
      const std::size_t size = std::min(cut, payload.size() - begin);
      const bool fin = begin + size == payload.size();
      ASSERT_EQ(inflater.inflate(payload.data() + begin, size, fin, out, 64 << 20, sink),
                InflateResult::ok);
      largest_out = std::max(largest_out, out.capacity());
      sink.joined.insert(sink.joined.end(), out.begin(), out.end());  // the rest is the caller's
      out.clear();
    }
    EXPECT_EQ(sink.joined, message);
    if (cut == payload.size()) {  // one call, many pieces
      EXPECT_GT(sink.pieces, 10u);
    }
    EXPECT_LE(sink.largest, 2 * MessageInflater::max_output_step);
    EXPECT_LE(largest_out, 2 * MessageInflater::max_output_step);
  }
  MessageInflater limited(15, false);
  PieceLog sink;
  Bytes out;
  EXPECT_EQ(limited.inflate(payload.data(), payload.size(), true, out, 1'000'000, sink),
            InflateResult::too_big);
  EXPECT_LE(sink.joined.size() + out.size(), 1'000'001u);
}

TEST(DeflateCodecSink, ASinkThatStopsEndsTheInflaterForGood) {
  const Bytes zeros(4'000'000, 0);
  MessageDeflater deflater(15, false, default_tuning());
  const Bytes payload = compress(deflater, zeros);
  MessageInflater inflater(15, false);
  PieceLog sink;
  sink.stop_after = 2;
  Bytes out;
  EXPECT_EQ(inflater.inflate(payload.data(), payload.size(), true, out, 64 << 20, sink),
            InflateResult::stopped);
  EXPECT_EQ(sink.pieces, 2u);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(inflater.allocated());
  EXPECT_EQ(inflater.inflate(hello_compressed.data(), hello_compressed.size(), true, out, 100),
            InflateResult::stopped);
}

// ---------------------------------------------------------------------------------------------
// Corrupt input

TEST(DeflateCodecCorrupt, InvalidBlockTypeIsCorruptAndFinal) {
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate(inflater, bytes({0xff, 0xff, 0xff})).result, InflateResult::corrupt);
  EXPECT_FALSE(inflater.allocated());
  EXPECT_EQ(inflater.failure(), InflateResult::corrupt);
  EXPECT_EQ(inflate(inflater, hello_compressed).result, InflateResult::corrupt);
}

TEST(DeflateCodecCorrupt, StoredLengthMismatchIsCorrupt) {
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate(inflater, bytes({0x00, 0x05, 0x00, 0xfa, 0xfe, 'H', 'e', 'l', 'l', 'o', 0x00}))
                .result,
            InflateResult::corrupt);
}

TEST(DeflateCodecCorrupt, TruncatedMessageIsCorrupt) {
  const Bytes message = text_bytes(5000, 14);
  // A cut may happen to leave a valid DEFLATE stream, which no inflater can tell from a whole one;
  // these are zlib's bytes with window 11, where the three cuts below do not.
  DeflateTuning tuning = zlib_tuning();
  tuning.window_bits = 11;
  MessageDeflater deflater(15, false, tuning);
  const Bytes payload = compress(deflater, message);
  for (std::size_t keep : {std::size_t{1}, payload.size() / 2, payload.size() - 2}) {
    MessageInflater inflater(15, false);
    const Bytes truncated(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(keep));
    EXPECT_EQ(inflate(inflater, truncated).result, InflateResult::corrupt) << keep;
  }
}

TEST(DeflateCodecCorrupt, DistanceBeforeTheStartIsCorrupt) {
  // The §7.2.3.2 second message on a fresh stream, fragmented this time.
  MessageInflater inflater(15, false);
  EXPECT_EQ(inflate_fragments(inflater, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), {2}).result,
            InflateResult::corrupt);
}

TEST(DeflateCodecCorrupt, RandomGarbageNeverCrashes) {
  std::mt19937 rng(15);
  int corrupt = 0;
  for (int i = 0; i < 2000; ++i) {
    MessageInflater inflater(static_cast<std::uint8_t>(8 + i % 8), i % 2 == 0);
    const Bytes garbage = random_bytes(rng() % 200, rng());
    const auto r = inflate(inflater, garbage, 4096);
    if (r.result == InflateResult::corrupt) ++corrupt;
    if (r.result != InflateResult::too_big) {
      EXPECT_LE(r.data.size(), 4096u);
    }
  }
  EXPECT_GT(corrupt, 1000);
}

// ---------------------------------------------------------------------------------------------
// Memory

TEST(DeflateCodecMemory, NothingIsHeldBeforeTheFirstMessage) {
  MessageDeflater deflater(15, false, default_tuning());
  MessageInflater inflater(15, false);
  EXPECT_FALSE(deflater.allocated());
  EXPECT_FALSE(inflater.allocated());
  EXPECT_EQ(deflater.memory_in_use(), 0u);
  EXPECT_EQ(inflater.memory_in_use(), 0u);
  Bytes out;
  deflater.compress(nullptr, 0, false, out);
  EXPECT_EQ(inflater.inflate(nullptr, 0, false, out, 10), InflateResult::ok);
  EXPECT_FALSE(deflater.allocated());
  EXPECT_FALSE(inflater.allocated());
}

// Scenario g of the echo harness: what a compressing connection holds once it has echoed one
// 1 KiB message is its two windows, not two zlib streams (those are the thread's).
TEST(DeflateCodecMemory, BetweenMessagesOnlyTheWindowsAreHeld) {
  const std::size_t per_object_overhead = 128;
  MessageDeflater deflater(15, false, default_tuning());  // our window: 13 by default
  MessageInflater inflater(11, false);  // the peer's, as our server asks browsers for 11
  MessageInflater peer_inflater(15, false);
  MessageDeflater peer_deflater(11, false, zlib_tuning());
  // Our deflater's output goes to the peer; our inflater reads what the peer compressed.
  const auto echo = [&](const Bytes& message) {
    ASSERT_EQ(inflate(inflater, compress(peer_deflater, message)).data, message);
    ASSERT_EQ(inflate(peer_inflater, compress(deflater, message)).data, message);
  };
  const Bytes message = text_bytes(1024, 7);
  echo(message);
  EXPECT_TRUE(deflater.allocated());
  EXPECT_TRUE(inflater.allocated());
  EXPECT_FALSE(deflater.holds_stream());
  EXPECT_FALSE(inflater.holds_stream());
  std::printf("after one 1 KiB message: deflater %zu bytes, inflater %zu bytes\n",
              deflater.memory_in_use(), inflater.memory_in_use());
  EXPECT_GE(deflater.memory_in_use(), message.size());  // the window is kept
  EXPECT_LE(deflater.memory_in_use(), message.size() + per_object_overhead);
  EXPECT_GE(inflater.memory_in_use(), message.size());
  EXPECT_LE(inflater.memory_in_use(), message.size() + per_object_overhead);
  // However many messages follow, the windows stay at 2^13 and 2^11.
  for (std::uint32_t i = 0; i < 20; ++i) echo(text_bytes(1024, 100 + i));
  EXPECT_GE(deflater.memory_in_use(), 1u << 13);
  EXPECT_LE(deflater.memory_in_use(), (1u << 13) + per_object_overhead);
  EXPECT_LE(inflater.memory_in_use(), (1u << 11) + per_object_overhead);
  EXPECT_LE(deflater.memory_in_use() + inflater.memory_in_use(), 16 * 1024u);
}

TEST(DeflateCodecMemory, ALargerTunedWindowCostsItsSizeAndNoMore) {
  MessageDeflater deflater(15, false, zlib_default_tuning());
  MessageInflater inflater(15, false);
  for (std::uint32_t i = 0; i < 48; ++i) {
    const Bytes next = text_bytes(1024, 300 + i);
    ASSERT_EQ(inflate(inflater, compress(deflater, next)).data, next);
  }
  EXPECT_GE(deflater.memory_in_use(), 32 * 1024u);
  EXPECT_LE(deflater.memory_in_use(), 32 * 1024u + 128);
  EXPECT_GE(inflater.memory_in_use(), 32 * 1024u);
  EXPECT_LE(inflater.memory_in_use(), 32 * 1024u + 128);
}

TEST(DeflateCodecMemory, WithoutContextTakeoverNothingIsHeldBetweenMessages) {
  MessageDeflater deflater(15, true, default_tuning());
  MessageInflater inflater(15, true);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(inflate(inflater, compress(deflater, hello)).data, hello);
    EXPECT_FALSE(deflater.allocated());
    EXPECT_FALSE(inflater.allocated());
    EXPECT_EQ(deflater.memory_in_use(), 0u);
    EXPECT_EQ(inflater.memory_in_use(), 0u);
  }
}

TEST(DeflateCodecMemory, AFragmentedMessageHoldsItsStreamUntilItsLastFragment) {
  MessageDeflater deflater(15, false, default_tuning());
  MessageInflater inflater(15, false);
  Bytes first, last, out;
  deflater.compress(hello.data(), 3, false, first);
  EXPECT_TRUE(deflater.holds_stream());
  // zlib's stream: at least its hash table and pending buffer (2^(4+7)*2 + 2^(4+6)*4).
  EXPECT_GT(deflater.memory_in_use(), 8 * 1024u);
  deflater.compress(hello.data() + 3, hello.size() - 3, true, last);
  EXPECT_FALSE(deflater.holds_stream());
  ASSERT_EQ(inflater.inflate(first.data(), first.size(), false, out, 100), InflateResult::ok);
  EXPECT_TRUE(inflater.holds_stream());
  EXPECT_GT(inflater.memory_in_use(), 7 * 1024u);  // zlib's inflate state
  ASSERT_EQ(inflater.inflate(last.data(), last.size(), true, out, 100), InflateResult::ok);
  EXPECT_FALSE(inflater.holds_stream());
  EXPECT_EQ(out, hello);
}

// Many connections served by one thread take turns with the thread's streams: each message must
// see its own connection's window, never another's (what sharing streams could break).
TEST(DeflateCodecSharedStreams, InterleavedConnectionsKeepTheirOwnWindows) {
  constexpr int connections = 6;
  std::vector<std::unique_ptr<MessageDeflater>> deflaters;
  std::vector<std::unique_ptr<MessageInflater>> inflaters;
  for (int c = 0; c < connections; ++c) {
    DeflateTuning tuning;
    tuning.window_bits = static_cast<std::uint8_t>(9 + c % 7);
    tuning.level = 1 + c % 9;
    tuning.mem_level = 1 + c % 9;
    deflaters.push_back(std::make_unique<MessageDeflater>(15, c % 4 == 3, tuning));
    inflaters.push_back(std::make_unique<MessageInflater>(15, c % 4 == 3));
  }
  std::mt19937 rng(5);
  std::vector<Bytes> previous(connections);
  for (int round = 0; round < 300; ++round) {
    const int c = static_cast<int>(rng() % connections);
    // Repeating the connection's previous message makes back references to it likely.
    Bytes message = rng() % 2 ? previous[c] : text_bytes(200 + rng() % 3000, rng());
    message.push_back(static_cast<std::uint8_t>(c));
    const Bytes payload = compress(*deflaters[c], message);
    ASSERT_EQ(inflate(*inflaters[c], payload).data, message) << "round " << round;
    previous[c] = message;
  }
}

TEST(DeflateCodecSharedStreams, AThreadKeepsAFewSpareStreamsOnly) {
  // Forty settings, each used once: the thread keeps at most a handful of zlib streams
  // afterwards.
  for (int level = 1; level <= 9; ++level) {
    for (std::uint8_t window = 9; window <= 15; window += 2) {
      DeflateTuning tuning = zlib_tuning();
      tuning.level = level;
      tuning.window_bits = window;
      MessageDeflater deflater(15, false, tuning);
      MessageInflater inflater(window, false);
      ASSERT_EQ(inflate(inflater, compress(deflater, hello)).data, hello);
    }
  }
  EXPECT_GE(detail::spare_stream_count(), 2u);  // one inflate stream and the last deflate one
  EXPECT_LE(detail::spare_stream_count(), 4u);
  EXPECT_LE(detail::spare_stream_bytes(), 4u * 300 * 1024);
}

TEST(DeflateCodecSharedStreams, AConnectionMayMoveToAnotherThreadBetweenMessages) {
  MessageDeflater deflater(15, false, default_tuning());
  MessageInflater inflater(15, false);
  const Bytes message = text_bytes(1500, 9);
  const Bytes first = compress(deflater, message);
  Bytes second;
  Inflated first_out, second_out;
  std::thread([&] {
    first_out = inflate(inflater, first);
    second = compress(deflater, message);
  }).join();
  second_out = inflate(inflater, second);
  EXPECT_EQ(first_out.data, message);
  EXPECT_EQ(second_out.data, message);
  EXPECT_LT(second.size(), first.size() / 4);  // the window came along: a back reference
}

// Back on its first thread after a message elsewhere, a connection finds that thread's stream as
// its first message left it; resuming it would refer back to the wrong bytes.
TEST(DeflateCodecSharedStreams, AConnectionBackFromAnotherThreadDoesNotResumeAStaleStream) {
  for (const DeflateTuning& tuning : {default_tuning(), zlib_tuning()}) {
    MessageDeflater deflater(15, false, tuning);
    MessageInflater inflater(15, false);
    const Bytes first = text_bytes(1500, 21);
    const Bytes second = text_bytes(1500, 22);
    ASSERT_EQ(inflate(inflater, compress(deflater, first)).data, first);
    Inflated second_out;
    std::thread([&] { second_out = inflate(inflater, compress(deflater, second)); }).join();
    EXPECT_EQ(second_out.data, second);
    const std::size_t resumed_before = detail::resumed_lease_count;
    // The window now ends with `second`; the stream here still ends with `first`.
    EXPECT_EQ(inflate(inflater, compress(deflater, first)).data, first);
    EXPECT_EQ(detail::resumed_lease_count, resumed_before);
  }
}

// A run of one connection's messages (the frames of one read, echoed) goes on with the stream the
// previous message returned instead of priming a stream with the window again: what priming
// costs (igzip hashes the whole window, zlib inserts it into its hash chains) is more than
// compressing a 1 KiB message. The output is the same stream of bytes a peer expects.
TEST(DeflateCodecSharedStreams, ARunOfOneConnectionsMessagesResumesItsStreams) {
  for (const DeflateTuning& tuning : {default_tuning(), zlib_tuning()}) {
    MessageDeflater deflater(15, false, tuning);
    // zlib inflates: whole messages would go to libdeflate, which keeps no stream to resume.
    MessageInflater inflater(11, false, DeflateEngine::zlib);
    MessageInflater peer(15, false, DeflateEngine::zlib);
    MessageDeflater peer_deflater(11, false, zlib_tuning());
    std::vector<Bytes> messages, ours, theirs;
    for (std::uint32_t i = 0; i < 6; ++i) messages.push_back(text_bytes(1024, 40 + i % 3));
    const std::size_t resumed_before = detail::resumed_lease_count;
    // Four runs of six messages, each codec's run resuming its stream for messages 2-6.
    for (const Bytes& m : messages) ours.push_back(compress(deflater, m));
    for (std::size_t i = 0; i < ours.size(); ++i)
      ASSERT_EQ(inflate(peer, ours[i]).data, messages[i]);
    for (const Bytes& m : messages) theirs.push_back(compress(peer_deflater, m));
    for (std::size_t i = 0; i < theirs.size(); ++i)
      ASSERT_EQ(inflate(inflater, theirs[i]).data, messages[i]);
    EXPECT_EQ(detail::resumed_lease_count - resumed_before, 20u);
    // Messages 4-6 repeat 1-3: back references into the window the resumed streams kept.
    EXPECT_LT(ours[3].size(), ours[0].size() / 4);
  }
}

// Another connection's message in between: the stream it used is primed again, with this
// connection's window, not resumed.
TEST(DeflateCodecSharedStreams, AStreamAnotherConnectionUsedIsPrimedAgain) {
  for (const DeflateTuning& tuning : {default_tuning(), zlib_tuning()}) {
    MessageDeflater a(15, false, tuning), b(15, false, tuning);
    MessageInflater a_peer(15, false), b_peer(15, false);
    const Bytes a_message = text_bytes(1500, 31), b_message = text_bytes(1500, 32);
    ASSERT_EQ(inflate(a_peer, compress(a, a_message)).data, a_message);
    ASSERT_EQ(inflate(b_peer, compress(b, b_message)).data, b_message);
    const std::size_t resumed_before = detail::resumed_lease_count;
    const Bytes again = compress(a, a_message);
    EXPECT_EQ(detail::resumed_lease_count, resumed_before);
    EXPECT_EQ(inflate(a_peer, again).data, a_message);
    EXPECT_LT(again.size(), a_message.size() / 4);  // a's window was primed: a back reference
  }
}

}  // namespace
}  // namespace wsx::proto
