#include "wsx/url.hpp"

#include <arpa/inet.h>

#include <cstddef>

namespace wsx {
namespace {

constexpr std::size_t max_host_length = 253;  // RFC 1035 §2.3.4, without the trailing dot
constexpr std::size_t max_label_length = 63;

UrlParseResult fail(std::string message) {
  return {std::nullopt, std::move(message)};
}

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Dotted-quad only ("1.2.3.4"): the shorter forms inet_aton accepts ("127.1") are too easily a
// typo, and a leading zero would mean octal to some resolvers and decimal to others.
bool is_dotted_quad(std::string_view host) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= host.size()) {
    std::size_t end = host.find('.', i);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view part = host.substr(i, end - i);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
    int value = 0;
    for (char c : part) {
      if (!is_digit(c)) return false;
      value = value * 10 + (c - '0');
    }
    if (value > 255) return false;
    ++parts;
    i = end + 1;
  }
  return parts == 4;
}

// Checks a DNS name and returns an error message, or empty when it is acceptable.
std::string check_name(std::string_view host) {
  if (host.back() == '.') host.remove_suffix(1);  // a fully qualified name
  if (host.empty()) return "the host is empty";
  if (host.size() > max_host_length) return "the host name is longer than 253 bytes";
  std::size_t start = 0;
  std::string_view last_label;
  while (start <= host.size()) {
    std::size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view label = host.substr(start, end - start);
    if (label.empty()) return "the host name has an empty label (\"..\")";
    if (label.size() > max_label_length) return "a label of the host name is longer than 63 bytes";
    if (label.front() == '-' || label.back() == '-') {
      return "a label of the host name starts or ends with '-'";
    }
    for (char c : label) {
      if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') continue;
      // Not the byte itself for these: one byte of a UTF-8 character printed alone is not a
      // character ("the host contains '\xc3'" showed as U+FFFD), and a control character would
      // reach the terminal.
      const auto byte = static_cast<unsigned char>(c);
      if (byte >= 0x80) {
        return "the host name is not ASCII: write an internationalized name in its ASCII form "
               "(xn--..., punycode)";
      }
      if (byte < 0x20 || byte == 0x7f) return "the host contains a control character";
      return std::string("the host contains '") + c +
             "', which a host name cannot have (percent-encoding is not allowed in a host)";
    }
    last_label = label;
    start = end + 1;
  }
  bool numeric_last = true;
  for (char c : last_label) numeric_last = numeric_last && is_digit(c);
  if (numeric_last && !is_dotted_quad(host)) {
    return "the host looks like an IPv4 address but is not four decimal numbers 0-255";
  }
  return {};
}

// Appends a path or query, percent-encoding spaces and non-ASCII bytes. Returns an error message
// or empty.
std::string append_target_part(std::string_view part, const char* what, std::string& out) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (std::size_t i = 0; i < part.size(); ++i) {
    const auto byte = static_cast<unsigned char>(part[i]);
    if (byte < 0x20 || byte == 0x7f) {
      return std::string("the ") + what + " contains a control character";
    }
    if (byte == '%') {
      if (i + 2 >= part.size() || !is_hex(part[i + 1]) || !is_hex(part[i + 2])) {
        return std::string("the ") + what + " has a '%' not followed by two hex digits";
      }
      out += part.substr(i, 3);
      i += 2;
      continue;
    }
    if (byte == ' ' || byte >= 0x80) {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0x0f];
      continue;
    }
    out += static_cast<char>(byte);
  }
  return {};
}

}  // namespace

std::string Url::target() const {
  return has_query ? path + "?" + query : path;
}

std::string Url::authority() const {
  std::string result = ipv6_literal ? "[" + host + "]" : host;
  const std::uint16_t default_port = secure ? 443 : 80;
  if (port != default_port) result += ":" + std::to_string(port);
  return result;
}

std::string Url::to_string() const {
  return std::string(secure ? "wss://" : "ws://") + authority() + target();
}

UrlParseResult parse_url(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || text.substr(colon, 3) != "://") {
    return fail("not a URL: expected ws://host/path or wss://host/path");
  }
  const std::string_view scheme = text.substr(0, colon);
  Url url;
  if (iequals_ascii(scheme, "ws")) {
    url.secure = false;
  } else if (iequals_ascii(scheme, "wss")) {
    url.secure = true;
  } else {
    return fail("unsupported scheme \"" + std::string(scheme) + "\": use ws:// or wss://");
  }
  url.port = url.secure ? 443 : 80;
  std::string_view rest = text.substr(colon + 3);

  if (const std::size_t hash = rest.find('#'); hash != std::string_view::npos) {
    return fail("a WebSocket URL cannot have a fragment (\"#...\", RFC 6455 §3)");
  }
  const std::size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path_and_query =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);

  if (authority.find('@') != std::string_view::npos) {
    return fail("user information (\"user@host\") is not allowed in a WebSocket URL");
  }
  if (authority.empty()) return fail("the URL has no host");

  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("an IPv6 address has no closing ']'");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after the IPv6 address's ']'");
      has_port = true;
      port_text = after.substr(1);
    }
    if (host.find('%') != std::string_view::npos) {
      return fail("IPv6 zone identifiers (\"%...\") are not supported");
    }
    char buffer[sizeof(in6_addr)];
    const std::string host_string(host);
    if (host.empty() || ::inet_pton(AF_INET6, host_string.c_str(), buffer) != 1) {
      return fail("\"" + host_string + "\" is not a valid IPv6 address");
    }
    url.ipv6_literal = true;
    url.host.reserve(host.size());
    for (char c : host) url.host += lower(c);
  } else {
    const std::size_t port_colon = authority.find(':');
    host = authority.substr(0, port_colon);
    if (port_colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(port_colon + 1);
      if (port_text.find(':') != std::string_view::npos) {
        return fail("an IPv6 address must be written in brackets, e.g. ws://[::1]:8080/");
      }
    }
    if (host.empty()) return fail("the URL has no host");
    if (std::string why = check_name(host); !why.empty()) return fail(std::move(why));
    url.host.reserve(host.size());
    for (char c : host) url.host += lower(c);
  }

  // "host:" with an empty port means the default port (RFC 3986 §3.2.3).
  if (has_port && !port_text.empty()) {
    const std::optional<std::uint64_t> value = parse_number(port_text);
    if (!value && port_text.find_first_not_of("0123456789") != std::string_view::npos) {
      return fail("the port \"" + std::string(port_text) + "\" is not a number");
    }
    if (!value || *value > 65535) {
      return fail("the port " + std::string(port_text) + " is above 65535");
    }
    if (*value == 0) return fail("port 0 cannot be connected to");
    url.port = static_cast<std::uint16_t>(*value);
    url.explicit_port = true;
  }

  const std::size_t question = path_and_query.find('?');
  const std::string_view path = path_and_query.substr(0, question);
  url.path.clear();
  if (path.empty()) {
    url.path = "/";
  } else if (std::string why = append_target_part(path, "path", url.path); !why.empty()) {
    return fail(std::move(why));
  }
  if (question != std::string_view::npos) {
    url.has_query = true;
    if (std::string why =
            append_target_part(path_and_query.substr(question + 1), "query", url.query);
        !why.empty()) {
      return fail(std::move(why));
    }
  }
  return {std::move(url), {}};
}

}  // namespace wsx
