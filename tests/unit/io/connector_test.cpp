#include "wsx/io/connector.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include "loop_watchdog.hpp"
#include "refused_port.hpp"
#include "wsx/io/listener.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

// A loopback port that refuses connections for the rest of the test.
SocketAddress closed_port() {
  return SocketAddress::ipv4_loopback(test::refused_loopback_port());
}

TEST(Connector, ConnectsAndNeverCallsBackFromInsideConnect) {
  EventLoop loop;
  test::arm_watchdog(loop);
  std::optional<SocketAddress> accepted_from;
  Listener listener(loop, [&](TcpSocket, const SocketAddress& peer) { accepted_from = peer; });
  ASSERT_FALSE(listener.listen(SocketAddress::ipv4_loopback(0)));
  Connector connector(loop);
  bool inside_connect = true;
  bool called = false;
  SocketAddress local;
  connector.connect(listener.local_address(), [&](TcpSocket socket, std::error_code error) {
    EXPECT_FALSE(inside_connect);
    ASSERT_FALSE(error) << error.message();
    ASSERT_TRUE(socket.valid());
    local = socket.local_address();
    called = true;
    loop.run_after(20ms, [&] { loop.stop(); });
  });
  inside_connect = false;
  EXPECT_TRUE(connector.in_progress());
  loop.run();
  EXPECT_TRUE(called);
  EXPECT_FALSE(connector.in_progress());
  ASSERT_TRUE(accepted_from.has_value());
  EXPECT_EQ(accepted_from->to_string(), local.to_string());
}

TEST(Connector, ClosedPortReportsConnectionRefused) {
  EventLoop loop;
  test::arm_watchdog(loop);
  Connector connector(loop);
  std::error_code result;
  connector.connect(closed_port(), [&](TcpSocket socket, std::error_code error) {
    EXPECT_FALSE(socket.valid());
    result = error;
    loop.stop();
  });
  loop.run();
  EXPECT_EQ(result, std::errc::connection_refused) << result.message();
}

TEST(Connector, InvalidAddressFailsAsynchronously) {
  EventLoop loop;
  test::arm_watchdog(loop);
  Connector connector(loop);
  std::error_code result;
  bool inside_connect = true;
  connector.connect(SocketAddress{}, [&](TcpSocket, std::error_code error) {
    EXPECT_FALSE(inside_connect);
    result = error;
    loop.stop();
  });
  inside_connect = false;
  loop.run();
  EXPECT_EQ(result, std::errc::invalid_argument);
}

TEST(Connector, CancelAndDestructionSuppressTheCallback) {
  EventLoop loop;
  test::arm_watchdog(loop);
  Connector connector(loop);
  bool called = false;
  connector.connect(closed_port(), [&](TcpSocket, std::error_code) { called = true; });
  connector.cancel();
  EXPECT_FALSE(connector.in_progress());
  {
    Connector doomed(loop);
    doomed.connect(SocketAddress{}, [&](TcpSocket, std::error_code) { called = true; });
  }
  loop.run_after(50ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(called);
}

// A listener whose accept queue is full drops SYNs, so the attempt can only end by timeout.
TEST(Connector, TimesOutWhenThePeerNeverAnswers) {
  const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  TcpSocket server_socket(server);
  const SocketAddress any_port = SocketAddress::ipv4_loopback(0);
  ASSERT_EQ(::bind(server, static_cast<const sockaddr*>(any_port.native()),
                   static_cast<socklen_t>(any_port.native_size())),
            0);
  ASSERT_EQ(::listen(server, 0), 0);
  const SocketAddress address = server_socket.local_address();
  EventLoop loop;
  test::arm_watchdog(loop);
  // Fill the accept queue (never accepted).
  std::vector<std::unique_ptr<Connector>> fillers;
  for (int i = 0; i < 4; ++i) {
    fillers.push_back(std::make_unique<Connector>(loop));
    fillers.back()->connect(address, [](TcpSocket, std::error_code) {}, {true, 0s});
  }
  std::error_code result;
  Connector late(loop);
  loop.run_after(100ms, [&] {
    ConnectOptions options;
    options.timeout = 200ms;
    late.connect(
        address,
        [&](TcpSocket, std::error_code error) {
          result = error;
          loop.stop();
        },
        options);
  });
  loop.run();
  if (!result) GTEST_SKIP() << "the kernel completed the connection despite a full queue";
  EXPECT_EQ(result, std::errc::timed_out) << result.message();
}

}  // namespace
}  // namespace wsx::io
