#include "server/router.hpp"

#include <algorithm>
#include <utility>

namespace wsx::server {
namespace {

bool is_prefix_pattern(std::string_view pattern) noexcept {
  return pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*";
}

// "/rooms/*" matches "/rooms/" + anything, and "/rooms" itself.
std::string_view prefix_of(std::string_view pattern) noexcept {
  return pattern.substr(0, pattern.size() - 1);
}

}  // namespace

session::SessionConfig make_session_config(const Behavior& behavior, std::string pattern,
                                           const ErrorHook* error_hook) {
  session::SessionConfig config;
  config.route = std::move(pattern);
  config.error_hook = error_hook;
  config.options.max_message_size = behavior.max_message_size;
  config.options.idle_timeout = behavior.idle_timeout;
  config.options.idle_ping_wait = behavior.idle_ping_wait;
  config.options.close_timeout = behavior.close_timeout;
  config.options.max_backpressure = behavior.max_backpressure;
  config.options.backpressure_policy = behavior.backpressure_policy;
  config.handlers.open = behavior.open;
  config.handlers.message = behavior.message;
  config.handlers.fragment = behavior.fragment;
  config.handlers.drain = behavior.drain;
  config.handlers.ping = behavior.ping;
  config.handlers.pong = behavior.pong;
  config.handlers.close = behavior.close;
  config.handlers.frame = behavior.frame;
  if (behavior.deflate) config.deflate_tuning = behavior.deflate->tuning;
  return config;
}

void Router::add(std::string pattern, Behavior behavior, const ErrorHook* error_hook) {
  auto route = std::make_unique<Route>();
  route->config = make_session_config(behavior, pattern, error_hook);
  route->behavior = std::move(behavior);
  route->pattern = pattern;
  if (!is_prefix_pattern(pattern)) {
    exact_[std::move(pattern)] = std::move(route);
    return;
  }
  std::erase_if(prefixes_, [&](const auto& existing) { return existing->pattern == pattern; });
  prefixes_.push_back(std::move(route));
  std::stable_sort(prefixes_.begin(), prefixes_.end(), [](const auto& a, const auto& b) {
    return a->pattern.size() > b->pattern.size();
  });
}

const Route* Router::match(std::string_view path) const noexcept {
  if (path.empty()) return nullptr;
  if (const auto found = exact_.find(std::string(path)); found != exact_.end()) {
    return found->second.get();
  }
  for (const auto& route : prefixes_) {
    const std::string_view prefix = prefix_of(route->pattern);  // "/rooms/"
    if (path.starts_with(prefix) || path == prefix.substr(0, prefix.size() - 1)) {
      return route.get();
    }
  }
  return nullptr;
}

}  // namespace wsx::server
