#include "body_excerpt.hpp"

#include <algorithm>
#include <cstdio>

namespace wsx::tool {

std::string body_excerpt(std::string_view body, std::size_t total, std::size_t limit,
                         std::size_t max_lines) {
  total = std::max(total, body.size());
  const std::string_view start = body.substr(0, limit);
  std::string out;
  out.reserve(start.size() + 64);
  std::size_t lines = 0;
  std::size_t shown = 0;  // bytes of the body shown
  for (; shown < start.size() && lines < max_lines; ++shown) {
    const auto byte = static_cast<unsigned char>(start[shown]);
    if (byte == '\n') ++lines;
    if (byte == '\r' && shown + 1 < start.size() && start[shown + 1] == '\n') continue;
    if ((byte >= 0x20 && byte < 0x7f) || byte == '\n' || byte == '\t') {
      out += static_cast<char>(byte);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    }
  }
  if (total > shown) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "[" + std::to_string(total - shown) + " more bytes of the body not shown; " +
           std::to_string(total) + " in all]";
  }
  return out;
}

}  // namespace wsx::tool
