// A listener that never accepts, with its accept queue filled: the kernel then drops further
// SYNs, so a connect to it neither succeeds nor fails — a blackholed route, on loopback.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <vector>

#include "wsx/io/socket_address.hpp"
#include "wsx/io/tcp_socket.hpp"

namespace wsx::test {

class BlackholeListener {
 public:
  explicit BlackholeListener(const io::SocketAddress& bind_to) {
    const int domain = bind_to.family() == io::AddressFamily::ipv6 ? AF_INET6 : AF_INET;
    listener_ = io::TcpSocket(::socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener_.valid()) return;
    if (::bind(listener_.fd(), static_cast<const sockaddr*>(bind_to.native()),
               static_cast<socklen_t>(bind_to.native_size())) != 0 ||
        ::listen(listener_.fd(), 0) != 0) {
      listener_.close();
      return;
    }
    address_ = listener_.local_address();
    std::vector<pollfd> waiting;
    for (int i = 0; i < 4; ++i) {
      io::TcpSocket filler(::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      ::connect(filler.fd(), static_cast<const sockaddr*>(address_.native()),
                static_cast<socklen_t>(address_.native_size()));
      waiting.push_back({filler.fd(), POLLOUT, 0});
      fillers_.push_back(std::move(filler));
    }
    // Once one filler is connected the queue (backlog 0) is full; the rest stay in SYN-SENT.
    ::poll(waiting.data(), waiting.size(), 5000);
  }

  // False when the address could not be bound (no IPv6, port taken).
  bool ok() const { return listener_.valid(); }
  const io::SocketAddress& address() const { return address_; }

 private:
  io::TcpSocket listener_;
  io::SocketAddress address_;
  std::vector<io::TcpSocket> fillers_;
};

}  // namespace wsx::test
