// TcpSocket over real loopback connections made by Listener and Connector on one loop.
#include "wsx/io/tcp_socket.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <poll.h>

#include <cerrno>
#include <memory>
#include <thread>
#include <vector>

#include "loop_watchdog.hpp"
#include "wsx/io/connector.hpp"
#include "wsx/io/listener.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

std::uint8_t pattern(std::size_t i) {
  return static_cast<std::uint8_t>(i * 131 + i / 7);
}

// Echoes everything back; stops reading while too much is unsent (backpressure); answers the
// peer's FIN with its own once everything is echoed.
class EchoConnection final : public IoHandler {
 public:
  EchoConnection(EventLoop& loop, TcpSocket socket) : loop_(loop), socket_(std::move(socket)) {
    EXPECT_FALSE(loop_.add(socket_.fd(), Interest::read, *this));
  }
  ~EchoConnection() { loop_.remove(socket_.fd()); }

  void on_readable() override {
    std::uint8_t buffer[65536];
    const IoResult result = socket_.read(buffer);
    if (result.status == IoStatus::ok) {
      pending_.insert(pending_.end(), buffer, buffer + result.bytes);
    } else if (result.status == IoStatus::closed) {
      peer_finished_ = true;
    } else if (result.status == IoStatus::error) {
      ADD_FAILURE() << "echo read error " << result.error;
    }
    loop_.defer_flush(socket_.fd());
  }
  void on_writable() override { on_flush(); }
  void on_flush() override {
    while (head_ < pending_.size()) {
      const IoResult result = socket_.write(ConstBuffer(pending_).subspan(head_));
      if (result.status != IoStatus::ok) break;
      head_ += result.bytes;
    }
    if (head_ == pending_.size()) {
      pending_.clear();
      head_ = 0;
    }
    const bool blocked = !pending_.empty();
    const bool reading = !peer_finished_ && pending_.size() < (1u << 20);
    Interest interest = Interest::none;
    if (reading) interest = interest | Interest::read;
    if (blocked) interest = interest | Interest::write;
    loop_.modify(socket_.fd(), interest);
    if (peer_finished_ && !blocked && !shut_) {
      shut_ = true;
      EXPECT_FALSE(socket_.shutdown_write());
    }
  }

  TcpSocket& socket() { return socket_; }

 private:
  EventLoop& loop_;
  TcpSocket socket_;
  std::vector<std::uint8_t> pending_;
  std::size_t head_ = 0;
  bool peer_finished_ = false;
  bool shut_ = false;
};

