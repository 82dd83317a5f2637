// Private to src/proto and its tests: the UTF-8 validator's state machine and its two
// implementations, so a test can compare them on random input.
//
// Both take the state left by the previous piece and return the state after this one. A state
// is a bit offset into the rows of the transition table (see utf8.cpp): utf8_accept between
// characters, utf8_reject once a byte was invalid (and forever after), anything else in the
// middle of a character.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu_features.hpp"

namespace wsx::proto::detail {

constexpr std::uint32_t utf8_accept = 0;
constexpr std::uint32_t utf8_reject = 6;

// One byte through the state machine.
std::uint32_t utf8_step(std::uint32_t state, std::uint8_t byte) noexcept;

// Portable: the state machine, with 16 ASCII bytes per step while between characters.
std::uint32_t utf8_validate_scalar(std::uint32_t state, const std::uint8_t* data,
                                   std::size_t size) noexcept;

#if WSX_X86_64
// 64 bytes per step with AVX2; the state machine finishes a character left open by the previous
// piece, checks the tail, and finds the exact failing byte. Call only if cpu_has_avx2().
std::uint32_t utf8_validate_avx2(std::uint32_t state, const std::uint8_t* data,
                                 std::size_t size) noexcept;
#endif

}  // namespace wsx::proto::detail
