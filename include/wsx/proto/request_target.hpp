// The request-target of an HTTP/1.1 request (RFC 9112 §3.2), parsed once: the router picks a
// route with its path and the handshake validates the same parse, so the two can never see
// different paths in one request.
#pragma once

#include <optional>
#include <string_view>
#include "wsx/export.hpp"

namespace wsx::proto {

struct WSX_API RequestTarget {
  std::string_view target;                    // path + "?" + query as sent (the origin-form part)
  std::string_view path;                      // "/" for an absolute-form target without a path
  std::string_view query;                     // without "?"; empty when there is none
  std::optional<std::string_view> authority;  // absolute-form only (RFC 9112 §3.2.2)
};

// origin-form "/p?q", or absolute-form with the scheme ws, wss, http or https and a valid
// authority without userinfo. Anything else — the asterisk-form, the authority-form, other
// schemes, a '#' (a fragment is never sent, RFC 9112 §3.2) — is nullopt: a 400. Views point into
// `target`. The head parser has already refused whitespace and control characters.
WSX_API std::optional<RequestTarget> parse_request_target(std::string_view target);

// Host = uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP literal in brackets, or a
// reg-name / IPv4 address of unreserved, sub-delims and pct-encoded characters; no userinfo.
WSX_API bool is_valid_authority(std::string_view authority);

}  // namespace wsx::proto
