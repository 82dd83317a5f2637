#include "serve_chat_query.hpp"

namespace wsx::tool {
namespace {

bool digits(std::string_view text) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool is_position(std::string_view text) {
  const std::size_t dash = text.find('-');
  return dash != std::string_view::npos && digits(text.substr(0, dash)) &&
         digits(text.substr(dash + 1));
}

}  // namespace

std::optional<ChatQuery> parse_chat_query(std::string_view query) {
  ChatQuery result;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t equals = pair.find('=');
    const std::string_view name = pair.substr(0, equals);
    const std::string_view value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    if (name == "positions") {
      result.positions = true;
    } else if (name == "since") {
      if (!is_position(value)) return std::nullopt;
      result.since = std::string(value);
      result.positions = true;
    }
  }
  return result;
}

std::string chat_not_delivered_notice(const Broker* broker) {
  std::string_view reason = "the server is stopping";
  if (broker != nullptr) {
    reason = broker->state() == BrokerState::connected ? "too many messages waiting for redis"
                                                       : "redis is not connected";
  }
  return "!\nnot delivered: " + std::string(reason);
}

}  // namespace wsx::tool
