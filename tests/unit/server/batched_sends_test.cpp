// A server thread's sends leave through the io_uring batch (ServerOptions::batch_sends, on by
// default): the echoes to several clients whose messages one loop iteration read go to the
// kernel in one submission, which Server::batched_writes() counts. With batch_sends false
// nothing is batched. The echoes are the same either way.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io_uring_probe.hpp"
#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;

constexpr std::string_view hold = "hold";

class BatchedSends : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(Server, BatchedSends, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

TEST_P(BatchedSends, EchoesToSeveralClientsLeaveInOneSubmission) {
  ServerOptions options;
  options.threads = 1;  // every client on the same loop
  options.batch_sends = GetParam();
  Server server(options);
  server.route("/echo", {.message = [](WebSocket& ws, Message msg) {
                 // The server thread is busy a moment, as a loaded one is: the other clients'
                 // messages arrive meanwhile, and its next iteration reads and echoes them
                 // together.
                 if (msg.text() == hold) std::this_thread::sleep_for(20ms);
                 ws.send(msg.data, msg.kind);
               }});
  RunningServer running(server);
  constexpr int clients = 6;
  std::vector<std::unique_ptr<RawWsClient>> sockets;
  for (int i = 0; i < clients; ++i) {
    sockets.push_back(std::make_unique<RawWsClient>(running.port()));
    ASSERT_TRUE(sockets.back()->connected());
    ASSERT_TRUE(sockets.back()->handshake({}, "/echo"));
  }
  for (int round = 0; round < 10; ++round) {
    ASSERT_TRUE(sockets[0]->send(hold));
    for (int i = 1; i < clients; ++i) {
      ASSERT_TRUE(
          sockets[i]->send("round " + std::to_string(round) + " client " + std::to_string(i)));
    }
    for (int i = 0; i < clients; ++i) {
      const std::optional<test::RecordedEvent> echo = sockets[i]->next_message(10s);
      ASSERT_TRUE(echo) << "round " << round << " client " << i;
      EXPECT_EQ(echo->text(),
                i == 0 ? std::string(hold)
                       : "round " + std::to_string(round) + " client " + std::to_string(i));
    }
  }
  sockets.clear();  // gone before the stop, which would otherwise wait for their close replies
  running.stop();
  if (GetParam() && test::kernel_offers_io_uring()) {
    EXPECT_GT(server.batched_writes(), 0u);
  } else {
    EXPECT_EQ(server.batched_writes(), 0u);
  }
}

}  // namespace
}  // namespace wsx
