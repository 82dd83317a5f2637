// UTF-8 validation, 64 bytes per step with AVX2.
//
// The idea is the "lookup" method published by Keiser and Lemire (2021), written here from the
// rules of Unicode Table 3-7. Almost every way a byte can be wrong shows in the pair (previous
// byte, this byte), and in fact in three nibbles of it: the previous byte's high and low nibble
// and this byte's high nibble. Each error kind gets one bit; three 16-entry tables give, for a
// nibble value, the kinds that nibble is compatible with; a byte is in error when the AND of its
// three lookups is not zero. The one rule a pair cannot see — a continuation byte after a
// continuation byte is right only in the third or fourth byte of a character — is settled by
// looking two and three bytes back for a 3- or 4-byte lead.
//
// A block that passes is a valid prefix: it may end in an unfinished character, which the next
// block (or the scalar state machine, for the tail) checks. A block that fails is handed to the
// state machine too, which finds the exact byte.
#include "utf8_internal.hpp"

#if WSX_X86_64
#include <immintrin.h>

namespace wsx::proto::detail {
namespace {

// Error kinds, one bit each. "prev" is the byte before the one being checked.
constexpr std::uint8_t too_short = 1 << 0;  // prev is a lead byte, this one is no continuation
constexpr std::uint8_t too_long = 1 << 1;   // prev is ASCII, this one is a continuation
constexpr std::uint8_t overlong3 = 1 << 2;  // E0 followed by 80..9F
constexpr std::uint8_t too_large = 1 << 3;  // F4..FF followed by 90..BF
constexpr std::uint8_t surrogate = 1 << 4;  // ED followed by A0..BF
constexpr std::uint8_t overlong2 = 1 << 5;  // C0 or C1 followed by a continuation
// F0 followed by 80..8F (overlong) or F5..FF followed by 80..8F (too large): one bit for both,
// because together they are again a product of nibble conditions.
constexpr std::uint8_t f_then_8x = 1 << 6;
constexpr std::uint8_t two_continuations = 1 << 7;  // needs a 3- or 4-byte lead further back

// Indexed by the previous byte's high nibble.
constexpr std::uint8_t by_prev_high[16] = {
    too_long,
    too_long,
    too_long,
    too_long,
    too_long,
    too_long,
    too_long,
    too_long,  // 0..7
    two_continuations,
    two_continuations,
    two_continuations,
    two_continuations,                  // 8..B
    too_short | overlong2,              // C
    too_short,                          // D
    too_short | overlong3 | surrogate,  // E
    too_short | too_large | f_then_8x,  // F
};

// Indexed by the previous byte's low nibble. The kinds that do not depend on it are in every
// entry.
constexpr std::uint8_t any_low = too_short | too_long | two_continuations;
constexpr std::uint8_t by_prev_low[16] = {
    any_low | overlong2 | overlong3 | f_then_8x,  // x0: C0, E0, F0
    any_low | overlong2,                          // x1: C1
    any_low,                                      // x2
    any_low,                                      // x3
    any_low | too_large,                          // x4: F4
    any_low | too_large | f_then_8x,              // x5
    any_low | too_large | f_then_8x,              // x6
    any_low | too_large | f_then_8x,              // x7
    any_low | too_large | f_then_8x,              // x8
    any_low | too_large | f_then_8x,              // x9
    any_low | too_large | f_then_8x,              // xA
    any_low | too_large | f_then_8x,              // xB
    any_low | too_large | f_then_8x,              // xC
    any_low | too_large | f_then_8x | surrogate,  // xD: ED (and FD)
    any_low | too_large | f_then_8x,              // xE
    any_low | too_large | f_then_8x,              // xF
};

// Indexed by this byte's high nibble.
constexpr std::uint8_t continuation_kinds = too_long | overlong2 | two_continuations;
constexpr std::uint8_t by_this_high[16] = {
    too_short,
    too_short,
    too_short,
    too_short,
    too_short,
    too_short,
    too_short,
    too_short,
    continuation_kinds | overlong3 | f_then_8x,  // 8
    continuation_kinds | overlong3 | too_large,  // 9
    continuation_kinds | too_large | surrogate,  // A
    continuation_kinds | too_large | surrogate,  // B
    too_short,
    too_short,
    too_short,
    too_short,  // C..F
};

WSX_TARGET_AVX2 __m256i table_vector(const std::uint8_t (&table)[16]) {
  const __m128i lane = _mm_loadu_si128(reinterpret_cast<const __m128i*>(table));
  return _mm256_broadcastsi128_si256(lane);  // vpshufb looks up within each 128-bit lane
}

// The bytes of `current` moved up by N positions, the last N bytes of `previous` shifted in.
template <int N>
WSX_TARGET_AVX2 __m256i bytes_before(__m256i current, __m256i previous) {
  const __m256i straddle = _mm256_permute2x128_si256(previous, current, 0x21);
  return _mm256_alignr_epi8(current, straddle, 16 - N);
}

struct Tables {
  __m256i prev_high;
  __m256i prev_low;
  __m256i this_high;
};

WSX_TARGET_AVX2 __m256i high_nibbles(__m256i v) {
  return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
}

// Non-zero bytes where `current` (preceded by `previous`) breaks a rule.
WSX_TARGET_AVX2 __m256i errors_in(__m256i current, __m256i previous, const Tables& t) {
  const __m256i prev1 = bytes_before<1>(current, previous);
  const __m256i kinds = _mm256_and_si256(
      _mm256_and_si256(
          _mm256_shuffle_epi8(t.prev_high, high_nibbles(prev1)),
          _mm256_shuffle_epi8(t.prev_low, _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)))),
      _mm256_shuffle_epi8(t.this_high, high_nibbles(current)));
  // A continuation after a continuation must be the 3rd byte after E0..FF or the 4th after F0..FF.
  const __m256i prev2 = bytes_before<2>(current, previous);
  const __m256i prev3 = bytes_before<3>(current, previous);
  const __m256i third_byte = _mm256_subs_epu8(prev2, _mm256_set1_epi8(static_cast<char>(0xDF)));
  const __m256i fourth_byte = _mm256_subs_epu8(prev3, _mm256_set1_epi8(static_cast<char>(0xEF)));
  // Both are at most 0x20, so a signed compare with zero is exact.
  const __m256i must_continue = _mm256_and_si256(
      _mm256_cmpgt_epi8(_mm256_or_si256(third_byte, fourth_byte), _mm256_setzero_si256()),
      _mm256_set1_epi8(static_cast<char>(two_continuations)));
  return _mm256_xor_si256(kinds, must_continue);
}

