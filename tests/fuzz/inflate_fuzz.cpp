// Fuzzes MessageInflater with hostile payloads, and MessageDeflater -> MessageInflater round trips.
//
// Input: [config][knob][seed] then messages, each as a 2-byte little-endian length and its bytes
// (the last one takes whatever remains).
//   config bits 0-2: window bits - 8; bit 3: no context takeover; bit 4: round-trip mode.
//   inflate mode: knob picks the size limit; seed the fragment cut points.
//   round-trip mode: knob picks level and memLevel; seed the tuning window and cut points.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string_view>
#include <vector>

#include <zlib.h>

#include "wsx/proto/deflate.hpp"

namespace {

using wsx::proto::DeflateEngine;
using wsx::proto::DeflateTuning;
using wsx::proto::InflateResult;
using wsx::proto::MessageDeflater;
using wsx::proto::MessageInflater;
using Bytes = std::vector<std::uint8_t>;

void check(bool condition) {
  if (!condition) std::abort();
}

std::vector<Bytes> split_messages(const std::uint8_t* data, std::size_t size) {
  std::vector<Bytes> messages;
  while (size > 0) {
    std::size_t length = size;
    if (size >= 2) {
      length = std::min<std::size_t>(size - 2, data[0] | (std::size_t{data[1]} << 8));
      data += 2;
      size -= 2;
    } else {
      length = size;
    }
    messages.emplace_back(data, data + length);
    data += length;
    size -= length;
  }
  return messages;
}

// Up to 4 ascending cut points in [0, size].
std::vector<std::size_t> cuts(std::size_t size, std::minstd_rand& rng) {
  std::vector<std::size_t> points(rng() % 5);
  for (auto& p : points) p = size == 0 ? 0 : rng() % (size + 1);
  std::sort(points.begin(), points.end());
  return points;
}

InflateResult inflate_fragments(MessageInflater& inflater, const Bytes& payload,
                                std::vector<std::size_t> points, Bytes& out, std::size_t limit) {
  points.push_back(payload.size());
  std::size_t begin = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const bool fin = i + 1 == points.size();
    const InflateResult r =
        inflater.inflate(payload.data() + begin, points[i] - begin, fin, out, limit);
    if (r != InflateResult::ok) return r;
    begin = points[i];
  }
  return InflateResult::ok;
}

// zlib's own words for why it refuses `payload` after `history` (one inflate() call, output up to
// limit + 1 bytes, as the inflater gives it), or nullptr if it does not.
const char* zlib_refusal(const Bytes& history, const Bytes& payload, std::size_t limit) {
  Bytes in = payload;
  in.insert(in.end(), {0x00, 0x00, 0xff, 0xff});
  Bytes out(limit + 1);
  z_stream z{};
  check(inflateInit2(&z, -15) == Z_OK);
  if (!history.empty())
    check(inflateSetDictionary(&z, history.data(), static_cast<uInt>(history.size())) == Z_OK);
  z.next_in = in.data();
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_SYNC_FLUSH);
  const char* why = rc == Z_DATA_ERROR ? z.msg : nullptr;
  inflateEnd(&z);
  return why;
}

// The streams libdeflate reads and zlib refuses that docs/05-deflate-memory.md documents: a
// Huffman code description zlib finds invalid (an incomplete code, more than 286 literal/length
// or 30 distance codes announced), and the literal/length symbols 286 and 287 (or a codeword an
// incomplete code leaves unused), which zlib calls an invalid literal/length code. Not distance
// codes 30 and 31 nor any distance over 32768: libdeflate is never given enough output for them
// (whole_message_inflate.cpp), so zlib decides, and a disagreement there is a defect like any
// other.
bool documented_leniency(const char* zlib_says) {
  if (zlib_says == nullptr) return false;
  const std::string_view why = zlib_says;
  return why == "too many length or distance symbols" || why == "invalid code lengths set" ||
         why == "invalid literal/lengths set" || why == "invalid distances set" ||
         why == "invalid literal/length code";
}

