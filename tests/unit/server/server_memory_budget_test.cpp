// ServerOptions::max_buffered_bytes end to end, in process: a client that keeps sending a
// message the server must assemble is stopped, then closed with 1013, while a well-behaved
// client on the same thread keeps getting its echoes.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using test::RawWsClient;
using test::RunningServer;

Behavior echo_route() {
  Behavior echo;
  echo.max_message_size = 64 * 1024 * 1024;
  echo.max_backpressure = 64 * 1024 * 1024;  // the per-connection limit is not what stops it
  echo.message = [](WebSocket& ws, Message message) { ws.send(message.data, message.kind); };
  return echo;
}

// Sends pieces of one endless message until the server stops taking them (a write blocks for
// a second: generous on a loaded machine) or `limit` bytes went; returns the bytes sent.
std::size_t flood(RawWsClient& client, std::size_t limit) {
  timeval timeout{1, 0};
  ::setsockopt(client.fd(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  const std::vector<std::uint8_t> piece(64 * 1024, 'x');
  std::size_t sent = 0;
  while (sent < limit && client.send_fragment(piece, proto::MessageKind::binary, false)) {
    sent += piece.size();
  }
  return sent;
}

bool echoes(RawWsClient& client, std::string_view text) {
  if (!client.send(text)) return false;
  const std::optional<test::RecordedEvent> event = client.next_message(std::chrono::seconds(10));
  return event && event->kind == proto::EventKind::message && event->text() == text;
}

TEST(ServerMemoryBudget, HeavySenderIsClosedWith1013WhileLightClientsAreServed) {
  Server server({.threads = 1,
                 .max_buffered_bytes = 1024 * 1024,
                 .over_budget_timeout = std::chrono::milliseconds(300)});
  server.route("/*", echo_route());
  RunningServer running(server);

  RawWsClient light(running.port());
  ASSERT_TRUE(light.handshake());
  ASSERT_TRUE(echoes(light, "before"));

  RawWsClient heavy(running.port());
  ASSERT_TRUE(heavy.handshake());
  // The server stops reading long before 64 MiB (its limit per message and per output queue).
  const std::size_t sent = flood(heavy, 64 * 1024 * 1024);
  EXPECT_LT(sent, 60u * 1024 * 1024);
  ASSERT_TRUE(echoes(light, "while the heavy one is stopped"));

  std::optional<test::RecordedEvent> event = heavy.next_event(std::chrono::seconds(10));
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->kind, proto::EventKind::close);
  EXPECT_EQ(event->close_code, 1013);
  ASSERT_TRUE(echoes(light, "after"));
}

TEST(ServerMemoryBudget, WithoutACeilingOnlyThePerConnectionLimitsApply) {
  Server server({.threads = 1, .max_buffered_bytes = 0});
  server.route("/*", echo_route());
  RunningServer running(server);
  RawWsClient heavy(running.port());
  ASSERT_TRUE(heavy.handshake());
  // 8 MiB of one message are taken (the server assembles them) and nothing comes back.
  EXPECT_EQ(flood(heavy, 8 * 1024 * 1024), 8u * 1024 * 1024);
  EXPECT_FALSE(heavy.next_event(std::chrono::milliseconds(500)).has_value());
}

}  // namespace
}  // namespace wsx
