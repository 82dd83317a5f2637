// The client's side of the closing handshake on the wire (RFC 6455 §7.1.1, §7.1.7): after a
// clean close it leaves the TCP close to the server and waits for its FIN, bounded by the close
// timeout; after failing the connection it closes itself. The server is written out by hand on
// a blocking socket in its own thread, so the test sees exactly when the client's FIN comes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "loop_watchdog.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/proto/handshake.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// One connection at a time on 127.0.0.1, every wait bounded.
class HandWrittenServer {
 public:
  HandWrittenServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::listen(listener_, 4) == 0 &&
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  ~HandWrittenServer() {
    if (fd_ >= 0) ::close(fd_);
    ::close(listener_);
  }

  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/"; }

  // Accepts one connection and answers its upgrade request with a 101.
  bool accept_and_upgrade() {
    pollfd waiting{listener_, POLLIN, 0};
    if (::poll(&waiting, 1, 5000) != 1) return false;
    fd_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      std::string more = read(5s);
      if (more.empty()) return false;
      head += more;
    }
    const std::string name = "Sec-WebSocket-Key: ";
    const std::size_t at = head.find(name);
    if (at == std::string::npos) return false;
    const std::size_t end = head.find("\r\n", at);
    const std::string key = head.substr(at + name.size(), end - at - name.size());
    return write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
        proto::accept_key(key) + "\r\n\r\n");
  }

  bool write(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // What arrives within `timeout` (one read); empty on timeout or EOF (see eof()).
  std::string read(std::chrono::milliseconds timeout) {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(timeout.count())) != 1) return {};
    char buffer[4096];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) {
      eof_ = true;
      return {};
    }
    return std::string(buffer, static_cast<std::size_t>(got));
  }
  // Reads `size` bytes (the client's close frame, say), waiting up to 5 s in all.
  std::string read_exactly(std::size_t size) {
    std::string bytes;
    const Clock::time_point deadline = Clock::now() + 5s;
    while (bytes.size() < size && !eof_ && Clock::now() < deadline) bytes += read(100ms);
    return bytes;
  }
  // True when the client closed its end (FIN) within `timeout`; anything else it sends is
  // skipped.
  bool wait_eof(std::chrono::milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    while (!eof_ && Clock::now() < deadline) read(10ms);
    return eof_;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int listener_ = -1;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  bool eof_ = false;
};

// A masked client close frame's status code (the bytes: 0x88, 0x80 | length, mask, payload).
int masked_close_code(const std::string& frame) {
  if (frame.size() < 8 || static_cast<std::uint8_t>(frame[0]) != 0x88) return -1;
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint8_t>(frame[i]) ^ static_cast<std::uint8_t>(frame[2 + (i - 6) % 4]);
  };
  return (byte(6) << 8) | byte(7);
}

// The client, on this thread's loop until done; the close timeout as given.
struct RunningClient {
  RunningClient(const std::string& url, std::chrono::milliseconds close_timeout) {
    ClientOptions options;
    options.url = url;
    options.websocket.close_timeout = close_timeout;
    ClientHandlers handlers;
    handlers.close = [this](WebSocket&, const CloseInfo& info) {
      code = info.code;
      clean = info.clean;
      closed_at = Clock::now();
    };
    handlers.done = [this] {
      done_at = Clock::now();
      loop.stop();
    };
    client.emplace(loop, options, handlers);
  }
  void run() {
    test::arm_watchdog(loop, 15s);
    client->connect();
    loop.run();
  }

  io::EventLoop loop;
  std::optional<Client> client;
  int code = 0;
  bool clean = false;
  Clock::time_point closed_at{}, done_at{};
};

const std::string close_1000 = std::string("\x88\x02\x03\xe8", 4);

TEST(ClientClosing, WaitsForTheServersFinAfterACleanClose) {
  HandWrittenServer server;
  RunningClient client(server.url(), 30s);  // a long timeout: not what ends the wait
  bool upgraded = false, fin_before_ours = true, fin_after_ours = false;
  int reply = 0;
  Clock::time_point our_fin{}, client_fin{};
  std::thread thread([&] {
    upgraded = server.accept_and_upgrade();
    if (!upgraded || !server.write(close_1000)) return;
    reply = masked_close_code(server.read_exactly(8));
    // The old behaviour closed TCP right behind the reply: its FIN would be here at once.
    fin_before_ours = server.wait_eof(300ms);
    our_fin = Clock::now();
    server.shutdown_write();
    fin_after_ours = server.wait_eof(5s);
    client_fin = Clock::now();
  });
  client.run();
  thread.join();
  ASSERT_TRUE(upgraded);
  EXPECT_EQ(reply, 1000);
  EXPECT_FALSE(fin_before_ours) << "the client closed TCP before the server";
  EXPECT_TRUE(fin_after_ours);
  EXPECT_EQ(client.code, 1000);
  EXPECT_TRUE(client.clean);
  // The close is reported when the handshake ends, not when TCP does; done follows the FIN.
  EXPECT_LT(client.closed_at, our_fin);
  EXPECT_GE(client.done_at, our_fin);
  EXPECT_LT(client_fin - our_fin, 5s);
}

TEST(ClientClosing, GivesUpWaitingForTheFinAfterTheCloseTimeout) {
  HandWrittenServer server;
  RunningClient client(server.url(), 300ms);
  bool upgraded = false, client_closed = false;
  int reply = 0;
  Clock::time_point closing{}, client_fin{};
  std::thread thread([&] {
    upgraded = server.accept_and_upgrade();
    // Taken before the client can have its reply sent (which starts its close timeout): taken
    // after reading the reply instead, a descheduled thread made the wait look shorter.
    closing = Clock::now();
    if (!upgraded || !server.write(close_1000)) return;
    reply = masked_close_code(server.read_exactly(8));
    client_closed = server.wait_eof(10s);  // the server never closes
    client_fin = Clock::now();
  });
  client.run();
  thread.join();
  ASSERT_TRUE(upgraded);
  EXPECT_EQ(reply, 1000);
  EXPECT_TRUE(client_closed);
  EXPECT_GE(client_fin - closing, 250ms);  // it did wait (the close timeout is 300 ms)
  EXPECT_EQ(client.code, 1000);
  EXPECT_TRUE(client.clean);
}

TEST(ClientClosing, ClosesItselfAfterFailingTheConnection) {
  HandWrittenServer server;
  RunningClient client(server.url(), 30s);
  bool upgraded = false, client_closed = false;
  int reply = 0;
  std::thread thread([&] {
    upgraded = server.accept_and_upgrade();
    // A masked frame from a server breaks RFC 6455 §5.1: the client fails with 1002.
    if (!upgraded || !server.write(std::string("\x81\x82\x00\x00\x00\x00hi", 8))) return;
    reply = masked_close_code(server.read_exactly(8));
    client_closed = server.wait_eof(5s);  // without waiting for a FIN from the server
    server.close();
  });
  client.run();
  thread.join();
  ASSERT_TRUE(upgraded);
  EXPECT_EQ(reply, 1002);
  EXPECT_TRUE(client_closed);
  EXPECT_EQ(client.code, 1002);
  EXPECT_FALSE(client.clean);
}

}  // namespace
}  // namespace wsx
