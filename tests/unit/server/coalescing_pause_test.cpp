// ServerOptions::coalesce_wait reaches every server thread's event loop: with it, the threads
// pause before handling wake-ups with few ready connections (Server::coalescing_pauses()), the
// echoes unchanged; without it (the default) they never do. Values past 10 ms are refused.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;

class CoalescingPause : public ::testing::TestWithParam<std::chrono::microseconds> {};

INSTANTIATE_TEST_SUITE_P(Server, CoalescingPause, ::testing::Values(0us, 2000us),
                         [](const auto& info) { return info.param.count() == 0 ? "Off" : "On"; });

TEST_P(CoalescingPause, EchoesAreUnchangedAndPausesAreCounted) {
  ServerOptions options;
  options.threads = 2;
  options.coalesce_wait = GetParam();
  Server server(options);
  server.route("/echo",
               {.message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); }});
  RunningServer running(server);
  constexpr int clients = 4;
  std::vector<std::unique_ptr<RawWsClient>> sockets;
  for (int i = 0; i < clients; ++i) {
    sockets.push_back(std::make_unique<RawWsClient>(running.port()));
    ASSERT_TRUE(sockets.back()->connected());
    ASSERT_TRUE(sockets.back()->handshake({}, "/echo"));
  }
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < clients; ++i) {
      ASSERT_TRUE(sockets[i]->send("round " + std::to_string(round) + " ü " + std::to_string(i)));
    }
    for (int i = 0; i < clients; ++i) {
      const std::optional<test::RecordedEvent> echo = sockets[i]->next_message(10s);
      ASSERT_TRUE(echo) << "round " << round << " client " << i;
      EXPECT_EQ(echo->text(), "round " + std::to_string(round) + " ü " + std::to_string(i));
    }
  }
  sockets.clear();  // gone before the stop, which would otherwise wait for their close replies
  running.stop();
  // Every wake-up here finds fewer than 16 connections: with the pause on, the first of them
  // (a handshake's request, the first message) pauses; the back-off skips some later ones.
  if (GetParam().count() > 0) {
    EXPECT_GT(server.coalescing_pauses(), 0u);
  } else {
    EXPECT_EQ(server.coalescing_pauses(), 0u);
  }
}

TEST(CoalescingPauseLimits, APauseOverTenMillisecondsIsRefused) {
  ServerOptions options;
  options.coalesce_wait = 10001us;
  EXPECT_THROW(Server{options}, std::invalid_argument);
  options.coalesce_wait = -1us;
  EXPECT_THROW(Server{options}, std::invalid_argument);
  options.coalesce_wait = 10ms;
  Server longest(options);
  EXPECT_EQ(longest.coalescing_pauses(), 0u);
}

}  // namespace
}  // namespace wsx
