// A non-blocking TCP connect on an event loop: completion is learnt from writability and
// SO_ERROR, so the loop never blocks on a slow or dead peer.
#pragma once

#include <functional>
#include <system_error>

#include "wsx/export.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/io/tcp_socket.hpp"

namespace wsx::io {

struct WSX_API ConnectOptions {
  bool no_delay = true;  // TCP_NODELAY on the connected socket
  // Deadline for the whole attempt; zero waits for the kernel (minutes for a dead host).
  Clock::duration timeout = std::chrono::seconds(30);
};

class WSX_API Connector final : private IoHandler {
 public:
  // Exactly once per connect() unless cancelled: a connected socket and no error, or an
  // invalid socket and the error (connection_refused, timed_out, network_unreachable, ...).
  // Always on the loop thread, never from inside connect().
  using Callback = std::function<void(TcpSocket socket, std::error_code error)>;

  explicit Connector(EventLoop& loop) : loop_(loop) {}
  ~Connector();  // cancels
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  // Starts an attempt, cancelling any attempt in progress. Loop thread.
  void connect(const SocketAddress& address, Callback callback, const ConnectOptions& options = {});
  void cancel() noexcept;
  bool in_progress() const noexcept { return callback_ != nullptr; }

 private:
  void on_writable() override;
  void on_error() override;
  void finish(std::error_code error);

  EventLoop& loop_;
  Callback callback_;
  TcpSocket socket_;
  bool no_delay_ = true;
  TimerId timer_ = 0;  // timeout, or the deferred report of an immediate failure
};

}  // namespace wsx::io
