// Byte encodings the connect command reads at its prompt and writes in its output: hex (with
// optional spaces or colons between bytes) and base64 (RFC 4648 §4, padding optional on input).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsx::tool {

using Bytes = std::vector<std::uint8_t>;

// 0-15 for a hex digit of either case, -1 for anything else (also used to percent-decode paths).
int hex_digit_value(char c);

// "48656c6c6f", "48 65 6c", "48:65:6C"; nullopt for an odd digit count or another character.
std::optional<Bytes> decode_hex(std::string_view text);
std::string encode_hex(std::span<const std::uint8_t> bytes);

// Standard alphabet; whitespace is skipped; nullopt for any other character, bits left over or
// padding in the wrong place.
std::optional<Bytes> decode_base64(std::string_view text);
std::string encode_base64(std::span<const std::uint8_t> bytes);

inline std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
inline std::string_view as_text(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace wsx::tool
