// The one comparison of secret-derived bytes (MACs) in the server: its time does not depend on
// where the inputs differ, so an attacker cannot learn a valid MAC byte by byte from timing.
#pragma once

#include <cstdint>
#include <span>

namespace wsx::server {

// CRYPTO_memcmp over equal sizes; inputs of different sizes are unequal (sizes are public).
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

// What a check compares secret-derived bytes with: constant_time_equal, or a test's probe.
using SecretCompare = bool (*)(std::span<const std::uint8_t>, std::span<const std::uint8_t>);

}  // namespace wsx::server
