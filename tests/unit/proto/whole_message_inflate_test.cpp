// Whole messages inflated with libdeflate (whole_message_inflate.hpp) mean what zlib reads, under
// every window RFC 7692 allows, with and without context takeover, mixed with fragmented
// messages that zlib inflates from the same window.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "deflate_samples.hpp"
#include "proto/inflater_internals.hpp"
#include "proto/whole_message_inflate.hpp"
#include "wsx/proto/deflate.hpp"

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

using test::json_text;
using test::random_bytes;

DeflateTuning zlib_tuning(std::uint8_t window) {
  DeflateTuning t;
  t.engine = DeflateEngine::zlib;
  t.window_bits = window;
  return t;
}

Bytes compress(MessageDeflater& deflater, const Bytes& message) {
  Bytes out;
  deflater.compress(message.data(), message.size(), true, out);
  return out;
}

// The payload in two fragments (so zlib inflates it), or whole.
InflateResult inflate(MessageInflater& inflater, const Bytes& payload, bool fragmented, Bytes& out,
                      std::size_t limit = 1 << 20) {
  out.clear();
  if (!fragmented) return inflater.inflate(payload.data(), payload.size(), true, out, limit);
  const std::size_t half = payload.size() / 2;
  const InflateResult first = inflater.inflate(payload.data(), half, false, out, limit);
  if (first != InflateResult::ok) return first;
  return inflater.inflate(payload.data() + half, payload.size() - half, true, out, limit);
}

TEST(WholeMessageInflate, LibdeflateIsBuiltInWhereItIsInstalled) {
#if WSX_EXPECT_LIBDEFLATE  // the build found libdeflate (tests/CMakeLists.txt)
  EXPECT_TRUE(detail::whole_message_inflate_built_in());
#else
  EXPECT_FALSE(detail::whole_message_inflate_built_in());
#endif
}

// Every window 8-15, context takeover on and off: messages that refer back into earlier ones
// (and into the window's far end), whole and fragmented in turn, so zlib goes on from windows
// that libdeflate left and the other way round. The default inflater and a zlib-only one read
// the same bytes.
TEST(WholeMessageInflate, EveryWindowAndTakeoverModeReadsWhatZlibReads) {
  for (std::uint8_t window = 8; window <= 15; ++window) {
    for (const bool no_takeover : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << "window " << int{window} << " no takeover " << no_takeover);
      MessageDeflater deflater(window, no_takeover, zlib_tuning(window));
      MessageInflater inflater(window, no_takeover);
      MessageInflater zlib_only(window, no_takeover, DeflateEngine::zlib);
      std::size_t whole_messages = 0;
      std::mt19937 rng(window * 2u + no_takeover);
      const Bytes block = random_bytes((std::size_t{1} << window) - 40, window);
      // The history the inflater keeps: libdeflate gets it and the message within 32 KiB.
      const std::size_t kept = window == 8 ? 256 : std::size_t{1} << window;
      std::size_t history = 0;
      for (int m = 0; m < 40; ++m) {
        Bytes message;
        switch (m % 5) {
          case 0:
            message = json_text(1 + rng() % 3000, static_cast<std::uint32_t>(m % 3));
            break;
          case 1:
            message = block;
            break;  // repeats from up to a whole window back
          case 2:
            message = random_bytes(rng() % 300, static_cast<std::uint32_t>(m));
            break;
          case 3:
            message = json_text(40000, 5);
            break;  // beyond 32 KiB: zlib's
          default:
            message = {};
            break;
        }
        const Bytes payload = compress(deflater, message);
        const bool fragmented = m % 7 == 3 || m % 7 == 6;
        // (A one-octet payload's first half is empty: the second fragment brings it whole.)
        if ((!fragmented || payload.size() < 2) &&
            history + message.size() <= detail::deflate_max_distance &&
            history < detail::deflate_max_distance &&
            payload.size() <= detail::whole_message_max_output)
          ++whole_messages;
        if (!no_takeover) history = std::min(history + message.size(), kept);
        Bytes out, zlib_out;
        ASSERT_EQ(inflate(inflater, payload, fragmented, out), InflateResult::ok) << m;
        ASSERT_EQ(out, message) << m;
        ASSERT_EQ(inflate(zlib_only, payload, false, zlib_out), InflateResult::ok) << m;
        ASSERT_EQ(zlib_out, message) << m;
      }
      // Every whole message that fits in 32 KiB after the window went through libdeflate.
      if (detail::whole_message_inflate_built_in()) {
        EXPECT_EQ(detail::InflaterInternals::whole_messages_inflated(inflater), whole_messages);
      }
      EXPECT_EQ(inflater.allocated(), !no_takeover);
    }
  }
}

