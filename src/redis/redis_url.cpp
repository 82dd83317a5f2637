#include <climits>

#include "wsx/redis_broker.hpp"
#include "wsx/url.hpp"

namespace wsx {
namespace {

std::optional<RedisEndpoint> fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string* error) {
  constexpr std::string_view scheme = "redis://";
  constexpr std::string_view tls_scheme = "rediss://";
  RedisEndpoint endpoint;
  std::string_view rest;
  if (url.substr(0, scheme.size()) == scheme) {
    rest = url.substr(scheme.size());
  } else if (url.substr(0, tls_scheme.size()) == tls_scheme) {
    rest = url.substr(tls_scheme.size());
    endpoint.tls = true;
  } else {
    return fail(error, "not a redis:// or rediss:// URL (unix sockets are not supported)");
  }
  const std::size_t path_start = rest.find('/');
  const std::string_view path =
      path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start + 1);
  std::string_view authority = rest.substr(0, path_start);

  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return fail(error, "credentials without a password (write user:password@ or :password@)");
    }
    std::optional<std::string> user = percent_decode(userinfo.substr(0, colon));
    std::optional<std::string> password = percent_decode(userinfo.substr(colon + 1));
    if (!user || !password) return fail(error, "malformed %-escape in the credentials");
    endpoint.user = std::move(*user);
    endpoint.password = std::move(*password);
    endpoint.has_password = true;
  }

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(error, "unterminated [IPv6] host");
    endpoint.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(error, "junk after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) return fail(error, "empty port");
    }
  } else {
    const std::size_t colon = authority.find(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return fail(error, "empty port");
    }
  }
  if (endpoint.host.empty()) return fail(error, "no host");
  if (!port.empty()) {
    const std::optional<std::uint64_t> value = parse_number(port);
    if (!value || *value == 0 || *value > 65535) {
      return fail(error, "port must be a number from 1 to 65535");
    }
    endpoint.port = static_cast<std::uint16_t>(*value);
  }
  if (!path.empty()) {
    const std::optional<std::uint64_t> database = parse_number(path);
    if (!database || *database > INT_MAX) {
      return fail(error, "the path must be a database number (/0)");
    }
    endpoint.database = static_cast<int>(*database);
  }
  return endpoint;
}

}  // namespace wsx
