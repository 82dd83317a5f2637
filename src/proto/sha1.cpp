#include "sha1.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace wsx::proto {
namespace {

constexpr std::size_t block_size = 64;

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// One round in the form that needs no moves between rounds: the five working variables are
// passed in rotated order (a, b, c, d, e), then (e, a, b, c, d), ... so that the round only adds
// into `e` and rotates `b` (FIPS 180-4 §6.1.2 step 3 renames them instead).
template <int Phase>
inline void round(std::uint32_t a, std::uint32_t& b, std::uint32_t c, std::uint32_t d,
                  std::uint32_t& e, std::uint32_t w) noexcept {
  std::uint32_t f;
  std::uint32_t k;
  if constexpr (Phase == 0) {
    f = d ^ (b & (c ^ d));  // Ch(b, c, d)
    k = 0x5a827999;
  } else if constexpr (Phase == 1) {
    f = b ^ c ^ d;
    k = 0x6ed9eba1;
  } else if constexpr (Phase == 2) {
    f = (b & c) | (d & (b | c));  // Maj(b, c, d)
    k = 0x8f1bbcdc;
  } else {
    f = b ^ c ^ d;
    k = 0xca62c1d6;
  }
  e += std::rotl(a, 5) + f + k + w;
  b = std::rotl(b, 30);
}

// Word t of the message schedule (t >= 16), kept as a 16-word ring.
inline std::uint32_t schedule(std::uint32_t* w, int t) noexcept {
  w[t & 15] = std::rotl(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^ w[t & 15], 1);
  return w[t & 15];
}

// Rounds t .. t+19 of one phase, five at a time (the variables are back in place after five).
// Written out rather than one loop over 80 rounds that picks the function every round: the
// handshake's two blocks cost about a third of the instructions that way.
template <int Phase>
inline void phase(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c, std::uint32_t& d,
                  std::uint32_t& e, std::uint32_t* w) noexcept {
  constexpr int first = Phase * 20;
  for (int t = first; t < first + 20; t += 5) {
    const auto word = [w](int i) { return i < 16 ? w[i] : schedule(w, i); };
    round<Phase>(a, b, c, d, e, word(t));
    round<Phase>(e, a, b, c, d, word(t + 1));
    round<Phase>(d, e, a, b, c, word(t + 2));
    round<Phase>(c, d, e, a, b, word(t + 3));
    round<Phase>(b, c, d, e, a, word(t + 4));
  }
}

// One 512-bit block into the state (FIPS 180-4 §6.1.2).
void compress(std::array<std::uint32_t, 5>& state, const std::uint8_t* block) noexcept {
  std::uint32_t w[16];
  for (int t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
  std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  phase<0>(a, b, c, d, e, w);
  phase<1>(a, b, c, d, e, w);
  phase<2>(a, b, c, d, e, w);
  phase<3>(a, b, c, d, e, w);
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
}

}  // namespace

Sha1Digest sha1(std::span<const std::uint8_t> data) noexcept {
  std::array<std::uint32_t, 5> state = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  const std::size_t full = data.size() / block_size * block_size;
  for (std::size_t offset = 0; offset < full; offset += block_size) {
    compress(state, data.data() + offset);
  }
  // Padding (§5.1.1): 0x80, zeros, then the length in bits as a 64-bit big-endian number; one
  // block, or two when fewer than 9 bytes are left in the first.
  std::uint8_t tail[2 * block_size] = {};
  const std::size_t rest = data.size() - full;
  if (rest > 0) std::memcpy(tail, data.data() + full, rest);
  tail[rest] = 0x80;
  const std::size_t tail_size = rest + 9 <= block_size ? block_size : 2 * block_size;
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  store_be32(tail + tail_size - 8, static_cast<std::uint32_t>(bits >> 32));
  store_be32(tail + tail_size - 4, static_cast<std::uint32_t>(bits));
  for (std::size_t offset = 0; offset < tail_size; offset += block_size) {
    compress(state, tail + offset);
  }
  Sha1Digest digest;
  for (std::size_t i = 0; i < state.size(); ++i) store_be32(digest.data() + 4 * i, state[i]);
  return digest;
}

}  // namespace wsx::proto
