// The Redis broker behind real servers and a real redis-server (started by the test on a free
// loopback port): topics across servers, the node's subscription following its local
// subscribers, and the faults — Redis unreachable, restarted, silent, behind a password.
#include "wsx/redis_broker.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "blackhole_listener.hpp"
#include "raw_ws_client.hpp"
#include "redis_node.hpp"
#include "redis_process.hpp"
#include "refused_port.hpp"
#include "wsx/metrics.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::LogLines;
using test::RawWsClient;
using test::RedisProcess;
using test::RunningServer;
using test::text_of;
using Node = test::RedisNode;

constexpr const char* channel = "wsx:room";

// `text` is a whole line of the exposition.
bool has_line(const std::string& scrape, std::string_view text) {
  return ("\n" + scrape).find("\n" + std::string(text) + "\n") != std::string::npos;
}

std::shared_ptr<RedisBroker> broker_for(const std::string& url, LogLines* log = nullptr,
                                        RedisBrokerOptions options = {}) {
  options.url = url;
  if (log != nullptr) options.log = log->sink();
  return make_redis_broker(std::move(options));
}

TEST(RedisBroker, TwoServersShareATopicExactlyOnceAndThePublisherIsSkipped) {
  RedisProcess redis;
  ASSERT_TRUE(redis.ok());
  Node a(broker_for(redis.url()));
  Node b(broker_for(redis.url()));
  auto sender = a.client();
  auto neighbour = a.client();
  auto remote = b.client();
  ASSERT_TRUE(eventually([&] { return redis.subscribers(channel) == 2; }));

  ASSERT_TRUE(sender->send("hello"));
  const std::vector<std::uint8_t> binary = {0, 255, '\n', 1, 0};
  ASSERT_TRUE(sender->send(binary, proto::MessageKind::binary));
  for (RawWsClient* client : {neighbour.get(), remote.get()}) {
    std::optional<test::RecordedEvent> first = client->next_message();
    EXPECT_EQ(text_of(first), "hello");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->message_kind, proto::MessageKind::text);
    std::optional<test::RecordedEvent> second = client->next_message();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->data, binary);
    EXPECT_EQ(second->message_kind, proto::MessageKind::binary);
  }
  // Server::publish from a thread of the test: everyone, the earlier sender included.
  EXPECT_TRUE(b.server.publish("room", "from the server"));
  for (RawWsClient* client : {sender.get(), neighbour.get(), remote.get()}) {
    EXPECT_EQ(text_of(client->next_message()), "from the server");
  }
  // Nothing twice, and the sender never got its own messages.
  for (RawWsClient* client : {sender.get(), neighbour.get(), remote.get()}) {
    EXPECT_FALSE(client->next_message(300ms));
  }
  EXPECT_EQ(a.broker->publishes(), 2u);
  EXPECT_EQ(b.broker->publishes(), 1u);
  EXPECT_EQ(a.broker->received(), 3u);  // each node receives every message once
  EXPECT_EQ(b.broker->received(), 3u);
  EXPECT_EQ(a.broker->publish_failures(), 0u);
  // The server's metrics read the same counts at scrape time.
  const std::string scrape = a.server.metrics().scrape();
  EXPECT_TRUE(has_line(scrape, "wsx_broker_publishes_total 2")) << scrape;
  EXPECT_TRUE(has_line(scrape, "wsx_broker_received_total 3")) << scrape;
  EXPECT_TRUE(has_line(scrape, "wsx_broker_publish_failures_total 0")) << scrape;
  EXPECT_TRUE(has_line(scrape, "wsx_broker_state{state=\"connected\"} 1")) << scrape;
  EXPECT_TRUE(has_line(scrape, "wsx_broker_state{state=\"disconnected\"} 0")) << scrape;
}

TEST(RedisBroker, TheNodeSubscribesWithItsFirstSubscriberAndLeavesWithItsLast) {
  RedisProcess redis;
  ASSERT_TRUE(redis.ok());
  Node a(broker_for(redis.url()));
  ASSERT_TRUE(eventually([&] { return a.broker->state() == BrokerState::connected; }));
  EXPECT_EQ(redis.subscribers(channel), 0);
  auto first = a.client();
  auto second = a.client();  // likely on the other thread: one subscription for the node
  ASSERT_TRUE(eventually([&] { return redis.subscribers(channel) == 1; }));
  first->close();
  EXPECT_TRUE(first->wait_eof());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(redis.subscribers(channel), 1);  // `second` is still there
  second->close();
  EXPECT_TRUE(second->wait_eof());
  EXPECT_TRUE(eventually([&] { return redis.subscribers(channel) == 0; }));
}