// Sends `total` pattern bytes through writev of three buffers at a time, half-closes, and
// checks that the same bytes come back before the echo's FIN.
class EchoClient final : public IoHandler {
 public:
  EchoClient(EventLoop& loop, TcpSocket socket, std::size_t total)
      : loop_(loop), socket_(std::move(socket)), data_(total) {
    for (std::size_t i = 0; i < total; ++i) data_[i] = pattern(i);
    const int small = 64 * 1024;  // forces partial writes
    ::setsockopt(socket_.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    EXPECT_FALSE(loop_.add(socket_.fd(), Interest::read_write, *this));
  }
  ~EchoClient() { loop_.remove(socket_.fd()); }

  void on_writable() override {
    while (sent_ < data_.size()) {
      const ConstBuffer rest = ConstBuffer(data_).subspan(sent_);
      const std::size_t third = std::min<std::size_t>(rest.size(), 100000);
      const ConstBuffer pieces[] = {rest.first(third / 3), rest.subspan(third / 3, third / 3),
                                    rest.subspan(2 * (third / 3), third - 2 * (third / 3))};
      const IoResult result = socket_.write(pieces);
      if (result.status == IoStatus::would_block) {
        ++would_block;
        return;
      }
      ASSERT_EQ(result.status, IoStatus::ok);
      if (result.bytes < third) ++partial_writes;
      sent_ += result.bytes;
    }
    EXPECT_FALSE(socket_.shutdown_write());
    loop_.modify(socket_.fd(), Interest::read);
  }
  void on_readable() override {
    std::uint8_t buffer[65536];
    const IoResult result = socket_.read(buffer);
    if (result.status == IoStatus::ok) {
      for (std::size_t i = 0; i < result.bytes; ++i) {
        if (buffer[i] != pattern(received_ + i)) {
          ADD_FAILURE() << "byte " << received_ + i << " corrupted";
          loop_.stop();
          return;
        }
      }
      received_ += result.bytes;
    } else if (result.status == IoStatus::closed) {
      finished = true;
      loop_.stop();
    } else if (result.status == IoStatus::error) {
      ADD_FAILURE() << "client read error " << result.error;
      loop_.stop();
    }
  }

  std::size_t received() const { return received_; }
  bool finished = false;
  int would_block = 0;
  int partial_writes = 0;

 private:
  EventLoop& loop_;
  TcpSocket socket_;
  std::vector<std::uint8_t> data_;
  std::size_t sent_ = 0;
  std::size_t received_ = 0;
};

void run_echo(const SocketAddress& bind_address) {
  EventLoop loop;
  test::arm_watchdog(loop, 20s);
  std::unique_ptr<EchoConnection> server;
  std::unique_ptr<EchoClient> client;
  SocketAddress accepted_peer;
  Listener listener(loop, [&](TcpSocket socket, const SocketAddress& peer) {
    accepted_peer = peer;
    // Asked now: once both sides have closed, getpeername() has nothing to report.
    EXPECT_EQ(peer.to_string(), socket.peer_address().to_string());
    server = std::make_unique<EchoConnection>(loop, std::move(socket));
  });
  const std::error_code error = listener.listen(bind_address);
  if (error == std::errc::address_not_available ||
      error == std::errc::address_family_not_supported) {
    GTEST_SKIP() << "no " << bind_address.ip() << " on this machine";
  }
  ASSERT_FALSE(error) << error.message();
  const SocketAddress address = listener.local_address();
  ASSERT_NE(address.port(), 0);
  constexpr std::size_t total = 8 * 1024 * 1024;
  Connector connector(loop);
  connector.connect(address, [&](TcpSocket socket, std::error_code connect_error) {
    ASSERT_FALSE(connect_error) << connect_error.message();
    EXPECT_EQ(socket.peer_address(), address);
    client = std::make_unique<EchoClient>(loop, std::move(socket), total);
  });
  loop.run();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->finished);
  EXPECT_EQ(client->received(), total);
  EXPECT_GT(client->would_block + client->partial_writes, 0);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->socket().local_address().to_string(), address.to_string());
  EXPECT_EQ(accepted_peer.ip(), bind_address.ip());
}

TEST(TcpSocket, EchoesEightMebibytesOverIpv4WithPartialWritesAndHalfClose) {
  run_echo(SocketAddress::ipv4_loopback(0));
}

TEST(TcpSocket, EchoesEightMebibytesOverIpv6) {
  run_echo(SocketAddress::ipv6_loopback(0));
}

// A connected pair without the loop, for the error paths.
struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    a = TcpSocket(fds[0]);
    b = TcpSocket(fds[1]);
  }
  TcpSocket a, b;
};

TEST(TcpSocket, ReadReportsWouldBlockThenEndOfStream) {
  Pair pair;
  std::uint8_t buffer[16];
  EXPECT_EQ(pair.a.read(buffer).status, IoStatus::would_block);
  const std::uint8_t hello[] = {'h', 'i'};
  EXPECT_EQ(pair.b.write(hello).bytes, 2u);
  const IoResult got = pair.a.read(buffer);
  EXPECT_EQ(got.status, IoStatus::ok);
  EXPECT_EQ(got.bytes, 2u);
  EXPECT_FALSE(pair.b.shutdown_write());
  EXPECT_EQ(pair.a.read(buffer).status, IoStatus::closed);
  // Half-closed: the other direction still works.
  EXPECT_EQ(pair.a.write(hello).bytes, 2u);
  EXPECT_EQ(pair.b.read(buffer).bytes, 2u);
}