// Non-zero if the block ends inside a character: a lead byte in one of its last three bytes
// that needs more bytes than are left.
WSX_TARGET_AVX2 __m256i unfinished(__m256i block) {
  const __m256i limits =
      _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                       -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, static_cast<char>(0xEF),
                       static_cast<char>(0xDF), static_cast<char>(0xBF));
  return _mm256_subs_epu8(block, limits);
}

}  // namespace

WSX_TARGET_AVX2 std::uint32_t utf8_validate_avx2(std::uint32_t state, const std::uint8_t* data,
                                                 std::size_t size) noexcept {
  std::size_t i = 0;
  // Finish the character the previous piece left open.
  while (i < size && state != utf8_accept && state != utf8_reject)
    state = utf8_step(state, data[i++]);
  if (state != utf8_accept || size - i < 64) {
    return utf8_validate_scalar(state, data + i, size - i);
  }

  const Tables tables{table_vector(by_prev_high), table_vector(by_prev_low),
                      table_vector(by_this_high)};
  const std::size_t begin = i;
  std::size_t good = i;  // [begin, good) is a valid prefix: no bad byte, perhaps unfinished
  __m256i previous = _mm256_setzero_si256();  // `begin` is between characters, as after ASCII
  __m256i previous_unfinished = _mm256_setzero_si256();
  for (; i + 64 <= size; i += 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 32));
    if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
      // All ASCII: wrong only if the previous block left a character unfinished.
      if (!_mm256_testz_si256(previous_unfinished, previous_unfinished)) break;
    } else {
      const __m256i errors =
          _mm256_or_si256(errors_in(a, previous, tables), errors_in(b, a, tables));
      if (!_mm256_testz_si256(errors, errors)) break;
      previous_unfinished = unfinished(b);
    }
    previous = b;
    good = i + 64;
  }

  // Restart the state machine at the first byte of the character that straddles `good` (the
  // last byte before it that is no continuation, at most three back), and let it check the rest:
  // the tail, or the failed block to find its exact byte.
  std::size_t start = good;
  for (std::size_t back = 1; back <= 3 && back <= good - begin; ++back) {
    if ((data[good - back] & 0xC0) != 0x80) {
      start = good - back;
      break;
    }
  }
  return utf8_validate_scalar(utf8_accept, data + start, size - start);
}

}  // namespace wsx::proto::detail
#endif  // WSX_X86_64
