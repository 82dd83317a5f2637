// Masking (RFC 6455 §5.3). The key has period 4, so eight key bytes laid side by side form a
// 64-bit word — and 16 or 32 of them a vector — that masks any run of data starting at the same
// key phase. Each implementation XORs whole words and leaves at most a few bytes to the end.
#include "wsx/proto/mask.hpp"

#include <bit>
#include <cstring>

#include "mask_internal.hpp"

#if WSX_X86_64
#include <immintrin.h>
#endif

namespace wsx::proto {
namespace {

// Written so that key_offset + size cannot overflow.
constexpr std::size_t offset_after(std::size_t key_offset, std::size_t size) noexcept {
  return ((key_offset & 3) + (size & 3)) & 3;
}

// The key repeated over eight bytes in memory order, starting with key[key_offset % 4].
std::uint64_t key_pattern(const MaskKey& key, std::size_t key_offset) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    // A rotation of the key read as one word: a few instructions where a byte loop took ~50,
    // which every 16-byte message paid (callgrind, echo of 16-byte messages).
    std::uint32_t word;
    std::memcpy(&word, key.data(), sizeof word);
    word = std::rotr(word, static_cast<int>((key_offset & 3) * 8));
    return (std::uint64_t{word} << 32) | word;
  } else {
    std::uint8_t bytes[8];
    for (std::size_t j = 0; j < 8; ++j) bytes[j] = key[(key_offset + j) & 3];
    std::uint64_t pattern;
    std::memcpy(&pattern, bytes, sizeof pattern);
    return pattern;
  }
}

// XORs data[0, size) with `pattern`, whose first byte lines up with data[0]. memcpy keeps the
// unaligned loads and stores well defined; compilers turn it into plain moves.
void xor_words(std::uint8_t* data, std::size_t size, std::uint64_t pattern) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, sizeof word);
    word ^= pattern;
    std::memcpy(data + i, &word, sizeof word);
  }
  std::uint8_t bytes[8];
  std::memcpy(bytes, &pattern, sizeof bytes);
  for (; i < size; ++i) data[i] ^= bytes[i & 7];
}

}  // namespace

namespace detail {

std::size_t apply_mask_words(std::uint8_t* data, std::size_t size, const MaskKey& key,
                             std::size_t key_offset) noexcept {
  xor_words(data, size, key_pattern(key, key_offset));
  return offset_after(key_offset, size);
}

#if WSX_X86_64

std::size_t apply_mask_sse2(std::uint8_t* data, std::size_t size, const MaskKey& key,
                            std::size_t key_offset) noexcept {
  const std::uint64_t pattern = key_pattern(key, key_offset);
  const __m128i k = _mm_set1_epi64x(static_cast<long long>(pattern));
  std::size_t i = 0;
  for (; i + 64 <= size; i += 64) {
    auto* p = reinterpret_cast<__m128i*>(data + i);
    const __m128i a = _mm_loadu_si128(p);
    const __m128i b = _mm_loadu_si128(p + 1);
    const __m128i c = _mm_loadu_si128(p + 2);
    const __m128i d = _mm_loadu_si128(p + 3);
    _mm_storeu_si128(p, _mm_xor_si128(a, k));
    _mm_storeu_si128(p + 1, _mm_xor_si128(b, k));
    _mm_storeu_si128(p + 2, _mm_xor_si128(c, k));
    _mm_storeu_si128(p + 3, _mm_xor_si128(d, k));
  }
  for (; i + 16 <= size; i += 16) {
    auto* p = reinterpret_cast<__m128i*>(data + i);
    _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), k));
  }
  // i is a multiple of 16, so the pattern's phase at data + i is unchanged.
  xor_words(data + i, size - i, pattern);
  return offset_after(key_offset, size);
}

WSX_TARGET_AVX2 std::size_t apply_mask_avx2(std::uint8_t* data, std::size_t size,
                                            const MaskKey& key, std::size_t key_offset) noexcept {
  std::size_t i = 0;
  if (size >= 256) {
    // Large payloads: align the stores so that no 32-byte access straddles two cache lines.
    i = (32 - (reinterpret_cast<std::uintptr_t>(data) & 31)) & 31;
    xor_words(data, i, key_pattern(key, key_offset));
  }
  const std::uint64_t pattern = key_pattern(key, key_offset + i);
  const __m256i k = _mm256_set1_epi64x(static_cast<long long>(pattern));
  for (; i + 128 <= size; i += 128) {
    auto* p = reinterpret_cast<__m256i*>(data + i);
    const __m256i a = _mm256_loadu_si256(p);
    const __m256i b = _mm256_loadu_si256(p + 1);
    const __m256i c = _mm256_loadu_si256(p + 2);
    const __m256i d = _mm256_loadu_si256(p + 3);
    _mm256_storeu_si256(p, _mm256_xor_si256(a, k));
    _mm256_storeu_si256(p + 1, _mm256_xor_si256(b, k));
    _mm256_storeu_si256(p + 2, _mm256_xor_si256(c, k));
    _mm256_storeu_si256(p + 3, _mm256_xor_si256(d, k));
  }
  for (; i + 32 <= size; i += 32) {
    auto* p = reinterpret_cast<__m256i*>(data + i);
    _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), k));
  }
  if (i + 16 <= size) {
    auto* p = reinterpret_cast<__m128i*>(data + i);
    _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), _mm256_castsi256_si128(k)));
    i += 16;
  }
  xor_words(data + i, size - i, pattern);
  return offset_after(key_offset, size);
}

#endif  // WSX_X86_64

}  // namespace detail

namespace {

using MaskFunction = std::size_t (*)(std::uint8_t*, std::size_t, const MaskKey&,
                                     std::size_t) noexcept;

MaskFunction best_mask_function() noexcept {
#if WSX_X86_64
  return detail::cpu_has_avx2() ? detail::apply_mask_avx2 : detail::apply_mask_sse2;
#else
  return detail::apply_mask_words;
#endif
}

}  // namespace

std::size_t apply_mask(std::uint8_t* data, std::size_t size, const MaskKey& key,
                       std::size_t key_offset) noexcept {
  // Control frames and short messages: words are as fast as vectors here, without the call
  // through a pointer.
  if (size < 32) return detail::apply_mask_words(data, size, key, key_offset);
  // Chosen once; a static local is thread-safe to initialise.
  static const MaskFunction mask = best_mask_function();
  return mask(data, size, key, key_offset);
}

std::size_t apply_mask_bytewise(std::uint8_t* data, std::size_t size, const MaskKey& key,
                                std::size_t key_offset) noexcept {
  for (std::size_t i = 0; i < size; ++i) data[i] ^= key[(key_offset + i) & 3];
  return offset_after(key_offset, size);
}

}  // namespace wsx::proto
