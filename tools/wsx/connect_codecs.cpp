#include "connect_codecs.hpp"

#include <array>

namespace wsx::tool {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

std::optional<Bytes> decode_hex(std::string_view text) {
  Bytes out;
  int high = -1;
  for (char c : text) {
    if (is_space(c) || c == ':') {
      if (high >= 0) return std::nullopt;  // a separator inside a byte
      continue;
    }
    const int value = hex_value(c);
    if (value < 0) return std::nullopt;
    if (high < 0) {
      high = value;
    } else {
      out.push_back(static_cast<std::uint8_t>(high << 4 | value));
      high = -1;
    }
  }
  if (high >= 0) return std::nullopt;
  return out;
}

std::string encode_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xF]);
  }
  return out;
}

std::optional<Bytes> decode_base64(std::string_view text) {
  Bytes out;
  std::uint32_t bits = 0;
  int bit_count = 0;
  int padding = 0;
  std::size_t symbols = 0;
  for (char c : text) {
    if (is_space(c)) continue;
    if (c == '=') {
      ++padding;
      ++symbols;
      continue;
    }
    const int value = base64_value(c);
    if (value < 0 || padding > 0) return std::nullopt;  // data after padding
    ++symbols;
    bits = bits << 6 | static_cast<std::uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<std::uint8_t>(bits >> bit_count));
      bits &= (1u << bit_count) - 1;
    }
  }
  // Leftover bits must be zero and fewer than a byte; a single symbol in a group is never valid;
  // padding, when present, completes the last group.
  const std::size_t data_symbols = symbols - static_cast<std::size_t>(padding);
  if (bits != 0 || data_symbols % 4 == 1 || padding > 2) return std::nullopt;
  if (padding > 0 && symbols % 4 != 0) return std::nullopt;
  return out;
}

std::string encode_base64(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6)
      out.push_back(base64_alphabet[group >> shift & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t group = static_cast<std::uint32_t>(bytes[i]) << 16;
    if (rest == 2) group |= static_cast<std::uint32_t>(bytes[i + 1]) << 8;
    out.push_back(base64_alphabet[group >> 18 & 63]);
    out.push_back(base64_alphabet[group >> 12 & 63]);
    out.push_back(rest == 2 ? base64_alphabet[group >> 6 & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace wsx::tool
