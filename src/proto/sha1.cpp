#include "sha1.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "cpu_features.hpp"

#if WSX_X86_64
#include <immintrin.h>
#endif

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
// The round constant of rounds 20 * phase .. 20 * phase + 19.
constexpr std::uint32_t round_constant(int phase) noexcept {
  constexpr std::uint32_t k[4] = {0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6};
  return k[phase];
}

// `kw` is the round constant plus the round's schedule word.
template <int Phase>
inline void round(std::uint32_t a, std::uint32_t& b, std::uint32_t c, std::uint32_t d,
                  std::uint32_t& e, std::uint32_t kw) noexcept {
  std::uint32_t f;
  if constexpr (Phase == 0) {
    f = d ^ (b & (c ^ d));  // Ch(b, c, d)
  } else if constexpr (Phase == 2) {
    f = (b & c) | (d & (b | c));  // Maj(b, c, d)
  } else {
    f = b ^ c ^ d;
  }
  e += std::rotl(a, 5) + f + kw;
  b = std::rotl(b, 30);
}

// Word t of the message schedule (t >= 16), kept as a 16-word ring.
constexpr std::uint32_t schedule(std::uint32_t* w, int t) noexcept {
  w[t & 15] = std::rotl(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^ w[t & 15], 1);
  return w[t & 15];
}

// The accept key hashes 60 bytes (a 24-character key and the 36-character GUID), so its second
// block is padding alone: zeros and the length, 480 bits. Its 80 schedule words plus round
// constants are the same for every handshake and computed here at compile time; the portable
// code (CPUs without the SHA extensions) then spends about a third fewer instructions on that
// block (callgrind, portable SHA-1 of an accept key: 4,077 -> 2,932 instructions).
constexpr std::size_t padding_only_message_size = 60;

constexpr std::array<std::uint32_t, 80> padding_block_schedule() noexcept {
  std::uint32_t w[16] = {};
  w[15] = padding_only_message_size * 8;
  std::array<std::uint32_t, 80> kw{};
  for (int t = 0; t < 80; ++t) kw[t] = round_constant(t / 20) + (t < 16 ? w[t] : schedule(w, t));
  return kw;
}

constexpr std::array<std::uint32_t, 80> padding_block_kw = padding_block_schedule();

// Rounds t .. t+19 of one phase, five at a time (the variables are back in place after five).
// Written out rather than one loop over 80 rounds that picks the function every round: the
// handshake's two blocks cost about a third of the instructions that way.
// `kw(t)` gives round t's constant plus schedule word.
template <int Phase, typename KW>
inline void phase(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c, std::uint32_t& d,
                  std::uint32_t& e, KW kw) noexcept {
  constexpr int first = Phase * 20;
  for (int t = first; t < first + 20; t += 5) {
    round<Phase>(a, b, c, d, e, kw(t));
    round<Phase>(e, a, b, c, d, kw(t + 1));
    round<Phase>(d, e, a, b, c, kw(t + 2));
    round<Phase>(c, d, e, a, b, kw(t + 3));
    round<Phase>(b, c, d, e, a, kw(t + 4));
  }
}

template <typename KW>
inline void all_rounds(std::array<std::uint32_t, 5>& state, KW kw) noexcept {
  std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  phase<0>(a, b, c, d, e, kw);
  phase<1>(a, b, c, d, e, kw);
  phase<2>(a, b, c, d, e, kw);
  phase<3>(a, b, c, d, e, kw);
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
}

