// base64url without padding (RFC 4648 §5), strict both ways: what CSRF tokens are written in,
// because its alphabet is safe in a query, a cookie and a Sec-WebSocket-Protocol token.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace wsx::server {

std::string base64url_encode(std::span<const std::uint8_t> bytes);
// Decodes `text` into exactly `out.size()` bytes. False for any other length, a character
// outside the alphabet, padding, or unused low bits that are not zero (so that one byte string
// has one spelling only).
bool base64url_decode(std::string_view text, std::span<std::uint8_t> out) noexcept;

}  // namespace wsx::server
