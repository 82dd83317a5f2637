// Character classes of the HTTP grammar (RFC 9110 §5.5, §5.6.2), shared by the head parser and
// the header-list parsers. Private to the protocol core.
#pragma once

#include <array>
#include <string_view>

namespace wsx::proto::http_chars {

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
//         "~" / DIGIT / ALPHA
constexpr bool is_tchar_rule(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// The rule as a table: every byte of every field name of a request is looked up.
inline constexpr std::array<bool, 256> tchar_table = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = is_tchar_rule(static_cast<unsigned char>(c));
  return table;
}();

constexpr bool is_tchar(unsigned char c) noexcept {
  return tchar_table[c];
}

constexpr bool is_ows(unsigned char c) noexcept {
  return c == ' ' || c == '\t';
}

constexpr bool is_vchar(unsigned char c) noexcept {
  return c >= 0x21 && c <= 0x7E;
}

constexpr bool is_obs_text(unsigned char c) noexcept {
  return c >= 0x80;
}

// field-vchar / SP / HTAB: what may appear inside a field value (RFC 9110 §5.5). Everything else
// is a control character (NUL, CR, LF, DEL, ...) that a strict parser refuses.
constexpr bool is_field_char(unsigned char c) noexcept {
  return c >= 0x20 ? c != 0x7F : c == '\t';  // VCHAR, obs-text, SP; HTAB
}

constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && is_ows(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace wsx::proto::http_chars