// One 512-bit block into the state (FIPS 180-4 §6.1.2).
void compress_block(std::array<std::uint32_t, 5>& state, const std::uint8_t* block) noexcept {
  std::uint32_t w[16];
  for (int t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
  all_rounds(state,
             [&w](int t) { return round_constant(t / 20) + (t < 16 ? w[t] : schedule(w, t)); });
}

// compress_block of the padding block of a padding_only_message_size message.
void compress_padding_block(std::array<std::uint32_t, 5>& state) noexcept {
  all_rounds(state, [](int t) { return padding_block_kw[t]; });
}

#if WSX_X86_64
// The SHA extensions (Intel SHA-NI, in AMD Zen and Intel CPUs since Goldmont/Ice Lake): four
// rounds per SHA1RNDS4, the schedule by SHA1MSG1/SHA1MSG2, E by SHA1NEXTE. The state is kept
// as ABCD in one register (A in the top lane) and E in the top lane of another.
WSX_TARGET_SHA __m128i four_rounds(__m128i abcd, __m128i e_plus_w, int phase) noexcept {
  switch (phase) {  // the instruction takes its round function as an immediate
    case 0:
      return _mm_sha1rnds4_epu32(abcd, e_plus_w, 0);
    case 1:
      return _mm_sha1rnds4_epu32(abcd, e_plus_w, 1);
    case 2:
      return _mm_sha1rnds4_epu32(abcd, e_plus_w, 2);
    default:
      return _mm_sha1rnds4_epu32(abcd, e_plus_w, 3);
  }
}

WSX_TARGET_SHA void compress_shani(std::array<std::uint32_t, 5>& state, const std::uint8_t* blocks,
                                   std::size_t count) noexcept {
  // Reverses the 16 bytes: each word big-endian, and word 0 in the top lane.
  const __m128i reverse = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
  __m128i abcd =
      _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(state.data())), 0x1B);
  __m128i e0 = _mm_set_epi32(static_cast<int>(state[4]), 0, 0, 0);
  for (std::size_t block = 0; block < count; ++block, blocks += block_size) {
    const __m128i abcd_before = abcd;
    const __m128i e_before = e0;
    __m128i w[4];  // words 4j .. 4j+3 of the schedule, group j in w[j % 4]
    for (int i = 0; i < 4; ++i) {
      w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + 16 * i)),
                              reverse);
    }
    __m128i abcd_earlier = abcd;  // ABCD four rounds back: its A, rotated, is the next E
    for (int j = 0; j < 20; ++j) {
      if (j >= 4) {  // W[t] = rotl1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]), four at a time
        w[j % 4] = _mm_sha1msg2_epu32(
            _mm_xor_si128(_mm_sha1msg1_epu32(w[j % 4], w[(j + 1) % 4]), w[(j + 2) % 4]),
            w[(j + 3) % 4]);
      }
      const __m128i e_plus_w =
          j == 0 ? _mm_add_epi32(e0, w[0]) : _mm_sha1nexte_epu32(abcd_earlier, w[j % 4]);
      abcd_earlier = abcd;
      abcd = four_rounds(abcd, e_plus_w, j / 5);
    }
    e0 = _mm_sha1nexte_epu32(abcd_earlier, e_before);
    abcd = _mm_add_epi32(abcd, abcd_before);
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state.data()), _mm_shuffle_epi32(abcd, 0x1B));
  state[4] = static_cast<std::uint32_t>(_mm_extract_epi32(e0, 3));
}
#endif

void compress_portable(std::array<std::uint32_t, 5>& state, const std::uint8_t* blocks,
                       std::size_t count) noexcept {
  for (std::size_t block = 0; block < count; ++block) {
    compress_block(state, blocks + block * block_size);
  }
}

using Compress = void (*)(std::array<std::uint32_t, 5>&, const std::uint8_t*, std::size_t) noexcept;

Compress best_compress() noexcept {
#if WSX_X86_64
  if (detail::cpu_has_sha()) return compress_shani;
#endif
  return compress_portable;
}

Sha1Digest sha1_with(std::span<const std::uint8_t> data, Compress compress) noexcept {
  std::array<std::uint32_t, 5> state = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  const std::size_t full = data.size() / block_size;
  if (full > 0) compress(state, data.data(), full);
  // Padding (§5.1.1): 0x80, zeros, then the length in bits as a 64-bit big-endian number; one
  // block, or two when fewer than 9 bytes are left in the first.
  std::uint8_t tail[2 * block_size] = {};
  const std::size_t rest = data.size() - full * block_size;
  if (rest > 0) std::memcpy(tail, data.data() + full * block_size, rest);
  tail[rest] = 0x80;
  const std::size_t tail_size = rest + 9 <= block_size ? block_size : 2 * block_size;
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  store_be32(tail + tail_size - 8, static_cast<std::uint32_t>(bits >> 32));
  store_be32(tail + tail_size - 4, static_cast<std::uint32_t>(bits));
  if (compress == compress_portable && data.size() == padding_only_message_size) {
    compress_block(state, tail);
    compress_padding_block(state);
  } else {
    compress(state, tail, tail_size / block_size);
  }
  Sha1Digest digest;
  for (std::size_t i = 0; i < state.size(); ++i) store_be32(digest.data() + 4 * i, state[i]);
  return digest;
}

}  // namespace

Sha1Digest sha1(std::span<const std::uint8_t> data) noexcept {
  static const Compress compress = best_compress();
  return sha1_with(data, compress);
}

Sha1Digest sha1_portable(std::span<const std::uint8_t> data) noexcept {
  return sha1_with(data, compress_portable);
}

}  // namespace wsx::proto
