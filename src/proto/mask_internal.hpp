// Private to src/proto and its tests: every implementation of apply_mask, so a test can compare
// each one the CPU can run with the bytewise reference.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu_features.hpp"
#if WSX_X86_64
#include <emmintrin.h>
#endif
#include "wsx/proto/frame.hpp"

namespace wsx::proto::detail {

// Portable: eight bytes per step through 64-bit words. Runs on any CPU.
std::size_t apply_mask_words(std::uint8_t* data, std::size_t size, const MaskKey& key,
                             std::size_t key_offset) noexcept;

#if WSX_X86_64
// SSE2 is part of x86-64, so this one needs no CPU check.
std::size_t apply_mask_sse2(std::uint8_t* data, std::size_t size, const MaskKey& key,
                            std::size_t key_offset) noexcept;
// Call only when cpu_has_avx2() is true.
std::size_t apply_mask_avx2(std::uint8_t* data, std::size_t size, const MaskKey& key,
                            std::size_t key_offset) noexcept;
#endif

}  // namespace wsx::proto::detail

namespace wsx::proto::detail {

// The key as a word in memory order, starting at key phase `phase` (0-3).
inline std::uint32_t key_word_at(std::uint32_t key_word, std::size_t phase) noexcept {
  const auto bits = static_cast<int>(8 * phase);
  if constexpr (std::endian::native == std::endian::little) return std::rotr(key_word, bits);
  return std::rotl(key_word, bits);
}

// The payload of a short masked message, unmasked from key phase 0 (its frame's mask offset is
// then size % 4), and whether every byte of it is ASCII: a text message that is needs no UTF-8
// validation. One pass that ORs what it writes, inline in the reader of whole short messages.
// Its last word is loaded (and unmasked at its own key phase) before anything is stored and
// stored last: it may overlap the words before it, whose bytes it then writes again with the
// same values. So every length from 4 up takes whole words only, without a loop for the rest
// (16-byte text: ~12 instructions; the bytes after whole words cost ~30 more in their own
// steps, and apply_mask with is_valid_utf8 cost 57).
inline bool unmask_short_is_ascii(std::uint8_t* data, std::size_t size,
                                  const MaskKey& key) noexcept {
  std::uint32_t key_word;
  std::memcpy(&key_word, key.data(), sizeof key_word);
  constexpr std::uint64_t high_bits = 0x8080808080808080u;
#if WSX_X86_64
  if (size >= 16) {
    const __m128i last_pattern = _mm_set1_epi32(static_cast<int>(key_word_at(key_word, size % 4)));
    const __m128i last = _mm_xor_si128(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + size - 16)), last_pattern);
    const __m128i pattern = _mm_set1_epi32(static_cast<int>(key_word));
    __m128i seen = last;
    for (std::size_t i = 0; i + 16 < size; i += 16) {  // phase 0 at every multiple of 16
      const __m128i word =
          _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i)), pattern);
      seen = _mm_or_si128(seen, word);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(data + i), word);
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(data + size - 16), last);
    return _mm_movemask_epi8(seen) == 0;
  }
#endif
  if (size >= 8) {
    const std::uint32_t last_key = key_word_at(key_word, size % 4);
    const std::uint64_t last_pattern = (std::uint64_t{last_key} << 32) | last_key;
    std::uint64_t last;
    std::memcpy(&last, data + size - 8, sizeof last);
    last ^= last_pattern;
    const std::uint64_t pattern = (std::uint64_t{key_word} << 32) | key_word;
    std::uint64_t seen = last;
    for (std::size_t i = 0; i + 8 < size; i += 8) {  // phase 0 at every multiple of 8
      std::uint64_t word;
      std::memcpy(&word, data + i, sizeof word);
      word ^= pattern;
      seen |= word;
      std::memcpy(data + i, &word, sizeof word);
    }
    std::memcpy(data + size - 8, &last, sizeof last);
    return (seen & high_bits) == 0;
  }
  if (size >= 4) {
    std::uint32_t first;
    std::uint32_t last;
    std::memcpy(&first, data, sizeof first);
    std::memcpy(&last, data + size - 4, sizeof last);
    first ^= key_word;
    last ^= key_word_at(key_word, size % 4);
    std::memcpy(data + size - 4, &last, sizeof last);
    std::memcpy(data, &first, sizeof first);
    return ((first | last) & static_cast<std::uint32_t>(high_bits)) == 0;
  }
  std::uint8_t seen = 0;
  for (std::size_t i = 0; i < size; ++i) {
    data[i] ^= key[i];
    seen |= data[i];
  }
  return (seen & 0x80) == 0;
}

}  // namespace wsx::proto::detail
