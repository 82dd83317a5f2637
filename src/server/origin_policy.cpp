// OriginPolicy (RFC 6454 origins, RFC 6455 §10.2).
#include <string_view>

#include "wsx/server.hpp"

namespace wsx {
namespace {

// "host:443" → "host" when the scheme's default port is given explicitly; brackets kept.
std::string_view without_default_port(std::string_view authority, std::string_view scheme) {
  const std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || authority.find(']', colon) != std::string_view::npos) {
    return authority;  // no port (a colon inside an IPv6 literal does not count)
  }
  const std::string_view port = authority.substr(colon + 1);
  const bool secure = proto::iequals(scheme, "https") || proto::iequals(scheme, "wss");
  if ((secure && port == "443") || (!secure && port == "80")) return authority.substr(0, colon);
  return authority;
}

bool is_same_origin(std::string_view origin, std::string_view host) {
  const std::size_t separator = origin.find("://");
  if (separator == std::string_view::npos || host.empty()) return false;  // "null", opaque
  const std::string_view scheme = origin.substr(0, separator);
  std::string_view authority = origin.substr(separator + 3);
  if (authority.empty() || authority.find('/') != std::string_view::npos) return false;
  return proto::iequals(without_default_port(authority, scheme),
                        without_default_port(host, scheme));
}

}  // namespace

bool OriginPolicy::permits(std::optional<std::string_view> origin, std::string_view host) const {
  if (!origin) return !required;
  switch (mode) {
    case Mode::any:
      return true;
    case Mode::same_origin:
      return is_same_origin(*origin, host);
    case Mode::allow_list:
      for (const std::string& allowed_origin : allowed) {
        if (proto::iequals(allowed_origin, *origin)) return true;
      }
      return false;
  }
  return false;
}

}  // namespace wsx
