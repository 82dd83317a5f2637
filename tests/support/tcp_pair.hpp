// A connected loopback TCP pair for the io tests, both ends non-blocking with TCP_NODELAY (as the
// server sets it): [0] is the accepted end (the one a Stream usually takes), [1] the connecting
// end (the test's peer). The caller closes both.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>

// TCP_NODELAY: a test that reads TCP_INFO's newer fields includes <linux/tcp.h> (before this
// header, as system headers go first), which cannot be combined with glibc's <netinet/tcp.h>.
#ifndef TCP_NODELAY
#include <netinet/tcp.h>
#endif

namespace wsx::test {

// `buffer_size` > 0 shrinks the path from [0] to [1] (SO_SNDBUF of [0], SO_RCVBUF of [1], set
// before connecting so the window is small from the start): a few writes fill it.
inline std::array<int, 2> tcp_pair(int buffer_size = 0) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::listen(listener, 1), 0);
  EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (buffer_size > 0) {
    EXPECT_EQ(::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &buffer_size, sizeof buffer_size), 0);
  }
  EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(server, 0);
  ::close(listener);
  if (buffer_size > 0) {
    EXPECT_EQ(::setsockopt(server, SOL_SOCKET, SO_SNDBUF, &buffer_size, sizeof buffer_size), 0);
  }
  for (const int fd : {server, client}) {
    const int on = 1;
    EXPECT_EQ(::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on), 0);
    EXPECT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  }
  return {server, client};
}

}  // namespace wsx::test
