#include "session/position.hpp"

#include <charconv>

namespace wsx::session {

namespace {
bool parse_u64(std::string_view text, std::uint64_t& value) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;  // from_chars would take no sign, but be explicit
  }
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}
}  // namespace

std::optional<Position> parse_position(std::string_view text) noexcept {
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  Position position;
  if (!parse_u64(text.substr(0, dash), position.ms) ||
      !parse_u64(text.substr(dash + 1), position.seq)) {
    return std::nullopt;
  }
  return position;
}

}  // namespace wsx::session
