// The server's side of a broker, with a scripted broker (no Redis): publishes go to the broker
// and come back through its sink, the node subscribes with its first local subscriber and
// unsubscribes with its last, and a recovering subscriber gets the missed messages, then the
// live ones that arrived meanwhile minus those it already got, then the notice, then live ones.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/broker.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// Records what the server asks; the test answers on the broker's loop thread through run().
class ScriptedBroker final : public Broker {
 public:
  void start(io::EventLoop& loop, BrokerSink& sink) override {
    std::lock_guard lock(mutex_);
    loop_ = &loop;
    sink_ = &sink;
    changed_.notify_all();
  }
  void stop() override {}
  void subscribe(std::string_view topic) override { record("+" + std::string(topic)); }
  void unsubscribe(std::string_view topic) override { record("-" + std::string(topic)); }
  bool publish(std::string_view topic, MessageKind kind, std::span<const std::uint8_t> payload,
               std::uintptr_t origin) override {
    if (refusing) return false;  // as a disconnected broker does
    // Straight back, as Redis would bring it, with the next position.
    auto message = std::make_shared<std::string>(reinterpret_cast<const char*>(payload.data()),
                                                 payload.size());
    run([this, topic = std::string(topic), kind, message, origin] {
      deliver(topic, std::to_string(++position_) + "-0", *message, kind, origin, true);
    });
    return true;
  }
  void recover(std::string_view topic, std::string_view since,
               std::function<void(RecoveryResult)> done) override {
    std::lock_guard lock(mutex_);
    recoveries_.push_back({std::string(topic), std::string(since), std::move(done)});
    changed_.notify_all();
  }
  BrokerState state() const noexcept override { return BrokerState::connected; }
  std::atomic<bool> refusing{false};

  // Loop thread.
  void deliver(const std::string& topic, const std::string& position, const std::string& text,
               MessageKind kind = MessageKind::text, std::uintptr_t origin = 0,
               bool local = false) {
    sink_->deliver({topic, position, kind, bytes(text), origin, local});
  }
  // Runs `task` on the broker's loop thread.
  void run(std::function<void()> task) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 5s, [this] { return loop_ != nullptr; });
    loop_->post(std::move(task));
  }
  std::vector<std::string> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  bool wait_calls(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return calls_.size() >= count; });
  }
  struct Recovery {
    std::string topic, since;
    std::function<void(RecoveryResult)> done;
  };
  std::optional<Recovery> wait_recovery() {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, 5s, [this] { return !recoveries_.empty(); })) return {};
    Recovery recovery = std::move(recoveries_.front());
    recoveries_.erase(recoveries_.begin());
    return recovery;
  }

 private:
  void record(std::string call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(call));
    changed_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  io::EventLoop* loop_ = nullptr;
  BrokerSink* sink_ = nullptr;
  std::vector<std::string> calls_;
  std::vector<Recovery> recoveries_;
  int position_ = 100;
};

std::string text_of(const std::optional<test::RecordedEvent>& event) {
  if (!event) return "<nothing>";
  return std::string(event->data.begin(), event->data.end());
}

struct Fixture {
  explicit Fixture(unsigned threads = 2) : broker(std::make_shared<ScriptedBroker>()) {
    ServerOptions options;
    options.threads = threads;
    options.broker = broker;
    server.emplace(options);
    // "/t?since=P" recovers from P with positions; "/t?positions" asks for positions; "/t"
    // plain. Messages are published to "t" with WebSocket::publish (the sender skipped).
    server->route("/t", {.upgrade =
                             [](const UpgradeRequest& request) {
                               return UpgradeDecision::accept({}, std::string(request.query));
                             },
                         .open =
                             [this](WebSocket& ws) {
                               const std::string query = *ws.data<std::string>();
                               SubscribeOptions options;
                               options.positions = !query.empty();
                               if (query.starts_with("since=")) {
                                 options.since = query.substr(6);
                                 options.recovered = [](WebSocket& socket, RecoveryStatus status) {
                                   socket.send("-\n" + std::string(describe(status)));
                                 };
                               }
                               ws.subscribe("t", std::move(options));
                               const std::lock_guard lock(mutex);
                               ++opened;
                               changed.notify_all();
                             },
                         .message =
                             [](WebSocket& ws, Message message) {
                               if (!ws.publish("t", message.data, message.kind))
                                 ws.send("not published");
                             }});
    running.emplace(*server);
  }
  // Returns once the server's open callback has subscribed the client: the 101 reaches the
  // client before that callback runs.
  std::unique_ptr<RawWsClient> client(const std::string& target = "/t") {
    std::size_t before = 0;
    {
      const std::lock_guard lock(mutex);
      before = opened;
    }
    auto c = std::make_unique<RawWsClient>(running->port());
    EXPECT_TRUE(c->handshake({}, target));
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, 5s, [&] { return opened > before; }));
    return c;
  }
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t opened = 0;  // open callbacks run
  std::shared_ptr<ScriptedBroker> broker;
  std::optional<Server> server;
  std::optional<RunningServer> running;
};

