// The request-target (RFC 9112 §3.2): the one parse the router and the handshake share.
#include "wsx/proto/request_target.hpp"

#include <algorithm>

#include "wsx/proto/http_head.hpp"

namespace wsx::proto {
namespace {

// ASCII only, whatever the C locale says.
bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

bool is_valid_authority(std::string_view authority) {
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    const std::string_view literal = authority.substr(1, close - 1);
    const bool literal_ok = std::all_of(literal.begin(), literal.end(), [](char c) {
      return is_alnum(c) || c == ':' || c == '.' || c == '-' || c == '_' || c == '~' || c == '%';
    });
    if (!literal_ok) return false;
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest.empty() ? rest : rest.substr(1);
  } else {
    const std::size_t colon = authority.find(':');
    const std::string_view name = authority.substr(0, colon);
    if (name.empty()) return false;
    const bool name_ok = std::all_of(name.begin(), name.end(), [](char c) {
      return is_alnum(c) || std::string_view("-._~!$&'()*+,;=%").find(c) != std::string_view::npos;
    });
    if (!name_ok) return false;
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<RequestTarget> parse_request_target(std::string_view target) {
  if (target.find('#') != std::string_view::npos) return std::nullopt;
  RequestTarget parts;
  std::string_view rest = target;
  if (rest.empty() || rest.front() != '/') {
    const std::size_t scheme_end = rest.find("://");
    if (scheme_end == std::string_view::npos) return std::nullopt;
    const std::string_view scheme = rest.substr(0, scheme_end);
    if (!iequals(scheme, "ws") && !iequals(scheme, "wss") && !iequals(scheme, "http") &&
        !iequals(scheme, "https")) {
      return std::nullopt;
    }
    rest.remove_prefix(scheme_end + 3);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    // userinfo ("user@") is refused: deprecated, and a classic disguise (RFC 9110 §4.2.4).
    if (!is_valid_authority(authority)) return std::nullopt;
    parts.authority = authority;
    rest.remove_prefix(authority.size());
  }
  const std::size_t question = rest.find('?');
  parts.path = rest.substr(0, question);
  if (question != std::string_view::npos) parts.query = rest.substr(question + 1);
  parts.target = rest;
  if (parts.path.empty()) {  // "http://host" and "http://host?q" mean the path "/"
    parts.path = "/";
    if (parts.target.empty()) parts.target = "/";
  }
  return parts;
}

}  // namespace wsx::proto
