#include "reconnect_policy.hpp"

namespace wsx {

std::string_view describe(ClientErrorKind kind) noexcept {
  switch (kind) {
    case ClientErrorKind::resolve_failed:
      return "name resolution failed";
    case ClientErrorKind::connect_failed:
      return "TCP connection failed";
    case ClientErrorKind::connect_timeout:
      return "TCP connection timed out";
    case ClientErrorKind::tls_failed:
      return "TLS handshake failed";
    case ClientErrorKind::handshake_timeout:
      return "opening handshake timed out";
    case ClientErrorKind::handshake_refused:
      return "server refused the WebSocket upgrade";
    case ClientErrorKind::handshake_invalid:
      return "invalid handshake response";
    case ClientErrorKind::connection_lost:
      return "connection lost during the handshake";
    case ClientErrorKind::proxy_unreachable:
      return "proxy unreachable";
    case ClientErrorKind::proxy_refused:
      return "proxy refused the tunnel";
    case ClientErrorKind::proxy_failed:
      return "proxy failed";
    case ClientErrorKind::redirect_failed:
      return "redirect not followed";
  }
  return "unknown client error";
}

namespace client_detail {

bool is_transient(const ClientError& error) noexcept {
  switch (error.kind) {
    case ClientErrorKind::resolve_failed:
    case ClientErrorKind::connect_failed:
    case ClientErrorKind::connect_timeout:
    case ClientErrorKind::handshake_timeout:
    case ClientErrorKind::connection_lost:
    case ClientErrorKind::proxy_unreachable:
    case ClientErrorKind::proxy_failed:
      return true;
    case ClientErrorKind::proxy_refused:
      // An HTTP proxy's 502/503/504 and a SOCKS5 proxy's network-level replies (general failure,
      // unreachable, refused, TTL expired) may pass; 407/403 and "not allowed" are decisions.
      if (error.socks_reply != 0)
        return error.socks_reply == 1 || (error.socks_reply >= 3 && error.socks_reply <= 6);
      return error.status >= 500;
    case ClientErrorKind::redirect_failed:
      return false;
    case ClientErrorKind::handshake_refused:
      // 408 Request Timeout, 429 Too Many Requests and 5xx (503 over capacity, 502/504 from a
      // proxy whose backend restarts) may pass later; other refusals are decisions.
      return error.status == 408 || error.status == 429 || error.status >= 500;
    case ClientErrorKind::tls_failed:
    case ClientErrorKind::handshake_invalid:
      return false;
  }
  return false;
}

bool should_reconnect_after_close(std::uint16_t code, bool clean) noexcept {
  if (!clean) return true;
  return code == 1001 || (code >= 1011 && code <= 1014);
}

}  // namespace client_detail
}  // namespace wsx