// The zlib stream a connection ended its last fragmented message on must not be resumed after a
// whole message went through libdeflate: its history lacks that message.
TEST(WholeMessageInflate, ZlibIsPrimedAgainAfterAWholeMessage) {
  MessageDeflater deflater(15, false, zlib_tuning(15));
  MessageInflater inflater(15, false);
  const Bytes first = random_bytes(2000, 1);
  const Bytes second = random_bytes(2000, 2);
  Bytes out;
  ASSERT_EQ(inflate(inflater, compress(deflater, first), true, out), InflateResult::ok);
  ASSERT_EQ(inflate(inflater, compress(deflater, second), false, out), InflateResult::ok);
  ASSERT_EQ(out, second);
  // All back references into `second`, which only libdeflate saw.
  const Bytes third = compress(deflater, second);
  EXPECT_LT(third.size(), 50u);
  ASSERT_EQ(inflate(inflater, third, true, out), InflateResult::ok);
  EXPECT_EQ(out, second);
}

// What zlib refuses libdeflate's path refuses too, and limits hold as before: a message larger
// than the limit, or a final block inside the message, is left to zlib.
TEST(WholeMessageInflate, FailuresAndLimitsAreZlibs) {
  const Bytes message = json_text(5000, 3);
  {
    MessageDeflater deflater(15, false, zlib_tuning(15));
    MessageInflater inflater(15, false);
    Bytes out;
    EXPECT_EQ(inflate(inflater, compress(deflater, message), false, out, message.size() - 1),
              InflateResult::too_big);
    EXPECT_EQ(out.size(), message.size());  // the limit plus the byte that showed it
  }
  {
    MessageDeflater deflater(15, false, zlib_tuning(15));
    MessageInflater inflater(15, false);
    Bytes out;
    EXPECT_EQ(inflate(inflater, compress(deflater, message), false, out, message.size()),
              InflateResult::ok);
    EXPECT_EQ(out, message);
  }
  {
    // A distance beyond the start of the history: corrupt, as zlib says.
    MessageInflater inflater(15, false);
    Bytes out;
    EXPECT_EQ(inflate(inflater, Bytes{0xf2, 0x00, 0x11, 0x00, 0x00}, false, out),
              InflateResult::corrupt);
    EXPECT_EQ(inflater.failure(), InflateResult::corrupt);
  }
  {
    // A back reference beyond the 256-byte window of an 8-bit inflater, in the second message:
    // corrupt on both paths.
    const Bytes block = random_bytes(300, 4);
    MessageDeflater deflater(10, false, zlib_tuning(10));
    const Bytes first = compress(deflater, block);
    const Bytes second = compress(deflater, block);
    for (const DeflateEngine engine : {DeflateEngine::automatic, DeflateEngine::zlib}) {
      MessageInflater inflater(8, false, engine);
      Bytes out;
      ASSERT_EQ(inflate(inflater, first, false, out), InflateResult::ok);
      EXPECT_EQ(inflate(inflater, second, false, out), InflateResult::corrupt);
    }
  }
}

}  // namespace
}  // namespace wsx::proto
