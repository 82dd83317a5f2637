// MessageDeflater's two engines, zlib and ISA-L's igzip (DeflateEngine): each one's output is
// read by the other side's zlib inflater under every window RFC 7692 allows, and both mean the
// same bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "deflate_samples.hpp"
#include "proto/isal_deflate.hpp"
#include "proto/stream_resume.hpp"
#include "wsx/proto/deflate.hpp"

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

using test::json_text;
using test::random_bytes;

Bytes compress(MessageDeflater& deflater, const Bytes& message) {
  Bytes out;
  deflater.compress(message.data(), message.size(), true, out);
  return out;
}

InflateResult inflate(MessageInflater& inflater, const Bytes& payload, Bytes& out) {
  out.clear();
  return inflater.inflate(payload.data(), payload.size(), true, out, 64 * 1024 * 1024);
}

DeflateTuning tuning(DeflateEngine engine, int level, std::uint8_t window) {
  DeflateTuning t;
  t.engine = engine;
  t.level = level;
  t.window_bits = window;
  return t;
}

TEST(DeflateEngines, IsalIsBuiltInWhereItIsInstalled) {
#if WSX_EXPECT_ISAL  // the build found libisal (tests/CMakeLists.txt)
  EXPECT_TRUE(detail::isal_deflate_built_in());
#else
  EXPECT_FALSE(detail::isal_deflate_built_in());
#endif
}

// A block of random bytes repeated at a distance just beyond the window: a compressor that looked
// further back than the negotiated window would refer to the first copy, and an inflater held to
// that window (zlib's, as every browser's) fails the message.
TEST(DeflateEngines, BothKeepEveryDistanceWithinTheWindow) {
  for (const DeflateEngine engine : {DeflateEngine::automatic, DeflateEngine::zlib}) {
    for (std::uint8_t window = 9; window <= 15; ++window) {
      for (const int level : {1, 4, 6, 9}) {
        MessageDeflater deflater(window, false, tuning(engine, level, 15));
        MessageInflater inflater(window, false);
        const Bytes block = random_bytes((std::size_t{1} << window) + 64, window * 10u + level);
        Bytes message = block;
        message.insert(message.end(), block.begin(), block.end());
        Bytes out;
        ASSERT_EQ(inflate(inflater, compress(deflater, message), out), InflateResult::ok)
            << "window " << int{window} << " level " << level;
        EXPECT_EQ(out, message);
        // And across messages: the second one repeats the first from beyond the window.
        ASSERT_EQ(inflate(inflater, compress(deflater, block), out), InflateResult::ok)
            << "window " << int{window} << " level " << level << ", second message";
        EXPECT_EQ(out, block);
      }
    }
  }
}

// Context takeover with each engine: many messages, fragmented at random, read back by zlib.
TEST(DeflateEngines, BothRoundTripFragmentedMessagesWithContextTakeover) {
  std::mt19937 rng(11);
  for (const DeflateEngine engine : {DeflateEngine::automatic, DeflateEngine::zlib}) {
    for (const bool no_takeover : {false, true}) {
      MessageDeflater deflater(12, no_takeover, tuning(engine, 6, 15));
      MessageInflater inflater(12, no_takeover);
      for (int m = 0; m < 60; ++m) {
        const Bytes message = json_text(1 + rng() % 9000, static_cast<std::uint32_t>(m % 7));
        Bytes payload;
        std::size_t pos = 0;
        while (pos < message.size()) {
          const std::size_t n = std::min<std::size_t>(message.size() - pos, 1 + rng() % 3000);
          deflater.compress(message.data() + pos, n, pos + n == message.size(), payload);
          pos += n;
        }
        Bytes out;
        ASSERT_EQ(inflate(inflater, payload, out), InflateResult::ok) << "message " << m;
        ASSERT_EQ(out, message) << "message " << m;
      }
    }
  }
}

// The same stream of messages through both engines: different bytes on the wire, the same
// messages out, and a ratio in the same range (igzip trades a little ratio for speed).
TEST(DeflateEngines, IsalAndZlibAgreeOnWhatTheyCompress) {
  MessageDeflater with_isal(15, false, tuning(DeflateEngine::automatic, 6, 11));
  MessageDeflater with_zlib(15, false, tuning(DeflateEngine::zlib, 6, 11));
  MessageInflater reads_isal(11, false), reads_zlib(11, false);
  std::size_t plain = 0, isal_bytes = 0, zlib_bytes = 0;
  for (std::uint32_t m = 0; m < 100; ++m) {
    const Bytes message = json_text(1024, m);
    const Bytes a = compress(with_isal, message);
    const Bytes b = compress(with_zlib, message);
    Bytes out;
    ASSERT_EQ(inflate(reads_isal, a, out), InflateResult::ok);
    ASSERT_EQ(out, message);
    ASSERT_EQ(inflate(reads_zlib, b, out), InflateResult::ok);
    ASSERT_EQ(out, message);
    plain += message.size();
    isal_bytes += a.size();
    zlib_bytes += b.size();
  }
  std::printf("1 KiB JSON, window 11: zlib ratio %.2f, automatic engine ratio %.2f\n",
              double(plain) / double(zlib_bytes), double(plain) / double(isal_bytes));
  EXPECT_LT(isal_bytes, plain / 2);
  EXPECT_LT(zlib_bytes, plain / 2);
}

// The next message of a connection goes on with the stream its previous message returned
// (stream_resume.hpp), whose history is longer than the window: a block repeated in the next
// message, one window and a bit later, must still not be referred to.
TEST(DeflateEngines, AResumedStreamKeepsEveryDistanceWithinTheWindow) {
  for (const DeflateEngine engine : {DeflateEngine::automatic, DeflateEngine::zlib}) {
    for (std::uint8_t window = 9; window <= 15; ++window) {
      MessageDeflater deflater(window, false, tuning(engine, 6, 15));
      // zlib's stream resumes too (whole messages would go to libdeflate, which keeps none).
      MessageInflater inflater(window, false, DeflateEngine::zlib);
      const Bytes block = random_bytes((std::size_t{1} << window) + 64, window * 7u);
      Bytes out;
      ASSERT_EQ(inflate(inflater, compress(deflater, block), out), InflateResult::ok);
      const std::size_t resumed_before = detail::resumed_lease_count;
      ASSERT_EQ(inflate(inflater, compress(deflater, block), out), InflateResult::ok)
          << "window " << int{window};
      EXPECT_EQ(out, block);
      EXPECT_EQ(detail::resumed_lease_count, resumed_before + 2);  // deflater and inflater
    }
  }
}

TEST(DeflateEngines, IsalStreamIsTheThreadsAndOnlyTheWindowStays) {
  if (!detail::isal_deflate_built_in()) GTEST_SKIP() << "built without ISA-L";
  MessageDeflater deflater(15, false, tuning(DeflateEngine::automatic, 6, 11));
  const Bytes message = json_text(3000, 1);
  Bytes first;
  deflater.compress(message.data(), 1000, false, first);
  EXPECT_TRUE(deflater.holds_stream());
  EXPECT_GT(deflater.memory_in_use(), 64 * 1024u);  // igzip's state and level buffer
  deflater.compress(message.data() + 1000, 2000, true, first);
  EXPECT_FALSE(deflater.holds_stream());
  EXPECT_LE(deflater.memory_in_use(), 2048u + 128);  // the 11-bit window
  MessageInflater inflater(11, false);
  Bytes out;
  ASSERT_EQ(inflate(inflater, first, out), InflateResult::ok);
  EXPECT_EQ(out, message);
}

}  // namespace
}  // namespace wsx::proto
