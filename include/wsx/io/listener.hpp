// A listening TCP socket on an event loop. With reuse_port, one Listener per loop on N threads
// can bind the same address and the kernel spreads connections across them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <system_error>

#include "wsx/export.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/io/tcp_socket.hpp"

namespace wsx::io {

struct WSX_API ListenOptions {
  bool reuse_port = true;     // SO_REUSEPORT: several listeners (threads) share the port
  bool reuse_address = true;  // SO_REUSEADDR: restart while old connections sit in TIME_WAIT
  bool ipv6_only = true;      // an IPv6 listener does not also take IPv4-mapped connections
  int backlog = 1024;
  bool no_delay = true;  // TCP_NODELAY on accepted sockets: frames are batched by the loop
  // TCP_DEFER_ACCEPT (Linux), for protocols where the client speaks first: accept() returns a
  // connection once its first bytes have arrived, so the owner can read at once (see
  // Listener::defers_accept()) instead of waiting for the loop to report them. Linux rounds the
  // period up to its SYN-ACK retransmission schedule (1, 3, 7, 15 ... s); a client still silent
  // then is accepted all the same, without data (it is not dropped). 0: off. Where the kernel
  // does not have it or refuses it, the listener works as without it.
  std::chrono::seconds defer_accept{0};
  // Accepts per readiness event before serving other fds; level triggering brings us back.
  std::size_t max_accepts_per_wakeup = 1024;
  // Accepting pauses this long when the kernel is out of memory or descriptors run out with
  // no reserve left, instead of spinning on a listener that stays readable.
  std::chrono::milliseconds resource_pause{100};
};

class WSX_API Listener final : private IoHandler {
 public:
  // Accepted sockets are non-blocking and close-on-exec. Runs on the loop thread; it may
  // close() the listener but must not destroy it.
  using AcceptCallback = std::function<void(TcpSocket socket, const SocketAddress& peer)>;

  Listener(EventLoop& loop, AcceptCallback on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds (port 0 picks a free port: see local_address()), listens and registers. Loop thread.
  [[nodiscard]] std::error_code listen(const SocketAddress& address,
                                       const ListenOptions& options = {});
  void close() noexcept;
  bool listening() const noexcept { return fd_ >= 0; }
  int native_handle() const noexcept { return fd_; }  // -1 when not listening
  // TCP_DEFER_ACCEPT is in force: accepted sockets normally hold the client's first bytes.
  bool defers_accept() const noexcept { return defers_accept_; }
  SocketAddress local_address() const;

  // Connections accepted and closed at once because the process ran out of descriptors.
  std::uint64_t shed_connections() const noexcept { return shed_; }

 private:
  void on_readable() override;
  void on_error() override;
  void accept_ready();
  bool shed_one();  // EMFILE: free the reserve fd, accept and close, take the reserve back
  void pause();

  EventLoop& loop_;
  AcceptCallback on_accept_;
  ListenOptions options_;
  int fd_ = -1;
  int reserve_fd_ = -1;
  bool no_delay_inherited_ =
      false;                    // the listening socket has TCP_NODELAY, accepted ones inherit it
  bool defers_accept_ = false;  // see defers_accept()
  TimerId resume_timer_ = 0;
  std::uint64_t shed_ = 0;
};

}  // namespace wsx::io
