// The conversation that opens a tunnel through a proxy, without any I/O: bytes to send, bytes
// received, and a verdict. The proxy's answers are hostile input: each reply is bounded, a
// malformed one is an error naming what is wrong, and nothing past the reply is accepted (the
// target speaks only after we do, for ws:// and wss:// alike, so a byte there is the proxy's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wsx/client.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/proxy.hpp"

namespace wsx::client_detail {

enum class TunnelStatus : std::uint8_t { need_more, established, failed };

// Where the tunnel leads: the target's host and port as the URL names them, or (socks5://,
// which resolves here) the address it was resolved to.
struct TunnelTarget {
  std::string host;  // a name or an IP literal (IPv6 without brackets)
  std::uint16_t port = 0;
  std::optional<io::SocketAddress> resolved;
};

class ProxyNegotiation {
 public:
  virtual ~ProxyNegotiation() = default;
  // Bytes to send now (the first request is ready at once); take them all.
  virtual std::string take_output() = 0;
  // Bytes received from the proxy. After `failed`, error() says why; after `established` the
  // tunnel is open and nothing more may be fed.
  virtual TunnelStatus feed(std::string_view bytes) = 0;
  // The proxy closed the connection (or it failed) before the verdict.
  virtual ClientError closed_early(std::string_view reason) const = 0;
  // Set after `failed`: proxy_refused (an answer that says no) or proxy_failed.
  virtual const ClientError& error() const = 0;
};

// HTTP CONNECT (RFC 9110 §9.3.6); the reply head is limited to `max_head` bytes.
std::unique_ptr<ProxyNegotiation> make_http_connect(const Proxy& proxy, const TunnelTarget& target,
                                                    std::size_t max_head);
// SOCKS5 (RFC 1928) with username/password authentication (RFC 1929) when the proxy has them.
std::unique_ptr<ProxyNegotiation> make_socks5(const Proxy& proxy, const TunnelTarget& target);

// The name of a SOCKS5 reply code ("connection refused"), for messages.
std::string_view socks5_reply_name(std::uint8_t code) noexcept;

}  // namespace wsx::client_detail
