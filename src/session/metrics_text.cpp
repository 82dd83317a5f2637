#include "session/metrics_text.hpp"

#include <charconv>
#include <cmath>

namespace wsx::metrics_detail {
namespace {

bool name_start(char c, bool colon) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

bool name_char(char c, bool colon) noexcept {
  return name_start(c, colon) || (c >= '0' && c <= '9');
}

bool valid_name(std::string_view name, bool colon) noexcept {
  if (name.empty() || !name_start(name[0], colon)) return false;
  for (const char c : name) {
    if (!name_char(c, colon)) return false;
  }
  return true;
}

template <typename Number>
void append_number(std::string& out, Number value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

}  // namespace

bool valid_metric_name(std::string_view name) noexcept {
  return valid_name(name, true);
}

bool valid_label_name(std::string_view name) noexcept {
  return valid_name(name, false) && !name.starts_with("__");
}

void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_help(std::string& out, std::string_view help) {
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    append_number(out, static_cast<std::int64_t>(value));  // 3, not 3e+00
  } else {
    append_number(out, value);  // shortest round-trip form
  }
}

void append_value(std::string& out, std::uint64_t value) {
  append_number(out, value);
}

void append_value(std::string& out, std::int64_t value) {
  append_number(out, value);
}

}  // namespace wsx::metrics_detail