TEST(RedisBroker, UnreachableRedisRefusesPublishesCountsAndLogsThem) {
  LogLines log;
  const test::RefusedPort nobody;  // stays refused for the whole test
  Node a(broker_for("redis://127.0.0.1:" + std::to_string(nobody.port()) + "/", &log));
  ASSERT_TRUE(eventually([&] { return log.contains("cannot reach"); }));
  EXPECT_NE(a.broker->state(), BrokerState::connected);
  EXPECT_FALSE(a.server.publish("room", "lost"));
  EXPECT_FALSE(a.server.publish("room", "lost too"));
  EXPECT_EQ(a.broker->publish_failures(), 2u);
  EXPECT_EQ(a.broker->publishes(), 0u);
  EXPECT_TRUE(eventually([&] { return log.contains("2 publishes not delivered"); }));
  // Local clients are still served (the route accepts, subscribes, and nothing breaks).
  auto client = a.client();
  ASSERT_TRUE(client->send("nobody hears this"));
  EXPECT_FALSE(client->next_message(200ms));
}

TEST(RedisBroker, ConnectTimeoutAgainstRedisThatNeverAnswers) {
  test::BlackholeListener blackhole(*io::SocketAddress::parse("127.0.0.1", 0));
  LogLines log;
  RedisBrokerOptions options;
  options.connect_timeout = 200ms;
  Node a(broker_for("redis://127.0.0.1:" + std::to_string(blackhole.address().port()) + "/", &log,
                    options));
  EXPECT_TRUE(eventually([&] { return log.contains("connect timeout"); }, 20s));
  EXPECT_FALSE(a.server.publish("room", "x"));
}

TEST(RedisBroker, RestartedRedisGetsEveryTopicSubscribedAgain) {
  RedisProcess redis;
  ASSERT_TRUE(redis.ok());
  LogLines log;
  Node a(broker_for(redis.url(), &log));
  Node b(broker_for(redis.url()));
  auto on_a = a.client();
  auto on_b = b.client();
  ASSERT_TRUE(eventually([&] { return redis.subscribers(channel) == 2; }));
  redis.kill();
  ASSERT_TRUE(eventually([&] { return log.contains("lost 127.0.0.1"); }));
  EXPECT_FALSE(a.server.publish("room", "while down"));
  redis.start();
  ASSERT_TRUE(eventually([&] { return redis.subscribers(channel) == 2; }));
  ASSERT_TRUE(eventually([&] {
    return a.broker->state() == BrokerState::connected &&
           b.broker->state() == BrokerState::connected;
  }));
  EXPECT_TRUE(log.contains("connected again"));
  EXPECT_GE(a.broker->reconnects(), 1u);
  ASSERT_TRUE(on_a->send("after the restart"));
  EXPECT_EQ(text_of(on_b->next_message()), "after the restart");
  EXPECT_GE(a.broker->publish_failures(), 1u);
  const std::string scrape = a.server.metrics().scrape();
  EXPECT_FALSE(has_line(scrape, "wsx_broker_reconnects_total 0")) << scrape;
  EXPECT_FALSE(has_line(scrape, "wsx_broker_publish_failures_total 0")) << scrape;
  EXPECT_TRUE(scrape.find("wsx_broker_reconnects_total ") != std::string::npos) << scrape;
}

TEST(RedisBroker, SilentRedisBoundsPendingPublishesThenCountsAsLost) {
  RedisProcess redis;
  ASSERT_TRUE(redis.ok());
  LogLines log;
  RedisBrokerOptions options;
  options.max_pending = 5;
  // Long enough that the 20 publishes below all come before it drops the link, even from a
  // test thread a loaded machine deschedules.
  options.command_timeout = 2s;
  Node a(broker_for(redis.url(), &log, options));
  ASSERT_TRUE(eventually([&] { return a.broker->state() == BrokerState::connected; }));
  redis.pause();  // accepts nothing more, answers nothing
  int accepted = 0;
  for (int i = 0; i < 20; ++i) accepted += a.server.publish("room", "m") ? 1 : 0;
  EXPECT_EQ(accepted, 5);  // the bound: the rest refused at once
  EXPECT_TRUE(eventually([&] { return log.contains("no answer to a publish"); }, 20s));
  EXPECT_TRUE(eventually([&] { return a.broker->publish_failures() == 20u; }, 20s))
      << a.broker->publish_failures();  // 15 refused + 5 unconfirmed when the link was dropped
  redis.resume();
  EXPECT_TRUE(eventually([&] { return a.broker->state() == BrokerState::connected; }));
}

TEST(RedisBroker, AuthenticatesWithAPasswordAndSaysWhenItIsWrong) {
  RedisProcess redis({"--requirepass", "s3cret"});
  ASSERT_TRUE(redis.ok());
  Node good(broker_for(redis.url(":s3cret@")));
  auto client = good.client();
  ASSERT_TRUE(eventually([&] { return redis.subscribers(channel, "s3cret") == 1; }));
  EXPECT_TRUE(good.server.publish("room", "authenticated"));
  EXPECT_EQ(text_of(client->next_message()), "authenticated");

  LogLines log;
  Node bad(broker_for(redis.url("default:wrong@"), &log));
  EXPECT_TRUE(eventually([&] { return log.contains("AUTH refused"); }));
  EXPECT_NE(bad.broker->state(), BrokerState::connected);
}

}  // namespace
}  // namespace wsx