void fuzz_inflate(std::uint8_t window, bool no_takeover, std::uint8_t knob, std::uint8_t seed,
                  const std::vector<Bytes>& messages) {
  const std::size_t limit = knob < 32 ? knob : std::size_t{knob} << 10;  // 0-31 B or 32-255 KiB
  std::minstd_rand rng(seed + 1u);
  // zlib alone, fragmented and whole; and whole messages as they are inflated by default
  // (libdeflate where built in, see whole_message_inflate.hpp).
  MessageInflater fragmented(window, no_takeover, DeflateEngine::zlib);
  MessageInflater whole(window, no_takeover, DeflateEngine::zlib);
  MessageInflater whole_default(window, no_takeover);
  // What the inflaters keep of the earlier messages: 2^window bytes, 256 at window 8
  // (deflate_codec.cpp).
  const std::size_t kept = window == 8 ? 256 : std::size_t{1} << window;
  Bytes history;
  for (const Bytes& payload : messages) {
    Bytes out_fragmented, out_whole, out_default;
    const InflateResult a =
        inflate_fragments(fragmented, payload, cuts(payload.size(), rng), out_fragmented, limit);
    const InflateResult b = whole.inflate(payload.data(), payload.size(), true, out_whole, limit);
    const InflateResult c =
        whole_default.inflate(payload.data(), payload.size(), true, out_default, limit);
    // libdeflate reads some streams zlib refuses (an incomplete Huffman code, say); whatever
    // zlib reads it reads the same. Past such a message the two histories differ.
    if (b == InflateResult::corrupt && c == InflateResult::ok) {
      check(documented_leniency(zlib_refusal(history, payload, limit)));
      return;
    }
    check(b == c);
    if (b != InflateResult::corrupt) check(out_whole == out_default);
    // How the payload is cut into fragments never changes what it means.
    check(a == b);
    if (a != InflateResult::corrupt) check(out_fragmented == out_whole);
    if (a == InflateResult::ok) check(out_whole.size() <= limit);
    if (a == InflateResult::too_big) check(out_whole.size() == limit + 1);
    if (a != InflateResult::ok) {
      // Failures are final and release zlib.
      check(!whole.allocated() && whole.failure() == a);
      Bytes more;
      check(whole.inflate(payload.data(), payload.size(), true, more, limit) == a && more.empty());
      return;
    }
    if (no_takeover) continue;
    history.insert(history.end(), out_whole.begin(), out_whole.end());
    if (history.size() > kept)
      history.erase(history.begin(), history.end() - static_cast<std::ptrdiff_t>(kept));
  }
}

void fuzz_round_trip(std::uint8_t window, bool no_takeover, std::uint8_t knob, std::uint8_t seed,
                     const std::vector<Bytes>& messages) {
  DeflateTuning tuning;
  tuning.level = knob % 10;
  tuning.mem_level = 1 + (knob / 10) % 9;
  tuning.window_bits = static_cast<std::uint8_t>(8 + (seed & 7));
  std::minstd_rand rng(seed + 1u);
  MessageDeflater deflater(window, no_takeover, tuning);
  MessageInflater inflater(window, no_takeover);
  for (const Bytes& message : messages) {
    Bytes payload;
    std::size_t begin = 0;
    for (std::size_t cut : cuts(message.size(), rng)) {
      deflater.compress(message.data() + begin, cut - begin, false, payload);
      begin = cut;
    }
    deflater.compress(message.data() + begin, message.size() - begin, true, payload);
    if (window == 8) check(payload.size() >= message.size());  // stored blocks only

    Bytes out;
    check(inflate_fragments(inflater, payload, cuts(payload.size(), rng), out, message.size()) ==
          InflateResult::ok);
    check(out == message);
    if (no_takeover) {
      MessageInflater fresh(window, true);
      Bytes alone;
      check(fresh.inflate(payload.data(), payload.size(), true, alone, message.size()) ==
            InflateResult::ok);
      check(alone == message);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t config = data[0];
  const auto window = static_cast<std::uint8_t>(8 + (config & 7));
  const bool no_takeover = (config & 8) != 0;
  const auto messages = split_messages(data + 3, size - 3);
  if (config & 16) {
    fuzz_round_trip(window, no_takeover, data[1], data[2], messages);
  } else {
    fuzz_inflate(window, no_takeover, data[1], data[2], messages);
  }
  return 0;
}
