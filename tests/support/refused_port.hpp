// A loopback port where connections are refused: bound but never listening (the kernel answers
// a SYN with RST), and held, so that no other process can take it meanwhile. A port bound and
// closed again, as tests used to take, may be taken by another process in between (any
// connection's ephemeral port): the test would then reach a stranger. Bound without
// SO_REUSEADDR, so nobody else can bind it while it is held.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <deque>

namespace wsx::test {

class RefusedPort {
 public:
  RefusedPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
    socklen_t size = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~RefusedPort() { release(); }
  RefusedPort(const RefusedPort&) = delete;
  RefusedPort& operator=(const RefusedPort&) = delete;

  std::uint16_t port() const { return port_; }  // 0 when no port could be bound
  // Frees the port, for a test that listens there itself next.
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

// A refused port held until the test process exits.
inline std::uint16_t refused_loopback_port() {
  static std::deque<RefusedPort> held;  // a deque: its elements never move
  return held.emplace_back().port();
}

}  // namespace wsx::test
