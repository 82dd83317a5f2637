// Proxies for the client: a proxy URL, and the one the environment names for a target, as curl
// reads it.
//
// Proxy URLs ([SCHEME://][USER[:PASSWORD]@]HOST[:PORT]; the port defaults to 1080 as in curl):
//   http://HOST:PORT     HTTP CONNECT tunnel; USER:PASSWORD go as Proxy-Authorization Basic
//   socks5h://HOST:PORT  SOCKS5 (RFC 1928); the proxy resolves the target's name (ATYP 3)
//   socks5://HOST:PORT   SOCKS5; the target's name is resolved here and its address sent, as
//                        curl does (a name only the proxy can resolve needs socks5h://)
// USER:PASSWORD are percent-decoded; for SOCKS5 they go as RFC 1929 username/password. Without a
// scheme the proxy is http://. The tunnel carries ws:// and wss:// alike: for wss:// the TLS
// handshake runs inside it, with SNI and certificate checks against the target, not the proxy.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "wsx/export.hpp"
#include "wsx/url.hpp"

namespace wsx {

enum class ProxyKind : std::uint8_t { http, socks5, socks5h };

struct WSX_API Proxy {
  ProxyKind kind = ProxyKind::http;
  std::string host;  // as in Url: lower-case name, IPv4, or IPv6 without brackets
  bool ipv6_literal = false;
  std::uint16_t port = 1080;
  std::optional<std::string> username;  // decoded; set when the URL has user information
  std::string password;                 // decoded

  // host:port as in a URL, IPv6 literals in brackets ("[::1]:1080").
  std::string authority() const;
  // The URL without the password, for messages: "socks5h://alice@proxy.example:1080".
  std::string to_string() const;
};

struct WSX_API ProxyParseResult {
  std::optional<Proxy> proxy;
  std::string error;  // why the text is not a usable proxy URL; empty on success
  bool ok() const noexcept { return proxy.has_value(); }
};

WSX_API ProxyParseResult parse_proxy_url(std::string_view text);

// Reads an environment variable: nullptr when unset. The C library's getenv by default.
using EnvironmentLookup = std::function<const char*(const char* name)>;

// The proxy URL the environment gives for `target`, or an empty string for a direct connection.
// As curl: wss:// takes https_proxy (or HTTPS_PROXY), ws:// takes http_proxy (lower case only:
// a CGI program gets HTTP_PROXY from a request's "Proxy:" header), then all_proxy/ALL_PROXY.
// no_proxy (or NO_PROXY) lists hosts reached directly (see no_proxy_matches). Loopback targets
// are not special: name them in no_proxy (curl does the same).
WSX_API std::string proxy_from_environment(const Url& target, const EnvironmentLookup& getenv = {});

// no_proxy: entries separated by commas or spaces. "*" matches every host; a name matches itself
// and every name under it ("example.com" and ".example.com" both match "ws.example.com", not
// "badexample.com"); an IP literal matches that address only, "10.0.0.0/8" a range of addresses
// (IPv6 in brackets or not); "HOST:PORT" matches that host on that port only. Names are compared
// as written, case-insensitively: nothing is resolved.
WSX_API bool no_proxy_matches(std::string_view no_proxy, const Url& target);

}  // namespace wsx
