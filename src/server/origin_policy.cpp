// OriginPolicy: origins compared as RFC 6454 tuples (scheme, host, port), RFC 6455 §10.2.
#include <cctype>
#include <charconv>
#include <optional>
#include <string_view>

#include "wsx/server.hpp"

namespace wsx {
namespace {

struct Origin {
  std::string_view scheme;  // empty for a Host header
  std::string_view host;    // brackets kept for IPv6 literals
  std::optional<std::uint16_t> port;
};

// The port a scheme implies, for the four schemes a WebSocket peer can be reached from.
std::optional<std::uint16_t> default_port(std::string_view scheme) {
  if (proto::iequals(scheme, "http") || proto::iequals(scheme, "ws")) return 80;
  if (proto::iequals(scheme, "https") || proto::iequals(scheme, "wss")) return 443;
  return std::nullopt;
}

bool is_scheme(std::string_view scheme) {
  if (scheme.empty() || !std::isalpha(static_cast<unsigned char>(scheme.front()))) return false;
  for (const char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

// "host", "host:port", "[v6]", "[v6]:port". Userinfo, paths, an empty host or an empty or
// non-numeric port make it unusable: refusing is the safe answer for what no browser sends.
std::optional<Origin> parse_authority(std::string_view authority) {
  if (authority.find_first_of("/?#@\\ \t") != std::string_view::npos) return std::nullopt;
  Origin parsed;
  std::string_view rest;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    parsed.host = authority.substr(0, close + 1);
    rest = authority.substr(close + 1);
  } else {
    const std::size_t colon = authority.find(':');
    parsed.host = authority.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
  }
  if (parsed.host.empty() || parsed.host == "[]") return std::nullopt;
  if (rest.empty()) return parsed;
  if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
  rest.remove_prefix(1);
  unsigned value = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (error != std::errc() || end != rest.data() + rest.size() || value > 65535) {
    return std::nullopt;
  }
  parsed.port = static_cast<std::uint16_t>(value);
  return parsed;
}

// "scheme://authority" as browsers serialise an origin; "null" and anything else: nullopt.
std::optional<Origin> parse_origin(std::string_view text) {
  const std::size_t separator = text.find("://");
  if (separator == std::string_view::npos || !is_scheme(text.substr(0, separator))) {
    return std::nullopt;
  }
  std::optional<Origin> parsed = parse_authority(text.substr(separator + 3));
  if (!parsed) return std::nullopt;
  parsed->scheme = text.substr(0, separator);
  if (!parsed->port) parsed->port = default_port(parsed->scheme);
  return parsed;
}

bool same_host_and_port(const Origin& a, const Origin& b) {
  return proto::iequals(a.host, b.host) && a.port == b.port;
}

bool is_same_origin(const Origin& origin, std::string_view host_header) {
  const std::optional<std::uint16_t> scheme_port = default_port(origin.scheme);
  if (!scheme_port) return false;  // chrome-extension://, file-like schemes: never the server
  std::optional<Origin> host = parse_authority(host_header);
  if (!host) return false;
  if (!host->port) host->port = scheme_port;
  return same_host_and_port(origin, *host);
}

bool is_listed(const Origin& origin, const std::vector<std::string>& allowed) {
  for (const std::string& entry : allowed) {
    const std::optional<Origin> listed = parse_origin(entry);
    if (listed && proto::iequals(listed->scheme, origin.scheme) &&
        same_host_and_port(*listed, origin)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool OriginPolicy::permits(std::optional<std::string_view> origin, std::string_view host) const {
  if (!origin) return !required;
  if (mode == Mode::any) return true;
  const std::optional<Origin> parsed = parse_origin(*origin);
  if (!parsed) return false;
  if (is_listed(*parsed, allowed)) return true;
  return mode == Mode::same_origin && is_same_origin(*parsed, host);
}

}  // namespace wsx
