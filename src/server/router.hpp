// Routes by path: exact patterns ("/chat") and prefixes ("/rooms/*", "/*").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "session/session.hpp"
#include "wsx/server.hpp"

namespace wsx::server {

struct Route {
  std::string pattern;
  Behavior behavior;
  session::SessionConfig config;  // shared by every connection of the route
};

session::SessionConfig make_session_config(const Behavior& behavior);

// The path of a request-target, for routing before the request is validated: origin-form
// "/a?b" → "/a"; absolute-form "ws://h/a?b" → "/a" ("/" when it has no path); else empty.
std::string_view target_path(std::string_view target) noexcept;

class Router {
 public:
  // Replaces a route with the same pattern.
  void add(std::string pattern, Behavior behavior);
  const Route* match(std::string_view path) const noexcept;
  bool empty() const noexcept { return exact_.empty() && prefixes_.empty(); }

 private:
  std::unordered_map<std::string, std::unique_ptr<Route>> exact_;
  std::vector<std::unique_ptr<Route>> prefixes_;  // longest prefix first
};

}  // namespace wsx::server
