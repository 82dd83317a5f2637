// Private to src/proto and its tests: every implementation of apply_mask, so a test can compare
// each one the CPU can run with the bytewise reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu_features.hpp"
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

// The payload of a short masked message, unmasked from key phase 0 (its frame's mask offset is
// then size % 4), and whether every byte of it is ASCII: a text message that is needs no UTF-8
// validation. One pass of 64-bit words that ORs what it writes, inline in the reader of whole
// short messages: unmasking and validating 16 bytes of text as apply_mask and is_valid_utf8 cost
// 57 instructions per message (callgrind, echo of 16-byte text).
inline bool unmask_short_is_ascii(std::uint8_t* data, std::size_t size,
                                  const MaskKey& key) noexcept {
  std::uint32_t key_word;
  std::memcpy(&key_word, key.data(), sizeof key_word);
  // Key bytes twice, in memory order, whatever the byte order: the phase of data[0] is 0.
  const std::uint64_t pattern = (std::uint64_t{key_word} << 32) | key_word;
  std::uint64_t seen = 0;
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, sizeof word);
    word ^= pattern;
    seen |= word;
    std::memcpy(data + i, &word, sizeof word);
  }
  // i is a multiple of 8: the key's phase at data + i is 0 again.
  if (i + 4 <= size) {
    std::uint32_t word;
    std::memcpy(&word, data + i, sizeof word);
    word ^= key_word;
    seen |= word;
    std::memcpy(data + i, &word, sizeof word);
    i += 4;
  }
  for (std::size_t j = 0; i < size; ++i, ++j) {
    data[i] ^= key[j];
    seen |= data[i];
  }
  return (seen & 0x8080808080808080u) == 0;
}

}  // namespace wsx::proto::detail
