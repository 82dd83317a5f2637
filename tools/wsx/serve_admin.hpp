// The admin endpoint of `wsx serve`: GET /admin/connections answers the live connections and the
// recent refused requests as JSON (serve_connections.hpp) — to whom may see them:
//
// - A client on this machine: the peer is a loopback address (127.0.0.0/8, ::1, or either as an
//   IPv4-mapped IPv6 address) AND the Host header names loopback (localhost, 127.x.y.z, [::1]),
//   AND a browser does not say the request comes from another site (Sec-Fetch-Site). The Host
//   check stops DNS rebinding: a page of evil.example whose name is made to resolve to 127.0.0.1
//   reaches the server from loopback, but with Host: evil.example.
// - Anyone presenting `Authorization: Bearer TOKEN` with the token of `--admin-token`; compared
//   in constant time (SHA-256 of both, then CRYPTO_memcmp: neither the content nor the length
//   of the token leaks through timing).
// Everything else: 403 without a token configured (nothing can make it visible from elsewhere:
// secure by default), 401 with `WWW-Authenticate: Bearer` when one is.
#pragma once

#include <string>
#include <string_view>

#include <string>
#include <vector>
#include "serve_connections.hpp"

#include "wsx/server.hpp"

namespace wsx::tool {

inline constexpr std::string_view admin_connections_path = "/admin/connections";

enum class AdminVerdict { allowed, forbidden, unauthorized };

// "127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.2]:5000" are loopback; "192.0.2.1:5000" not.
bool is_loopback_peer(std::string_view remote_address);
// "localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080"; not "evil.example".
bool is_loopback_host(std::string_view host_header);
bool tokens_equal(std::string_view presented, std::string_view expected);

// DNS rebinding: a page of evil.example whose name an attacker points at 127.0.0.1 reaches a
// loopback server as a same-origin page (its Origin and Host are both evil.example). A server
// listening on loopback only therefore answers only Hosts that name this machine (localhost,
// loopback addresses) or one of `allowed` (--allow-host, for a reverse proxy's public name);
// others get 421 Misdirected Request. Disabled (all pass) when some listener is not loopback.
struct HostGuard {
  bool enabled = false;
  std::vector<std::string> allowed;  // host names without port, compared case-insensitively
  bool permits(std::string_view host_header) const;
};
inline constexpr int host_guard_status = 421;

// `token` empty: no token configured (loopback only).
AdminVerdict admin_verdict(const HttpRequest& request, std::string_view token);

// The whole answer for a request to admin_connections_path.
proto::HttpResponse admin_response(const HttpRequest& request, std::string_view token,
                                   const ConnectionRegistry& registry);

}  // namespace wsx::tool
