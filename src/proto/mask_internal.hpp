// Private to src/proto and its tests: every implementation of apply_mask, so a test can compare
// each one the CPU can run with the bytewise reference.
#pragma once

#include <cstddef>
#include <cstdint>

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