TEST(TcpSocket, ReadIntoTwoPlacesFillsTheFirstThenTheSecond) {
  Pair pair;
  std::uint8_t first[4];
  std::uint8_t second[16];
  EXPECT_EQ(pair.a.read(first, second).status, IoStatus::would_block);
  const std::uint8_t data[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(pair.b.write(data).bytes, 10u);
  const IoResult got = pair.a.read(first, second);  // one call takes all ten bytes
  EXPECT_EQ(got.status, IoStatus::ok);
  ASSERT_EQ(got.bytes, 10u);
  EXPECT_EQ(std::vector<std::uint8_t>(first, first + 4), std::vector<std::uint8_t>(data, data + 4));
  EXPECT_EQ(std::vector<std::uint8_t>(second, second + 6),
            std::vector<std::uint8_t>(data + 4, data + 10));
  // Fewer bytes than the first place holds stay there; an empty second place is a plain read.
  EXPECT_EQ(pair.b.write(std::span(data, 3)).bytes, 3u);
  EXPECT_EQ(pair.a.read(first, {}).bytes, 3u);
  EXPECT_FALSE(pair.b.shutdown_write());
  EXPECT_EQ(pair.a.read(first, second).status, IoStatus::closed);
}

TEST(TcpSocket, WriteToAClosedPeerIsAnErrorNotASignal) {
  Pair pair;
  pair.b.close();
  const std::uint8_t data[] = {1, 2, 3};
  const ConstBuffer pieces[] = {data, data};
  const IoResult single = pair.a.write(data);
  EXPECT_EQ(single.status, IoStatus::error);
  EXPECT_EQ(single.error, EPIPE);
  EXPECT_EQ(pair.a.write(pieces).status, IoStatus::error);
}

// After the peer reset the connection, getpeername fails (ENOTCONN); the address is still
// given while the descriptor is open (SO_PEERNAME), over IPv4 and IPv6.
void expect_peer_address_after_reset(const SocketAddress& loopback) {
  const int family = loopback.family() == AddressFamily::ipv6 ? AF_INET6 : AF_INET;
  const int listening = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listening < 0) GTEST_SKIP() << "no " << loopback.ip() << " on this machine";
  const TcpSocket listener(listening);
  const auto* loopback_native = static_cast<const sockaddr*>(loopback.native());
  if (::bind(listening, loopback_native, static_cast<socklen_t>(loopback.native_size())) != 0) {
    GTEST_SKIP() << "no " << loopback.ip() << " on this machine";
  }
  ASSERT_EQ(::listen(listening, 1), 0);
  const SocketAddress bound = listener.local_address();
  TcpSocket client(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.fd(), static_cast<const sockaddr*>(bound.native()),
                      static_cast<socklen_t>(bound.native_size())),
            0);
  TcpSocket accepted(::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  const SocketAddress client_address = client.local_address();
  EXPECT_EQ(accepted.peer_address(), client_address);
  const linger abort_now{1, 0};  // close() sends RST
  ASSERT_EQ(::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now), 0);
  client.close();
  std::uint8_t byte = 0;
  ASSERT_EQ(::recv(accepted.fd(), &byte, 1, 0), -1);  // blocks until the reset arrives
  ASSERT_EQ(errno, ECONNRESET);
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  ASSERT_NE(::getpeername(accepted.fd(), reinterpret_cast<sockaddr*>(&storage), &length), 0);
  EXPECT_EQ(accepted.peer_address(), client_address);
}

TEST(TcpSocket, PeerAddressIsKnownAfterAResetOverIpv4) {
  expect_peer_address_after_reset(SocketAddress::ipv4_loopback(0));
}

TEST(TcpSocket, PeerAddressIsKnownAfterAResetOverIpv6) {
  expect_peer_address_after_reset(SocketAddress::ipv6_loopback(0));
}

