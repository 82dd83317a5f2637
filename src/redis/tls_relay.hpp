// rediss:// without hiredis's TLS (hiredis 0.14 has none): hiredis reads and writes plaintext
// on one end of a socket pair; the relay owns the other end and carries the bytes both ways
// through wsx's own TLS stream to Redis, on the same event loop. Certificate checks are the
// TlsSession's (chain and host name unless the context was made insecure on purpose).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "wsx/export.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/tcp_socket.hpp"
#include "wsx/io/tls_session.hpp"

namespace wsx::redis {

class WSX_API TlsRelay {
 public:
  // Why the relay stopped: the TLS handshake failed (certificate), Redis closed or reset the
  // connection. Called at most once, on the loop thread; the owner may not destroy the relay
  // from inside the call (post it).
  using Failure = std::function<void(const std::string& reason)>;

  // `socket`: connected to Redis. On success `hiredis_end` is the socket to give hiredis
  // (async_context_on_socket), which owns it from then on; -1 when no socket pair could be made.
  TlsRelay(io::EventLoop& loop, io::TcpSocket socket, io::TlsSession tls, Failure failure);
  ~TlsRelay();
  TlsRelay(const TlsRelay&) = delete;
  TlsRelay& operator=(const TlsRelay&) = delete;

  int hiredis_end() const noexcept;
  // Bytes waiting in the relay, each way (tests).
  std::size_t buffered_to_redis() const noexcept;
  std::size_t buffered_to_hiredis() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsx::redis
