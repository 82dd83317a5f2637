#include "connect_json.hpp"

#include <cstdio>

#include "wsx/proto/utf8.hpp"

namespace wsx::tool {

namespace {

// The length of the well-formed UTF-8 sequence (RFC 3629 §4) starting at text[at], or 0 when
// the byte there does not start one (a stray continuation byte, an overlong form, a surrogate,
// a sequence cut short or beyond U+10FFFF).
std::size_t utf8_sequence_at(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  const std::size_t length = lead < 0x80   ? 1
                             : lead < 0xC2 ? 0
                             : lead < 0xE0 ? 2
                             : lead < 0xF0 ? 3
                             : lead < 0xF5 ? 4
                                           : 0;
  if (length == 0 || at + length > text.size()) return 0;
  return proto::is_valid_utf8(text.substr(at, length)) ? length : 0;
}

// JSON's two-character escapes, or nullptr.
const char* short_escape(char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return nullptr;
  }
}

void append_code_point(std::string& out, unsigned char byte) {
  char escaped[8];
  std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
  out += escaped;
}

}  // namespace

std::string json_string(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (const char* escape = short_escape(text[i])) {
      out += escape;
      ++i;
      continue;
    }
    // Controls, and only the bytes that are not part of well-formed UTF-8, become code points
    // of their own: the text around a bad byte keeps its characters.
    const std::size_t length = byte < 0x20 || byte == 0x7F ? 0 : utf8_sequence_at(text, i);
    if (length == 0) {
      append_code_point(out, byte);
      ++i;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  out.push_back('"');
  return out;
}

void JsonObject::key(std::string_view name) {
  if (body_.size() > 1) body_.push_back(',');
  body_ += json_string(name);
  body_.push_back(':');
}

JsonObject& JsonObject::add(std::string_view name, std::string_view value) {
  key(name);
  body_ += json_string(value);
  return *this;
}

JsonObject& JsonObject::add(std::string_view name, std::int64_t value) {
  key(name);
  body_ += std::to_string(value);
  return *this;
}

JsonObject& JsonObject::add(std::string_view name, bool value) {
  key(name);
  body_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::add(std::string_view name, double value) {
  key(name);
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", value);
  body_ += text;
  return *this;
}

JsonObject& JsonObject::add_json(std::string_view name, std::string_view json) {
  key(name);
  body_ += json;
  return *this;
}

}  // namespace wsx::tool
