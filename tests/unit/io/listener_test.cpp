#include "wsx/io/listener.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "loop_watchdog.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

// A blocking client socket connected to `address`, made without the loop.
TcpSocket connect_blocking(const SocketAddress& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::connect(fd, static_cast<const sockaddr*>(address.native()),
                      static_cast<socklen_t>(address.native_size())),
            0);
  return TcpSocket(fd);
}

TEST(Listener, ReusePortSpreadsConnectionsOverLoopsOnTwoThreads) {
  constexpr int connections = 64;
  std::atomic<int> accepted_total{0};
  std::atomic<int> accepted[2] = {0, 0};
  std::atomic<std::uint16_t> port{0};
  std::atomic<int> listening{0};
  EventLoop loops[2];
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      EventLoop& loop = loops[i];
      test::arm_watchdog(loop, 10s);
      Listener listener(loop, [&, i](TcpSocket, const SocketAddress&) {
        ++accepted[i];
        if (++accepted_total == connections) {
          loops[0].stop();
          loops[1].stop();
        }
      });
      // The first thread picks the port; the second binds the same one.
      if (i == 1) {
        while (listening.load() == 0) std::this_thread::sleep_for(1ms);
      }
      const std::error_code error = listener.listen(SocketAddress::ipv4_loopback(port.load()));
      EXPECT_FALSE(error) << error.message();
      if (i == 0) port = listener.local_address().port();
      ++listening;
      loop.run();
    });
  }
  while (listening.load() < 2) std::this_thread::sleep_for(1ms);
  std::vector<TcpSocket> clients;
  for (int i = 0; i < connections; ++i) {
    clients.push_back(connect_blocking(SocketAddress::ipv4_loopback(port.load())));
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(accepted_total.load(), connections);
  // The kernel hashes each connection to one listener: all 64 on one side is 2^-63 likely.
  EXPECT_GT(accepted[0].load(), 0);
  EXPECT_GT(accepted[1].load(), 0);
}

TEST(Listener, SecondBindWithoutReusePortFails) {
  EventLoop loop;
  Listener first(loop, [](TcpSocket, const SocketAddress&) {});
  ListenOptions exclusive;
  exclusive.reuse_port = false;
  ASSERT_FALSE(first.listen(SocketAddress::ipv4_loopback(0), exclusive));
  EXPECT_TRUE(first.listening());
  Listener second(loop, [](TcpSocket, const SocketAddress&) {});
  EXPECT_EQ(second.listen(first.local_address(), exclusive), std::errc::address_in_use);
  EXPECT_FALSE(second.listening());
  EXPECT_EQ(second.listen(SocketAddress{}), std::errc::invalid_argument);
  first.close();
  EXPECT_FALSE(first.listening());
  EXPECT_TRUE(first.local_address().empty());
}

TEST(Listener, AcceptsOverIpv6AndSetsNoDelay) {
  EventLoop loop;
  test::arm_watchdog(loop);
  int no_delay = -1;
  std::string peer_text;
  Listener listener(loop, [&](TcpSocket socket, const SocketAddress& peer) {
    int value = 0;
    socklen_t length = sizeof value;
    ::getsockopt(socket.fd(), IPPROTO_TCP, TCP_NODELAY, &value, &length);
    no_delay = value;
    peer_text = peer.to_string();
    loop.stop();
  });
  const std::error_code error = listener.listen(SocketAddress::ipv6_loopback(0));
  if (error) GTEST_SKIP() << "no IPv6 loopback: " << error.message();
  const SocketAddress address = listener.local_address();
  EXPECT_EQ(address.to_string(), "[::1]:" + std::to_string(address.port()));
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(fd, static_cast<const sockaddr*>(address.native()),
                      static_cast<socklen_t>(address.native_size())),
            0);
  TcpSocket client(fd);
  loop.run();
  EXPECT_EQ(no_delay, 1);
  EXPECT_EQ(peer_text, client.local_address().to_string());
}

int defer_accept_of(int fd) {
  int value = -1;
  socklen_t length = sizeof value;
  EXPECT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &value, &length), 0);
  return value;
}

