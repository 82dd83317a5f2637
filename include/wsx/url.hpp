// WebSocket URLs (RFC 6455 §3): ws://host[:port]/path?query and wss://…, parsed strictly so a
// mistyped URL fails before any connection is attempted, with a message that says what is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wsx/export.hpp"

namespace wsx {

struct WSX_API Url {
  bool secure = false;  // wss
  std::string host;     // lower-case name, IPv4 literal, or IPv6 literal without brackets
  bool ipv6_literal = false;
  std::uint16_t port = 80;  // the URL's port, else 80 (ws) or 443 (wss)
  bool explicit_port = false;
  std::string path = "/";  // never empty; starts with "/"
  std::string query;       // without "?"; may be empty
  bool has_query = false;  // "?" present, even with an empty query

  // The request-target of the opening handshake: path, then "?" query when present.
  std::string target() const;
  // host[:port] as written in a URL: IPv6 literals in brackets, default port omitted.
  std::string authority() const;
  // The whole URL in normal form: "ws://[::1]:9000/chat?room=1".
  std::string to_string() const;
};

struct WSX_API UrlParseResult {
  std::optional<Url> url;
  std::string error;  // why the text is not a usable WebSocket URL; empty on success
  bool ok() const noexcept { return url.has_value(); }
};

// Accepts "ws://" and "wss://" (scheme case-insensitive), a host that is a DNS name (labels of
// letters, digits, '-' and '_', at most 63 bytes each, 253 in all), an IPv4 literal or a
// bracketed IPv6 literal, an optional port 1-65535, and a path and query of visible ASCII.
// Spaces and non-ASCII bytes in the path or query are percent-encoded, as browsers do; a
// malformed percent-escape, a control character, a fragment ("#", RFC 6455 §3), user
// information ("user@host"), an IPv6 zone identifier and every other scheme are rejected.
WSX_API UrlParseResult parse_url(std::string_view text);

// Percent-decoding (RFC 3986 §2.1): each "%" followed by two hex digits (upper or lower case)
// becomes the byte they name; every other byte is kept. A "%" not followed by two hex digits (a
// bad or truncated escape: "%G1", "%4", a final "%") makes the text invalid: nullopt, never a
// guess. Decodes once: "%2541" is "%41".
WSX_API std::optional<std::string> percent_decode(std::string_view text);

// A decimal number as URLs write ports (RFC 3986 §3.2.3): one or more ASCII digits and nothing
// else (no sign, space, "0x" or other digits), leading zeros allowed, at most 2^64 - 1.
// nullopt otherwise; the caller checks its own range.
WSX_API std::optional<std::uint64_t> parse_number(std::string_view text);

}  // namespace wsx
