// What the client tests share: a recorder of everything a wsx::Client reports, and a harness
// that runs one client against one in-process TestServer on one loop under a watchdog.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loop_watchdog.hpp"
#include "refused_port.hpp"
#include "test_ws_server.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/listener.hpp"

namespace wsx::test {

inline std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// Records everything a client reports, and stops the loop when the client is done.
struct ClientRecorder {
  explicit ClientRecorder(io::EventLoop& event_loop) : loop(event_loop) {}

  ClientHandlers handlers() {
    ClientHandlers h;
    h.open = [this](WebSocket& ws) {
      ++opens;
      subprotocol = std::string(ws.subprotocol());
      compressed = ws.compressed();
      if (on_open) on_open(ws);
    };
    h.message = [this](WebSocket& ws, Message message) {
      messages.emplace_back(message.text());
      kinds.push_back(message.kind);
      if (on_message) on_message(ws, message);
    };
    h.close = [this](WebSocket&, const CloseInfo& info) {
      closes.push_back(info.code);
      close_reason = std::string(info.reason);
      clean = info.clean;
      if (on_close) on_close();
    };
    h.pong = [this](WebSocket&, std::span<const std::uint8_t> payload) {
      pongs.emplace_back(reinterpret_cast<const char*>(payload.data()), payload.size());
    };
    h.error = [this](const ClientError& error) {
      errors.push_back(error);
      if (on_error) on_error(error);
    };
    h.done = [this] {
      ++dones;
      loop.stop();
    };
    return h;
  }

  io::EventLoop& loop;
  int opens = 0;
  int dones = 0;
  std::string subprotocol;
  bool compressed = false;
  std::vector<std::string> messages;
  std::vector<MessageKind> kinds;
  std::vector<std::uint16_t> closes;
  std::string close_reason;
  bool clean = false;
  std::vector<std::string> pongs;
  std::vector<ClientError> errors;
  std::function<void(WebSocket&)> on_open;
  std::function<void(WebSocket&, Message)> on_message;
  std::function<void()> on_close;
  std::function<void(const ClientError&)> on_error;
};

// Sends `outgoing` one at a time, waiting for each echo, then closes with 1000.
inline void echo_then_close(ClientRecorder& recorder, std::vector<std::string> outgoing) {
  auto queue = std::make_shared<std::vector<std::string>>(std::move(outgoing));
  auto next = std::make_shared<std::size_t>(0);
  auto send_next = [queue, next](WebSocket& ws) {
    if (*next < queue->size()) {
      ws.send((*queue)[(*next)++]);
    } else {
      ws.close(1000, "done");
    }
  };
  recorder.on_open = send_next;
  recorder.on_message = [send_next](WebSocket& ws, Message) { send_next(ws); };
}

// Timeouts short enough that a test fails in seconds, long enough for a loaded machine (the
// client and the server share one thread, which a loaded 2-core machine may leave waiting
// for a second or more). Tests of the timeouts set their own.
inline ClientOptions options_for(const std::string& url) {
  ClientOptions options;
  options.url = url;
  options.connect_timeout = std::chrono::seconds(10);
  options.handshake_timeout = std::chrono::seconds(10);
  return options;
}

// A loopback port nobody listens on, for the rest of the test (refused_port.hpp).
inline std::uint16_t closed_port() {
  return refused_loopback_port();
}

// One client against one in-process server on one loop: the setup most client tests share.
// Members are declared in the order they must be built; the client goes first on the way out.
struct ClientHarness {
  // The watchdog only stops a hung test: ClientTls.ClientCertificateWhenTheServerRequiresOne
  // takes 2.8 s alone at load 20 (two mutual-TLS handshakes under ASan) and hit 5 s at -j6.
  explicit ClientHarness(TestServerOptions server_options = {},
                         std::chrono::milliseconds watchdog = std::chrono::seconds(20))
      : server(loop, std::move(server_options)), recorder(loop) {
    arm_watchdog(loop, watchdog);
  }

  // Options for this server's URL with the shared test timeouts.
  ClientOptions options(std::string_view path = "/") const { return options_for(server.url(path)); }

  // Creates the client and starts connecting; the loop is not run yet.
  Client& start(ClientOptions client_options) {
    client.emplace(loop, std::move(client_options), recorder.handlers());
    client->connect();
    return *client;
  }

  // Connects with `client_options` and runs the loop until the client is done.
  Client& run(ClientOptions client_options) {
    start(std::move(client_options));
    loop.run();
    return *client;
  }

  // The one error the client reported (the test fails if there was not exactly one).
  const ClientError& only_error() const {
    static const ClientError none{};
    EXPECT_EQ(recorder.errors.size(), 1u);
    return recorder.errors.empty() ? none : recorder.errors.front();
  }

  io::EventLoop loop;
  TestServer server;
  ClientRecorder recorder;
  std::optional<Client> client;
};

}  // namespace wsx::test
