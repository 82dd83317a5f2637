// HTTP/2 for server tests over a real socket: nghttp2's client session (H2TestClient) driven
// through a blocking RawWsClient (TLS with ALPN h2, or plain TCP for h2c), and WebSockets on its
// streams (RFC 8441) spoken by the protocol core in the client role.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "h2_test_client.hpp"
#include "raw_ws_client.hpp"
#include "wsx/proto/connection.hpp"

namespace wsx::testing {

using H2Fields = std::vector<std::pair<std::string, std::string>>;

// Moves bytes between `h2` and the server until `done` holds or `timeout` passes; `done` is
// checked after every read. Returns done().
inline bool exchange_h2(test::RawWsClient& socket, H2TestClient& h2,
                        const std::function<bool()>& done,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = h2.take_output();
    if (!out.empty() && !socket.write_all(out)) return done();
    if (done()) return true;
    const std::vector<std::uint8_t> in = socket.read_some(std::chrono::milliseconds(200));
    if (!in.empty() && !h2.feed(std::span<const std::uint8_t>(in))) return done();
    if (socket.eof()) return done();
  }
  return done();
}

inline H2Fields h2_get(std::string path, std::string scheme = "https") {
  return {{":method", "GET"},
          {":scheme", std::move(scheme)},
          {":path", std::move(path)},
          {":authority", "localhost"}};
}

// An extended CONNECT opening a WebSocket (RFC 8441 §4), from a page of `origin`.
inline H2Fields h2_websocket(std::string path, std::string scheme = "https",
                             std::string origin = "https://localhost") {
  return {{":method", "CONNECT"},         {":protocol", "websocket"},
          {":scheme", std::move(scheme)}, {":path", std::move(path)},
          {":authority", "localhost"},    {"sec-websocket-version", "13"},
          {"origin", std::move(origin)}};
}

// A WebSocket client on one stream: proto::Connection (client role) over the stream's DATA.
struct StreamWebSocket final : proto::EventHandler {
  explicit StreamWebSocket(std::optional<proto::DeflateParams> deflate = std::nullopt)
      : connection([&] {
          proto::ConnectionOptions options;
          options.role = proto::Role::client;
          options.max_message_size = 64 * 1024 * 1024;
          options.deflate = deflate;
          return options;
        }()) {}
  void on_event(const proto::Event& event) override {
    if (event.kind == proto::EventKind::message) messages.emplace_back(event.text());
    if (event.kind == proto::EventKind::close) close_code = event.close_code;
  }
  // Frames queued by the connection go out as DATA of `id`.
  void send_queued(H2TestClient& client, std::int32_t id) {
    const std::span<const std::uint8_t> out = connection.pending_output();
    client.send_more(id, std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
    connection.consume_output(out.size());
  }
  // DATA of `id` not yet read goes to the connection (up to `limit` bytes of it in all).
  void take(H2TestClient::Response& response, std::size_t limit = std::string::npos) {
    const std::size_t end = std::min(limit, response.data.size());
    if (end <= read) return;
    std::string fresh = response.data.substr(read, end - read);
    read = end;
    connection.receive({reinterpret_cast<std::uint8_t*>(fresh.data()), fresh.size()}, *this);
  }
  proto::Connection connection;
  std::size_t read = 0;
  std::vector<std::string> messages;
  std::optional<std::uint16_t> close_code;
};

}  // namespace wsx::testing
