#include "server/base64url.hpp"

#include <array>

namespace wsx::server {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> decoding_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& entry : table) entry = -1;
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}

constexpr std::array<std::int8_t, 256> decoding = decoding_table();

constexpr std::size_t encoded_size(std::size_t bytes) {
  return bytes / 3 * 4 + (bytes % 3 == 0 ? 0 : bytes % 3 + 1);
}

}  // namespace

std::string base64url_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(encoded_size(bytes.size()));
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
    out += alphabet[group >> 18 & 63];
    out += alphabet[group >> 12 & 63];
    out += alphabet[group >> 6 & 63];
    out += alphabet[group & 63];
  }
  const std::size_t left = bytes.size() - i;
  if (left > 0) {
    const std::uint32_t group = bytes[i] << 16 | (left == 2 ? bytes[i + 1] << 8 : 0);
    out += alphabet[group >> 18 & 63];
    out += alphabet[group >> 12 & 63];
    if (left == 2) out += alphabet[group >> 6 & 63];
  }
  return out;
}

bool base64url_decode(std::string_view text, std::span<std::uint8_t> out) noexcept {
  if (text.size() != encoded_size(out.size())) return false;
  std::uint32_t bits = 0;
  int count = 0;
  std::size_t written = 0;
  for (const char c : text) {
    const std::int8_t value = decoding[static_cast<unsigned char>(c)];
    if (value < 0) return false;
    bits = bits << 6 | static_cast<std::uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[written++] = static_cast<std::uint8_t>(bits >> count);
      bits &= (1u << count) - 1;
    }
  }
  return bits == 0;  // the leftover low bits of a final partial group
}

}  // namespace wsx::server
