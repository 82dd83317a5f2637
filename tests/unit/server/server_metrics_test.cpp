// The server's wsx_ metrics counted on its threads, through paths the e2e test of `wsx serve`
// does not take: streaming receive and fragmented sends, backpressure drops, publish from
// another thread to subscribers on two server threads, a registry shared with the
// application, and connections dropped at shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/metrics.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;

// The value of the sample line that starts with `series`, or -1 when there is none.
double sample(const std::string& text, const std::string& series) {
  const std::string start = series + " ";
  for (std::size_t at = 0; (at = text.find(start, at)) != std::string::npos; at += start.size()) {
    if (at == 0 || text[at - 1] == '\n') {
      return std::stod(text.substr(at + start.size(), text.find('\n', at) - at - start.size()));
    }
  }
  return -1;
}

// Waits until the series reaches `expected` (counted on a server thread after the client saw
// its effect, at most a few microseconds later).
bool reaches(const Server& server, const std::string& series, double expected) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (sample(server.metrics().scrape(), series) != expected) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

std::vector<std::uint8_t> bytes(std::size_t size, std::uint8_t fill) {
  return std::vector<std::uint8_t>(size, fill);
}

TEST(ServerMetrics, StreamingReceiveCountsOneMessageWithAllItsBytes) {
  Server server({.threads = 1});
  server.route("/up", {.fragment = [](WebSocket& ws, Fragment piece) {
                 // Echo each piece as a piece: a fragmented send of 3 frames.
                 ws.send_fragment(piece.data, piece.kind, piece.fin);
               }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/up"));
  ASSERT_TRUE(client.send_fragment(bytes(10, 1), proto::MessageKind::binary, false));
  ASSERT_TRUE(client.send_fragment(bytes(20, 2), proto::MessageKind::binary, false));
  ASSERT_TRUE(client.send_fragment(bytes(30, 3), proto::MessageKind::binary, true));
  const std::optional<test::RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data.size(), 60u);
  EXPECT_TRUE(reaches(server, "wsx_messages_sent_total{kind=\"binary\"}", 1));
  const std::string text = server.metrics().scrape();
  EXPECT_EQ(sample(text, "wsx_messages_received_total{kind=\"binary\"}"), 1) << text;
  EXPECT_EQ(sample(text, "wsx_message_bytes_received_total{kind=\"binary\"}"), 60);
  EXPECT_EQ(sample(text, "wsx_message_bytes_sent_total{kind=\"binary\"}"), 60);
  EXPECT_EQ(sample(text, "wsx_messages_received_total{kind=\"text\"}"), 0);
  EXPECT_EQ(sample(text, "wsx_connections_open"), 1);
}

// Short messages that arrive together are read in one go and counted once per read (the
// relay's tally, Session::Events): every message and byte still counts, by kind.
TEST(ServerMetrics, MessagesReadTogetherAreEachCountedWithTheirBytes) {
  std::atomic<int> seen{0};
  Server server({.threads = 1});
  server.route("/in", {.message = [&](WebSocket&, Message) { ++seen; }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/in"));
  // Queued, then written at once: text of 1..5 bytes (15), binary of 10, 20, 30 (60), mixed.
  std::size_t text_bytes = 0;
  std::size_t binary_bytes = 0;
  for (std::size_t i = 1; i <= 5; ++i) {
    ASSERT_EQ(client.connection().send_text(std::string(i, 'a')), proto::SendResult::ok);
    text_bytes += i;
    if (i <= 3) {
      const std::vector<std::uint8_t> data = bytes(10 * i, static_cast<std::uint8_t>(i));
      ASSERT_EQ(client.connection().send(proto::MessageKind::binary, data), proto::SendResult::ok);
      binary_bytes += data.size();
    }
  }
  ASSERT_TRUE(client.flush());
  EXPECT_TRUE(reaches(server, "wsx_messages_received_total{kind=\"text\"}", 5));
  EXPECT_TRUE(reaches(server, "wsx_messages_received_total{kind=\"binary\"}", 3));
  const std::string text = server.metrics().scrape();
  EXPECT_EQ(sample(text, "wsx_message_bytes_received_total{kind=\"text\"}"), 15) << text;
  EXPECT_EQ(sample(text, "wsx_message_bytes_received_total{kind=\"binary\"}"), 60) << text;
  EXPECT_EQ(text_bytes, 15u);
  EXPECT_EQ(binary_bytes, 60u);
  EXPECT_EQ(seen.load(), 8);
}

// A message whose handler throws is counted (before the handler, as ever); the messages after
// it in the same read are not delivered, and not counted.
TEST(ServerMetrics, AMessageWhoseHandlerThrowsIsCountedAndTheRestOfTheReadIsNot) {
  std::atomic<int> seen{0};
  Server server({.threads = 1});
  server.route("/throw", {.message = [&](WebSocket&, Message) {
                 if (++seen == 2) throw std::runtime_error("second");
               }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/throw"));
  for (const char* message : {"one", "two", "three", "four"}) {
    ASSERT_EQ(client.connection().send_text(message), proto::SendResult::ok);
  }
  ASSERT_TRUE(client.flush());
  const std::optional<test::RecordedEvent> close = client.next_event(10s);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind, proto::EventKind::close);
  EXPECT_EQ(close->close_code, 1011);
  EXPECT_TRUE(reaches(server, "wsx_messages_received_total{kind=\"text\"}", 2));
  const std::string text = server.metrics().scrape();
  EXPECT_EQ(sample(text, "wsx_message_bytes_received_total{kind=\"text\"}"), 6) << text;
  EXPECT_EQ(seen.load(), 2);
}

TEST(ServerMetrics, BackpressureAndDropsAreCountedAsSendReportedThem) {
  std::atomic<int> backpressure{0};
  std::atomic<int> dropped{0};
  std::atomic<int> done{0};
  Server server({.threads = 1});
  Behavior behavior;
  behavior.max_backpressure = 8192;
  behavior.backpressure_policy = BackpressurePolicy::refuse;
  // Within one callback nothing leaves: the first message goes over the limit on an empty queue
  // (accepted, backpressure), the next ones are refused.
  behavior.message = [&](WebSocket& ws, Message) {
    const std::string chunk(15000, 'x');  // copied into the queue: below the direct threshold
    for (int i = 0; i < 4; ++i) {
      const SendStatus status = ws.send(chunk);
      if (status == SendStatus::backpressure) ++backpressure;
      if (status == SendStatus::dropped) ++dropped;
    }
    ++done;
  };
  server.route("/flood", std::move(behavior));
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/flood"));
  ASSERT_TRUE(client.send("go"));
  ASSERT_TRUE(client.next_message());  // the one accepted
  ASSERT_TRUE(client.send("again"));
  ASSERT_TRUE(client.next_message());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (done.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_EQ(done.load(), 2);
  ASSERT_EQ(backpressure.load(), 2);
  ASSERT_EQ(dropped.load(), 6);
  const std::string text = server.metrics().scrape();
  EXPECT_EQ(sample(text, "wsx_backpressure_events_total"), 2) << text;
  EXPECT_EQ(sample(text, "wsx_backpressure_drops_total"), 6) << text;
  EXPECT_EQ(sample(text, "wsx_messages_sent_total{kind=\"text\"}"), 2) << text;  // not the drops
}

TEST(ServerMetrics, PublishFromAnotherThreadCountsEveryDeliveryOnEveryServerThread) {
  constexpr int subscribers = 6;
  constexpr int messages = 20;
  std::atomic<int> joined{0};
  Server server({.threads = 2});
  server.route("/room", {.open = [&](WebSocket& ws) {
                 ws.subscribe("room");
                 ++joined;
               }});
  RunningServer running(server);
  std::vector<std::unique_ptr<RawWsClient>> clients;
  for (int i = 0; i < subscribers; ++i) {
    clients.push_back(std::make_unique<RawWsClient>(running.port()));
    ASSERT_TRUE(clients.back()->handshake({}, "/room"));
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (joined.load() < subscribers && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_EQ(joined.load(), subscribers);
  for (int i = 0; i < messages; ++i)
    ASSERT_TRUE(server.publish("room", "message " + std::to_string(i)));
  for (auto& client : clients) {
    for (int i = 0; i < messages; ++i) ASSERT_TRUE(client->next_message()) << i;
  }
  const double total = subscribers * messages;
  EXPECT_TRUE(reaches(server, "wsx_publish_deliveries_total", total));
  const std::string text = server.metrics().scrape();
  EXPECT_EQ(sample(text, "wsx_publishes_total"), messages) << text;
  EXPECT_EQ(sample(text, "wsx_messages_sent_total{kind=\"text\"}"), total);
  // One observation per publish and server thread that had subscribers: 1 or 2 per publish.
  const double fanouts = sample(text, "wsx_publish_fanout_seconds_count");
  EXPECT_GE(fanouts, messages);
  EXPECT_LE(fanouts, 2 * messages);
  EXPECT_EQ(sample(text, "wsx_publish_fanout_seconds_bucket{le=\"+Inf\"}"), fanouts);
  EXPECT_EQ(sample(text, "wsx_connections_open"), subscribers);
}

TEST(ServerMetrics, TheApplicationsMetricsShareTheServersRegistry) {
  auto registry = std::make_shared<MetricsRegistry>();
  Counter logins = registry->counter("app_logins_total", "Logins.");
  Server server({.threads = 1, .metrics = registry});
  EXPECT_EQ(&server.metrics(), registry.get());
  logins.add(2);
  const std::string text = registry->scrape();
  EXPECT_EQ(sample(text, "app_logins_total"), 2);
  EXPECT_EQ(sample(text, "wsx_connections_open"), 0);  // registered with the server
  EXPECT_NE(text.find("# TYPE wsx_publish_fanout_seconds histogram\n"), std::string::npos);
}

TEST(ServerMetrics, RefusedUpgradesCountByStatusAndPlainHttpDoesNot) {
  Server server({.threads = 1,
                 .http = [](const HttpRequest&) { return proto::HttpResponse{.status = 200}; }});
  server.route("/ws", {.upgrade = [](const UpgradeRequest&) {
                 return UpgradeDecision::reject(401, "no\n");
               }});
  RunningServer running(server);
  RawWsClient refused(running.port());
  EXPECT_FALSE(refused.handshake({}, "/ws"));
  RawWsClient plain(running.port());
  ASSERT_TRUE(plain.write_all("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(plain.wait_eof());
  EXPECT_TRUE(reaches(server, "wsx_upgrades_total{status=\"401\"}", 1));
  EXPECT_EQ(server.metrics().scrape().find("status=\"200\""), std::string::npos);
}

// A peer that never answers our close 1001 is dropped when shutdown_timeout ends: the gauge
// still comes back to 0 and our close code is counted.
TEST(ServerMetrics, ConnectionsDroppedAtShutdownLeaveTheGauge) {
  Server server({.threads = 1, .shutdown_timeout = 200ms});
  server.route("/idle", {});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/idle"));
  EXPECT_TRUE(reaches(server, "wsx_connections_open", 1));
  running.stop();
  const std::string text = server.metrics().scrape();
  EXPECT_EQ(sample(text, "wsx_connections_open"), 0) << text;
  EXPECT_EQ(sample(text, "wsx_close_codes_sent_total{code=\"1001\"}"), 1) << text;
}

}  // namespace
}  // namespace wsx