// Writes above 256 KiB are made as two system calls, the first cut inside a buffer or at its
// end. Every layout must still deliver each byte once, in order, and count it once — also when
// the socket takes only part of a call.
TEST(TcpSocket, LargeGatheredWritesArriveIntactWhateverTheLayout) {
  const std::vector<std::vector<std::size_t>> layouts = {
      {300000},
      {131072, 200000},
      {131071, 1, 1, 200000},
      {100, 131072, 300000},
      {1 << 20},
      {std::vector<std::size_t>(64, 5000)},
      {262145},
  };
  for (const std::vector<std::size_t>& sizes : layouts) {
    for (const int send_buffer : {0, 32 * 1024}) {
      SCOPED_TRACE(testing::Message() << sizes.size() << " buffers, first " << sizes[0]
                                      << ", send buffer " << send_buffer);
      Pair pair;
      if (send_buffer > 0) {
        ::setsockopt(pair.a.fd(), SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);
      }
      std::size_t total = 0;
      for (const std::size_t size : sizes) total += size;
      std::vector<std::uint8_t> data(total);
      for (std::size_t i = 0; i < total; ++i) data[i] = pattern(i);

      std::vector<std::uint8_t> received;
      std::thread reader([&] {
        std::vector<std::uint8_t> buffer(65536);
        for (;;) {
          const IoResult got = pair.b.read(buffer);
          if (got.status == IoStatus::ok) {
            received.insert(received.end(), buffer.begin(), buffer.begin() + got.bytes);
          } else if (got.status == IoStatus::would_block) {
            pollfd readable{pair.b.fd(), POLLIN, 0};
            ::poll(&readable, 1, 1000);
          } else {
            return;  // closed (or an error, which the comparison below shows)
          }
        }
      });

      std::size_t sent = 0;
      int partial = 0;
      while (sent < total) {
        // The not yet sent part of the layout, as buffers.
        std::vector<ConstBuffer> buffers;
        std::size_t start = 0;
        for (const std::size_t size : sizes) {
          const std::size_t end = start + size;
          if (end > sent) {
            const std::size_t from = std::max(start, sent);
            buffers.emplace_back(data.data() + from, end - from);
          }
          start = end;
        }
        const IoResult result = pair.a.write(buffers);
        if (result.status == IoStatus::would_block) {
          pollfd writable{pair.a.fd(), POLLOUT, 0};
          ::poll(&writable, 1, 1000);
          continue;
        }
        // EXPECT and break, not ASSERT: the reader thread must be joined first.
        EXPECT_EQ(result.status, IoStatus::ok);
        EXPECT_LE(result.bytes, total - sent);
        if (result.status != IoStatus::ok || result.bytes > total - sent) break;
        if (result.bytes < total - sent) ++partial;
        sent += result.bytes;
      }
      EXPECT_FALSE(pair.a.shutdown_write());
      reader.join();
      ASSERT_EQ(received.size(), total);
      EXPECT_TRUE(received == data) << "bytes lost, repeated or reordered";
      if (send_buffer > 0) {
        EXPECT_GT(partial, 0);
      }
    }
  }
}

// A large (split) write to a peer that is gone reports EPIPE, not a signal or a count.
TEST(TcpSocket, LargeWriteToAClosedPeerIsAnError) {
  Pair pair;
  pair.b.close();
  const std::vector<std::uint8_t> data(512 * 1024, 0x42);
  const ConstBuffer pieces[] = {ConstBuffer(data).first(1000), ConstBuffer(data).subspan(1000)};
  const IoResult result = pair.a.write(pieces);
  EXPECT_EQ(result.status, IoStatus::error);
  EXPECT_EQ(result.error, EPIPE);
}

TEST(TcpSocket, EmptyWritesAndOwnership) {
  Pair pair;
  EXPECT_EQ(pair.a.write(ConstBuffer{}).bytes, 0u);
  const ConstBuffer none[] = {ConstBuffer{}, ConstBuffer{}};
  EXPECT_EQ(pair.a.write(none).status, IoStatus::ok);
  TcpSocket moved = std::move(pair.a);
  EXPECT_FALSE(pair.a.valid());
  EXPECT_TRUE(moved.valid());
  const int fd = moved.release();
  EXPECT_FALSE(moved.valid());
  TcpSocket again(fd);
  EXPECT_EQ(again.fd(), fd);
}

}  // namespace
}  // namespace wsx::io
