// Routes by path: exact patterns ("/chat") and prefixes ("/rooms/*", "/*"). The path comes from
// proto::parse_request_target, the parse the handshake validates.
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

// `error_hook` (not owned, may be null) receives exceptions from the route's callbacks.
session::SessionConfig make_session_config(const Behavior& behavior, std::string pattern,
                                           const ErrorHook* error_hook);

class Router {
 public:
  // Replaces a route with the same pattern. `error_hook`: see make_session_config.
  void add(std::string pattern, Behavior behavior, const ErrorHook* error_hook = nullptr);
  const Route* match(std::string_view path) const noexcept;
  bool empty() const noexcept { return exact_.empty() && prefixes_.empty(); }

 private:
  std::unordered_map<std::string, std::unique_ptr<Route>> exact_;
  std::vector<std::unique_ptr<Route>> prefixes_;  // longest prefix first
};

}  // namespace wsx::server
