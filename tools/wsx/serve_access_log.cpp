#include "serve_access_log.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string_view>

namespace wsx::tool {
namespace {

void append_escaped(std::string& out, std::string_view value) {
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
}

void append_quoted(std::string& out, std::string_view value) {
  out += '"';
  append_escaped(out, value.empty() ? "-" : value);
  out += '"';
}

std::string utc_timestamp(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char result[48];
  std::snprintf(result, sizeof result, "%.*s.%03dZ", static_cast<int>(length), text,
                static_cast<int>(millis));
  return result;
}

}  // namespace

std::string without_csrf_token(std::string_view target) {
  std::string out(target);
  const std::size_t query = out.find('?');
  if (query == std::string::npos) return out;
  for (std::size_t at = query + 1; at < out.size();) {
    const std::size_t end = std::min(out.find('&', at), out.size());
    if (out.compare(at, 5, "csrf=") == 0 && end > at + 5) {
      out.replace(at + 5, end - at - 5, "[redacted]");
      at += 5 + 10 + 1;
    } else {
      at = end + 1;
    }
  }
  return out;
}

std::string format_access_line(const AccessRecord& record,
                               std::chrono::system_clock::time_point when) {
  std::string line = utc_timestamp(when);
  line += ' ';
  append_escaped(line, record.remote_address.empty() ? "-" : record.remote_address);
  line += " \"";
  if (record.method.empty()) {
    line += '-';
  } else {
    append_escaped(line, record.method);
    line += ' ';
    append_escaped(line, without_csrf_token(record.target));
  }
  line += "\" ";
  line += std::to_string(record.status);
  line += " origin=";
  append_quoted(line, record.origin.value_or(""));
  line += " subprotocol=";
  append_quoted(line, record.subprotocol);
  line += " extensions=";
  append_quoted(line, record.extensions);
  line += " transport=";
  line += transport_name(record.transport);
  if (!record.reason.empty()) {
    line += " reason=";
    append_quoted(line, record.reason);
  }
  return line;
}

}  // namespace wsx::tool