// With TCP_DEFER_ACCEPT the kernel keeps a connection that has said nothing: the listener does
// not report it, and once its first bytes arrive accept() returns it with them already readable.
TEST(Listener, DeferAcceptHandsOverAConnectionWithItsFirstBytes) {
  EventLoop loop;
  test::arm_watchdog(loop);
  int accepted = 0;
  std::string first_read;
  Listener listener(loop, [&](TcpSocket socket, const SocketAddress&) {
    ++accepted;
    char bytes[16];
    const ssize_t n = ::recv(socket.fd(), bytes, sizeof bytes, MSG_DONTWAIT);
    if (n > 0) first_read.assign(bytes, static_cast<std::size_t>(n));
    loop.stop();
  });
  ListenOptions options;
  // 3 s (two SYN-ACK retransmissions): far beyond the quiet window below, even on a loaded
  // machine, so the silent phase cannot end by itself during it.
  options.defer_accept = 3s;
  ASSERT_FALSE(listener.listen(SocketAddress::ipv4_loopback(0), options));
  EXPECT_TRUE(listener.defers_accept());
  EXPECT_EQ(defer_accept_of(listener.native_handle()), 3);
  TcpSocket client = connect_blocking(listener.local_address());
  loop.run_after(300ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(accepted, 0);  // connected, silent: not handed over
  ASSERT_EQ(::send(client.fd(), "GET", 3, MSG_NOSIGNAL), 3);
  loop.run();
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(first_read, "GET");  // there at once, no wait for readiness
}

// What Linux does when the period ends without data (net/ipv4/inet_connection_sock.c,
// syn_ack_recalc(): one SYN-ACK is sent again at its end; the client's ACK to it makes the
// connection): the connection is accepted, with nothing to read. It is not dropped, so the
// owner's own timeout must bound it.
TEST(Listener, DeferAcceptAcceptsASilentClientWhenThePeriodEnds) {
  EventLoop loop;
  test::arm_watchdog(loop);
  int accepted = 0;
  bool nothing_to_read = false;
  Listener listener(loop, [&](TcpSocket socket, const SocketAddress&) {
    ++accepted;
    char byte;
    nothing_to_read = ::recv(socket.fd(), &byte, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
    loop.stop();
  });
  ListenOptions options;
  options.defer_accept = 1s;
  ASSERT_FALSE(listener.listen(SocketAddress::ipv4_loopback(0), options));
  EXPECT_EQ(defer_accept_of(listener.native_handle()), 1);
  const auto start = std::chrono::steady_clock::now();
  TcpSocket client = connect_blocking(listener.local_address());
  loop.run();
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(accepted, 1);
  EXPECT_TRUE(nothing_to_read);
  EXPECT_GE(waited, 900ms);  // the kernel's SYN-ACK timer: 1 s
}

TEST(Listener, DeferAcceptZeroAcceptsAsSoonAsTheTcpHandshakeEnds) {
  EventLoop loop;
  test::arm_watchdog(loop);
  int accepted = 0;
  Listener listener(loop, [&](TcpSocket, const SocketAddress&) {
    ++accepted;
    loop.stop();
  });
  ListenOptions options;
  options.defer_accept = 0s;
  ASSERT_FALSE(listener.listen(SocketAddress::ipv4_loopback(0), options));
  EXPECT_FALSE(listener.defers_accept());
  EXPECT_EQ(defer_accept_of(listener.native_handle()), 0);
  TcpSocket client = connect_blocking(listener.local_address());
  loop.run();  // nothing sent: accepted all the same (the watchdog would fail the test)
  EXPECT_EQ(accepted, 1);
}

// With every descriptor in use, pending connections are shed (accepted and closed) using the
// reserve descriptor, instead of the listener staying readable and the loop spinning.
TEST(Listener, OutOfDescriptorsShedsConnectionsWithoutSpinning) {
  EventLoop loop;
  test::arm_watchdog(loop);
  int accepted = 0;
  Listener listener(loop, [&](TcpSocket, const SocketAddress&) {
    ++accepted;
    loop.stop();
  });
  ASSERT_FALSE(listener.listen(SocketAddress::ipv4_loopback(0)));
  // One ordinary accept first: it also lets the sanitizer runtime, which itself needs
  // descriptors for some checks, see the handler type while descriptors are still available.
  TcpSocket first = connect_blocking(listener.local_address());
  loop.run();
  ASSERT_EQ(accepted, 1);
  constexpr int clients_count = 5;
  std::vector<TcpSocket> clients;
  for (int i = 0; i < clients_count; ++i) {
    clients.push_back(connect_blocking(listener.local_address()));
  }
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int lowest_free = ::dup(0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);  // no new descriptor can be opened
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  const std::uint64_t iterations_before = loop.iterations();
  loop.run_after(200ms, [&] { loop.stop(); });
  loop.run();
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(listener.shed_connections(), static_cast<std::uint64_t>(clients_count));
  EXPECT_LT(loop.iterations() - iterations_before, 50u);  // a spinning loop would run thousands
  // Shed clients learn at once: their connection is closed.
  std::uint8_t byte;
  for (TcpSocket& client : clients) {
    const IoResult result = client.read({&byte, 1});
    EXPECT_TRUE(result.status == IoStatus::closed || result.status == IoStatus::error);
  }
}

}  // namespace
}  // namespace wsx::io
