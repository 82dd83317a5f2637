// A wsx server sends a message larger than the wsx client takes: both ends must learn the
// client's close code 1009 (RFC 6455 §7.4.1), not a transport error. The server's reading is
// paused while its output is over max_backpressure, so the client's close frame waits unread in
// its socket; the client, getting no close frame back, drains the server's message for a while
// (linger_discard_limit) and then resets the connection, and the server's next write fails
// (EPIPE). Before that failure is reported, the server must still read the close frame; over
// TLS too, where a failed write would otherwise leave OpenSSL unable to read anything more.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "loop_watchdog.hpp"
#include "running_server.hpp"
#include "test_certs.hpp"
#include "test_tls_options.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t client_limit = 64 * 1024;
// More than the client's limit, the server's max_backpressure below, and what the client drains
// after its close (session::linger_discard_limit, 1 MiB) plus what both sockets hold: the
// server is still writing when the client resets.
constexpr std::size_t message_size = 8 * 1024 * 1024;

struct Closed {
  std::uint16_t code = 0;
  std::string reason;
  bool clean = false;
};

void expect_both_ends_see_1009(bool tls) {
  std::promise<Closed> server_closed;
  ServerOptions server_options{.threads = 1};
  if (tls) {
    const test::TestPki& pki = test::test_pki();
    server_options.tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                          .private_key_file = pki.server_key};
  }
  Server server(server_options);
  Behavior behavior;
  // Small: the server stops reading right after the message is queued (Session::after_output).
  behavior.max_backpressure = 64 * 1024;
  behavior.open = [](WebSocket& ws) {
    ws.send(std::vector<std::uint8_t>(message_size, 0x5a), MessageKind::binary);
  };
  behavior.close = [&server_closed](WebSocket&, const CloseInfo& info) {
    server_closed.set_value({info.code, std::string(info.reason), info.clean});
  };
  server.route("/", behavior);
  test::RunningServer running(server);

  io::EventLoop loop;
  test::arm_watchdog(loop, 30s);
  ClientOptions options;
  options.url =
      std::string(tls ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(running.port()) + "/";
  if (tls) test::trust_test_ca_only(options.tls);
  options.connect_timeout = 10s;
  options.handshake_timeout = 10s;
  options.websocket.max_message_size = client_limit;
  Closed client_closed;
  int messages = 0;
  ClientHandlers handlers;
  handlers.message = [&messages](WebSocket&, Message) { ++messages; };
  handlers.close = [&client_closed](WebSocket&, const CloseInfo& info) {
    client_closed = {info.code, std::string(info.reason), info.clean};
  };
  handlers.done = [&loop] { loop.stop(); };
  Client client(loop, options, handlers);
  client.connect();
  loop.run();

  EXPECT_EQ(messages, 0);
  EXPECT_EQ(client_closed.code, 1009) << client_closed.reason;
  std::future<Closed> seen = server_closed.get_future();
  ASSERT_EQ(seen.wait_for(20s), std::future_status::ready);
  const Closed closed = seen.get();
  EXPECT_EQ(closed.code, 1009) << closed.reason;
}

TEST(MessageTooBig, TheServerHearsTheClients1009ThoughItsWriteFailedFirst) {
  expect_both_ends_see_1009(/*tls=*/false);
}

// OpenSSL reads nothing after a write error: the session's socket BIO reports the peer's reset
// as "retry" and the stream decrypts what the kernel still holds before it fails.
TEST(MessageTooBig, OverTlsTheServerHearsTheClients1009ThoughItsWriteFailedFirst) {
  expect_both_ends_see_1009(/*tls=*/true);
}

}  // namespace
}  // namespace wsx
