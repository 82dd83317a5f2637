// Reconnecting: after a dropped connection or a service restart (1012) but not after an
// application's close, with backoff and a bound on attempts, and stopped by close().
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "client_recorder.hpp"
#include "wsx/client.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::ClientHarness;

ClientOptions reconnecting(const std::string& url, std::size_t attempts = 5) {
  ClientOptions options = test::options_for(url);
  options.reconnect.enabled = true;
  options.reconnect.max_attempts = attempts;
  options.reconnect.initial_delay = 20ms;
  options.reconnect.max_delay = 100ms;
  options.reconnect_seed = 1;
  return options;
}

std::string url_of_a_closed_port() {
  return "ws://127.0.0.1:" + std::to_string(test::closed_port()) + "/";
}

TEST(ClientReconnect, ReconnectsAfterTheServerDropsTheConnection) {
  ClientHarness h;
  h.recorder.on_open = [&](WebSocket& ws) { ws.send(h.recorder.opens == 1 ? "first" : "second"); };
  h.recorder.on_message = [&](WebSocket& ws, Message message) {
    if (message.text() == "first") {
      h.server.drop_all();  // no closing handshake: 1006, the client comes back
    } else {
      ws.close(1000);
    }
  };
  const Client& client = h.run(reconnecting(h.server.url()));
  EXPECT_EQ(h.recorder.opens, 2);
  EXPECT_EQ(client.connections_opened(), 2u);
  EXPECT_EQ(h.recorder.closes, (std::vector<std::uint16_t>{1006, 1000}));
  EXPECT_EQ(h.recorder.messages, (std::vector<std::string>{"first", "second"}));
  EXPECT_TRUE(h.recorder.errors.empty());
  EXPECT_EQ(h.recorder.dones, 1);
}

TEST(ClientReconnect, ReconnectsAfterServiceRestartButNotAfterAnApplicationClose) {
  ClientHarness h;
  h.server.on_open = [&](WebSocket& ws) {
    if (h.server.opened == 1) {
      ws.close(1012, "restarting");
    } else {
      ws.close(4000, "go home");
    }
  };
  h.run(reconnecting(h.server.url()));
  EXPECT_EQ(h.recorder.opens, 2);
  EXPECT_EQ(h.recorder.closes, (std::vector<std::uint16_t>{1012, 4000}));
  EXPECT_EQ(h.recorder.close_reason, "go home");
  EXPECT_TRUE(h.recorder.clean);
  EXPECT_EQ(h.recorder.dones, 1);
}

TEST(ClientReconnect, GivesUpAfterMaxAttempts) {
  ClientHarness h;
  const Client& client = h.run(reconnecting(url_of_a_closed_port(), 3));
  const std::vector<ClientError>& errors = h.recorder.errors;
  ASSERT_EQ(errors.size(), 4u);  // the first attempt and three retries
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(errors[i].will_retry);
    EXPECT_GT(errors[i].retry_in.count(), 0);
    EXPECT_LE(errors[i].retry_in, 100ms);
  }
  EXPECT_FALSE(errors[3].will_retry);
  EXPECT_EQ(client.failed_attempts(), 4u);
  EXPECT_EQ(h.recorder.dones, 1);
}

TEST(ClientReconnect, ServerComingBackIsReached) {
  // The first attempts are refused; then a server starts listening on that port.
  ClientHarness h;
  test::RefusedPort refused;
  const std::uint16_t port = refused.port();
  std::unique_ptr<io::Listener> late;
  h.recorder.on_error = [&](const ClientError& error) {
    EXPECT_EQ(error.kind, ClientErrorKind::connect_failed);
    if (h.recorder.errors.size() == 2) {
      // A TestServer listens on port 0; here we need the fixed port: accept by hand.
      refused.release();
      late = std::make_unique<io::Listener>(h.loop, [&](io::TcpSocket, const io::SocketAddress&) {
        late->close();
        h.loop.stop();
      });
      EXPECT_FALSE(late->listen(io::SocketAddress::ipv4_loopback(port)));
    }
  };
  h.run(reconnecting("ws://127.0.0.1:" + std::to_string(port) + "/", 10));
  EXPECT_EQ(h.recorder.errors.size(), 2u);  // the third attempt reached the listener
}

TEST(ClientReconnect, CloseWhileWaitingStopsReconnecting) {
  ClientHarness h;
  ClientOptions options = reconnecting(url_of_a_closed_port(), 10);
  options.reconnect.initial_delay = options.reconnect.max_delay = 10s;
  h.recorder.on_error = [&](const ClientError& error) {
    EXPECT_TRUE(error.will_retry);
    h.client->close();
  };
  h.run(options);
  EXPECT_EQ(h.recorder.errors.size(), 1u);
  EXPECT_EQ(h.recorder.dones, 1);
}

}  // namespace
}  // namespace wsx