TEST(ServerBroker, PublishesGoThroughTheBrokerAndComeBackOnceSkippingThePublisher) {
  Fixture f;
  auto sender = f.client();
  auto other = f.client();
  auto with_positions = f.client("/t?positions");
  ASSERT_TRUE(f.broker->wait_calls(1));
  ASSERT_TRUE(sender->send("hi"));
  EXPECT_EQ(text_of(other->next_message()), "hi");
  EXPECT_EQ(text_of(with_positions->next_message()), "101-0\nhi");
  EXPECT_FALSE(sender->next_message(300ms));
  // A message from another node (not local): the same connection address means nothing there.
  f.broker->run([&] { f.broker->deliver("t", "", "remote", MessageKind::binary, 1, false); });
  std::optional<test::RecordedEvent> remote = other->next_message();
  EXPECT_EQ(text_of(remote), "remote");
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->message_kind, proto::MessageKind::binary);
  EXPECT_EQ(text_of(with_positions->next_message()), "\nremote");  // no history: no position
  EXPECT_EQ(text_of(sender->next_message()), "remote");
  EXPECT_EQ(f.broker->calls(), std::vector<std::string>{"+t"});  // one subscription per node
}

TEST(ServerBroker, ARefusedPublishIsFalseForTheCallerAndReachesNobody) {
  Fixture f;
  auto sender = f.client();
  auto other = f.client();
  ASSERT_TRUE(f.broker->wait_calls(1));
  f.broker->refusing = true;
  EXPECT_FALSE(f.server->publish("t", "from the server"));
  ASSERT_TRUE(sender->send("hi"));  // the route tells its sender when ws.publish is false
  EXPECT_EQ(text_of(sender->next_message()), "not published");
  EXPECT_FALSE(other->next_message(300ms));
  f.broker->refusing = false;
  EXPECT_TRUE(f.server->publish("t", "back"));
  EXPECT_EQ(text_of(other->next_message()), "back");
  EXPECT_EQ(text_of(sender->next_message()), "back");
}

TEST(ServerBroker, TheLastSubscriberLeavingUnsubscribesTheNode) {
  Fixture f;
  auto a = f.client();
  auto b = f.client();
  ASSERT_TRUE(f.broker->wait_calls(1));
  a->close();
  EXPECT_TRUE(a->wait_eof());
  b->close();
  EXPECT_TRUE(b->wait_eof());
  ASSERT_TRUE(f.broker->wait_calls(2));
  EXPECT_EQ(f.broker->calls(), (std::vector<std::string>{"+t", "-t"}));
  auto c = f.client();
  ASSERT_TRUE(f.broker->wait_calls(3));
  EXPECT_EQ(f.broker->calls().back(), "+t");
}

TEST(ServerBroker, RecoveryMissedFirstThenLiveWithoutDuplicatesThenNotice) {
  Fixture f(1);
  auto back = f.client("/t?since=5-0");
  std::optional<ScriptedBroker::Recovery> recovery = f.broker->wait_recovery();
  ASSERT_TRUE(recovery);
  EXPECT_EQ(recovery->topic, "t");
  EXPECT_EQ(recovery->since, "5-0");
  EXPECT_EQ(f.broker->calls(), std::vector<std::string>{"+t"});  // subscribed during recovery
  f.broker->run([&] {
    // Live messages that reach the node before the history answer: 6-0 is in the history too.
    f.broker->deliver("t", "6-0", "six");
    f.broker->deliver("t", "7-0", "seven");
    RecoveryResult result;
    result.status = RecoveryStatus::complete;
    result.messages.push_back({"6-0", MessageKind::text, {'s', 'i', 'x'}});
    recovery->done(std::move(result));
    f.broker->deliver("t", "8-0", "eight");  // after the answer, before it reached the loop
  });
  EXPECT_EQ(text_of(back->next_message()), "6-0\nsix");
  EXPECT_EQ(text_of(back->next_message()), "7-0\nseven");
  EXPECT_EQ(text_of(back->next_message()), "8-0\neight");
  EXPECT_EQ(text_of(back->next_message()), "-\ncomplete");
  f.broker->run([&] { f.broker->deliver("t", "9-0", "nine"); });
  EXPECT_EQ(text_of(back->next_message()), "9-0\nnine");
  EXPECT_FALSE(back->next_message(300ms));
}

TEST(ServerBroker, UnavailableRecoveryStillDeliversEveryLiveMessage) {
  Fixture f(1);
  auto back = f.client("/t?since=5-0");
  std::optional<ScriptedBroker::Recovery> recovery = f.broker->wait_recovery();
  ASSERT_TRUE(recovery);
  f.broker->run([&] {
    f.broker->deliver("t", "3-0", "old but live");  // no position to compare with: kept
    recovery->done({});
  });
  EXPECT_EQ(text_of(back->next_message()), "3-0\nold but live");
  EXPECT_EQ(text_of(back->next_message()), "-\nunavailable");
}

TEST(ServerBroker, ASubscriberThatLeavesDuringRecoveryIsForgotten) {
  Fixture f(1);
  auto back = f.client("/t?since=5-0");
  std::optional<ScriptedBroker::Recovery> recovery = f.broker->wait_recovery();
  ASSERT_TRUE(recovery);
  back->close();
  EXPECT_TRUE(back->wait_eof());
  ASSERT_TRUE(f.broker->wait_calls(2));
  EXPECT_EQ(f.broker->calls().back(), "-t");
  // The late answer finds nobody (and must not touch the connection that is gone).
  f.broker->run([&] { recovery->done({}); });
  auto other = f.client();
  f.broker->run([&] { f.broker->deliver("t", "", "still fine"); });
  EXPECT_EQ(text_of(other->next_message()), "still fine");
}

}  // namespace
}  // namespace wsx
