// A long-polling session's owner side with a stand-in for the WebSocket session (an echo of
// bytes): requests through the hub, answers posted back, the output window and drain, the
// held recv, the end (410, then peer_end), abandonment, and requests from another thread.
#include "server/poll_channel.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "server/poll_hub.hpp"
#include "server/poll_session_id.hpp"
#include "server/router.hpp"

namespace wsx::server {
namespace {

using namespace std::chrono_literals;

// The session above: what it is given comes back as its output (an echo), and every call is
// recorded.
class EchoPeer final : public PollPeer {
 public:
  void peer_data(std::span<std::uint8_t> data) override {
    received.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (echo) output.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (channel != nullptr && !output.empty()) channel->request_flush();
  }
  std::size_t peer_read_allowance() override { return allowance; }
  std::size_t peer_gather(std::span<io::ConstBuffer> out) override {
    if (output.empty() || out.empty()) return 0;
    out[0] = {reinterpret_cast<const std::uint8_t*>(output.data()), output.size()};
    return 1;
  }
  void peer_consume(std::size_t n) override { output.erase(0, n); }
  void peer_drained() override { ++drained; }
  void peer_end() override {
    ++ended;
    if (channel != nullptr) channel->close();
  }
  void peer_error(std::string_view reason) override {
    error = reason;
    if (channel != nullptr) channel->close();
  }
  void peer_input_changed() override {
    held.push_back(channel != nullptr ? channel->held_input_bytes() : 0);
  }
  void write(std::string_view bytes) {
    output.append(bytes);
    channel->request_flush();
  }

  PollChannel* channel = nullptr;
  std::string received;
  std::string output;
  std::size_t allowance = SIZE_MAX;
  bool echo = true;
  int drained = 0;
  int ended = 0;
  std::string error;
  std::vector<std::size_t> held;  // held_input_bytes() at each peer_input_changed()
};

struct Answers {
  std::vector<PollOutcome> got;
  std::shared_ptr<PollReply> reply(io::EventLoop& loop) {
    auto reply = std::make_shared<PollReply>();
    reply->loop = loop.handle();
    reply->answer = [this](PollOutcome outcome) { got.push_back(std::move(outcome)); };
    return reply;
  }
};

// Runs `loop` until `done` holds (checked every millisecond), at most 10 s.
template <typename Predicate>
bool run_until(io::EventLoop& loop, Predicate done) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  bool ok = false;
  const io::TimerId check = loop.run_every(1ms, [&] {
    if (done()) {
      ok = true;
      loop.stop();
    } else if (std::chrono::steady_clock::now() > give_up) {
      loop.stop();
    }
  });
  loop.run();
  loop.cancel(check);
  return ok;
}

class PollChannelTest : public ::testing::Test {
 protected:
  PollChannelTest() {
    route.pattern = "/echo";
    other_route.pattern = "/other";
  }

  std::unique_ptr<PollChannel> open(PollLimits limits = {}) {
    PollChannelParams params;
    params.sid = make_poll_session_id(0);
    params.route = &route;
    params.binding.origin = "https://a.example";
    params.binding.csrf = "TOKEN";
    params.limits = limits;
    auto channel = std::make_unique<PollChannel>(hub, std::move(params));
    channel->attach(&peer);
    peer.channel = channel.get();
    return channel;
  }

  PollCall call(const PollChannel& channel, PollKind kind, std::uint64_t position,
                std::string body = {}) {
    PollCall call;
    call.kind = kind;
    call.position = position;
    call.sid = channel.sid();
    call.origin = "https://a.example";
    call.csrf = "TOKEN";
    call.body = std::move(body);
    call.route = &route;
    call.reply = answers.reply(loop);
    return call;
  }

  bool answered(std::size_t count) {
    return run_until(loop, [&] { return answers.got.size() >= count; });
  }

  io::EventLoop loop;
  PollHub hub{loop, 0};
  Route route;
  Route other_route;
  EchoPeer peer;
  Answers answers;
};

// A body that waits while the session does not read is memory the session's footprint must
// count: the peer hears when the held input changes, outside its own calls, both ways.
TEST_F(PollChannelTest, TheSessionHearsOfABodyWaitingAndOfItsRelease) {
  auto channel = open();
  channel->pause_reading();
  hub.handle(call(*channel, PollKind::send, 0, "waiting body"));
  EXPECT_EQ(channel->held_input_bytes(), 12u);
  EXPECT_EQ(peer.held, std::vector<std::size_t>{12});
  EXPECT_TRUE(peer.received.empty());
  channel->resume_reading();
  ASSERT_TRUE(answered(1));  // read: its 204
  EXPECT_EQ(answers.got[0].status, 204);
  EXPECT_EQ(peer.received, "waiting body");
  EXPECT_EQ(channel->held_input_bytes(), 0u);
  EXPECT_EQ(peer.held, (std::vector<std::size_t>{12, 0}));
}

TEST_F(PollChannelTest, SendIsFedToTheSessionAndItsOutputComesBackOnRecv) {
  auto channel = open();
  hub.handle(call(*channel, PollKind::send, 0, "hello"));
  ASSERT_TRUE(answered(1));
  EXPECT_EQ(answers.got[0].status, 204);
  EXPECT_EQ(answers.got[0].offset, 5u);
  EXPECT_EQ(peer.received, "hello");
  hub.handle(call(*channel, PollKind::recv, 0));
  ASSERT_TRUE(answered(2));
  EXPECT_EQ(answers.got[1].status, 200);
  EXPECT_EQ(answers.got[1].offset, 0u);
  EXPECT_EQ(answers.got[1].content_type, "application/x-wsx-poll");
  EXPECT_EQ(answers.got[1].body, "hello");
  // Lost: the same ack gets the same bytes.
  hub.handle(call(*channel, PollKind::recv, 0));
  ASSERT_TRUE(answered(3));
  EXPECT_EQ(answers.got[2].body, "hello");
}

TEST_F(PollChannelTest, UnknownSessionOtherRouteOriginAndTokenAreRefused) {
  auto channel = open();
  PollCall unknown = call(*channel, PollKind::recv, 0);
  unknown.sid = make_poll_session_id(0);
  hub.handle(std::move(unknown));
  PollCall elsewhere = call(*channel, PollKind::recv, 0);
  elsewhere.route = &other_route;
  hub.handle(std::move(elsewhere));
  PollCall foreign = call(*channel, PollKind::recv, 0);
  foreign.origin = "https://evil.example";
  hub.handle(std::move(foreign));
  PollCall tokenless = call(*channel, PollKind::send, 0, "x");
  tokenless.csrf.reset();
  hub.handle(std::move(tokenless));
  PollCall forged = call(*channel, PollKind::send, 0, "x");
  forged.csrf = "TOKEM";
  hub.handle(std::move(forged));
  ASSERT_TRUE(answered(5));
  EXPECT_EQ(answers.got[0].status, 404);
  EXPECT_EQ(answers.got[0].body, R"({"error":"unknown session"})");
  EXPECT_EQ(answers.got[1].status, 404);
  EXPECT_EQ(answers.got[2].status, 403);
  EXPECT_EQ(answers.got[3].status, 403);
  EXPECT_EQ(answers.got[4].status, 403);
  EXPECT_EQ(answers.got[4].content_type, "application/json");
  EXPECT_TRUE(peer.received.empty());
}

TEST_F(PollChannelTest, HeldRecvIsAnsweredWhenTheSessionWritesOrAfterThePollInterval) {
  PollLimits limits;
  limits.poll = 300ms;
  auto channel = open(limits);
  // The calls are handled on the running loop, as the server does: the poll interval counts
  // from the loop's time, which is current only while it runs. Handled before run(), the first
  // poll counted from the loop's construction and could expire before the 20 ms write (failed
  // at load ~16), and the second wait measured from a later clock read looked short.
  loop.post([&] {
    hub.handle(call(*channel, PollKind::recv, 0));
    loop.run_after(20ms, [&] { peer.write("late"); });
  });
  ASSERT_TRUE(answered(1));
  EXPECT_EQ(answers.got[0].body, "late");
  io::Clock::time_point start{};
  loop.post([&] {
    start = loop.now();  // what the poll interval counts from
    hub.handle(call(*channel, PollKind::recv, 4));
  });
  ASSERT_TRUE(answered(2));
  EXPECT_GE(io::Clock::now() - start, 300ms);
  EXPECT_EQ(answers.got[1].status, 200);
  EXPECT_EQ(answers.got[1].offset, 4u);
  EXPECT_TRUE(answers.got[1].body.empty());
}

TEST_F(PollChannelTest, OutputBeyondTheWindowStaysWithTheSessionUntilAcknowledged) {
  PollLimits limits;
  limits.output_window = 10;
  limits.max_response = 100;
  auto channel = open(limits);
  peer.write(std::string(25, 'x'));
  ASSERT_TRUE(run_until(loop, [&] { return channel->write_blocked(); }));
  EXPECT_EQ(peer.output.size(), 15u);  // still the session's: its backpressure sees it
  EXPECT_EQ(channel->unsent_bytes(), 10u);
  hub.handle(call(*channel, PollKind::recv, 0));
  ASSERT_TRUE(answered(1));
  EXPECT_EQ(answers.got[0].body.size(), 10u);
  EXPECT_EQ(peer.drained, 0);
  hub.handle(call(*channel, PollKind::recv, 10));
  ASSERT_TRUE(answered(2));
  EXPECT_EQ(answers.got[1].offset, 10u);
  EXPECT_EQ(answers.got[1].body.size(), 10u);
  EXPECT_EQ(peer.drained, 0);  // the window filled again from what the session still had
  hub.handle(call(*channel, PollKind::recv, 20));
  ASSERT_TRUE(answered(3));
  EXPECT_EQ(answers.got[2].body.size(), 5u);
  EXPECT_TRUE(peer.output.empty());
  EXPECT_EQ(peer.drained, 1);  // room again, and the session has nothing left: drained
}

// Output within the window never blocks it, yet the session counts it (unsent_bytes) until the
// client acknowledges it: the ack is when a session whose reading paused over its limit may
// resume, so it hears drained then, or it would wait for a drained that never comes.
TEST_F(PollChannelTest, AnAcknowledgementThatFreesOutputIsDrained) {
  auto channel = open();
  peer.write("hello");
  ASSERT_TRUE(run_until(loop, [&] { return channel->unsent_bytes() == 5; }));
  EXPECT_FALSE(channel->write_blocked());
  hub.handle(call(*channel, PollKind::recv, 0));
  ASSERT_TRUE(answered(1));
  EXPECT_EQ(answers.got[0].body, "hello");
  EXPECT_EQ(peer.drained, 0);  // nothing acknowledged yet
  hub.handle(call(*channel, PollKind::recv, 5));
  ASSERT_TRUE(run_until(loop, [&] { return peer.drained > 0; }));
  EXPECT_EQ(channel->unsent_bytes(), 0u);
  EXPECT_EQ(peer.drained, 1);
}

TEST_F(PollChannelTest, PausedSessionHoldsTheSendAnswerUntilItReadsAgain) {
  auto channel = open();
  channel->pause_reading();
  hub.handle(call(*channel, PollKind::send, 0, "abc"));
  loop.run_after(50ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_TRUE(answers.got.empty());  // the client's flow control: its POST waits
  EXPECT_TRUE(peer.received.empty());
  channel->resume_reading();
  ASSERT_TRUE(answered(1));
  EXPECT_EQ(answers.got[0].status, 204);
  EXPECT_EQ(peer.received, "abc");
}

TEST_F(PollChannelTest, GracefulEndSendsTheRestThen410ThenEnds) {
  auto channel = open();
  peer.echo = false;
  peer.write("bye");
  channel->close_gracefully();
  hub.handle(call(*channel, PollKind::recv, 0));
  ASSERT_TRUE(answered(1));
  EXPECT_EQ(answers.got[0].body, "bye");
  EXPECT_EQ(peer.ended, 0);
  const std::string sid = channel->sid();
  hub.handle(call(*channel, PollKind::recv, 3));
  ASSERT_TRUE(answered(2));
  EXPECT_EQ(answers.got[1].status, 410);
  EXPECT_EQ(peer.ended, 1);
  EXPECT_EQ(hub.find(sid), nullptr);  // closed: later requests get 404
}

TEST_F(PollChannelTest, AbandonedSessionFailsTheSessionAndLeavesTheTable) {
  PollLimits limits;
  limits.timeout = 200ms;
  auto channel = open(limits);
  const std::string sid = channel->sid();
  ASSERT_TRUE(run_until(loop, [&] { return !peer.error.empty(); }));
  EXPECT_EQ(peer.error, "long-polling client gone: no request within the timeout");
  EXPECT_EQ(hub.find(sid), nullptr);
}

TEST_F(PollChannelTest, CloseAnswersWhatWaitsWith410) {
  auto channel = open();
  hub.handle(call(*channel, PollKind::recv, 0));
  channel->close();
  ASSERT_TRUE(answered(1));
  EXPECT_EQ(answers.got[0].status, 410);
}

TEST(PollHub, RequestsFromAnotherThreadReachTheOwnerAndAnswersComeBack) {
  io::EventLoop owner_loop;
  io::EventLoop other_loop;
  PollHub owner(owner_loop, 0);
  PollHub other(other_loop, 1);
  PollHub* const hubs[] = {&owner, &other};
  Route route;
  EchoPeer peer;
  PollChannelParams params;
  params.sid = make_poll_session_id(0);
  params.route = &route;
  PollChannel channel(owner, params);
  channel.attach(&peer);
  peer.channel = &channel;
  std::thread owner_thread([&] { owner_loop.run(); });
  Answers answers;
  PollCall send;
  send.kind = PollKind::send;
  send.sid = params.sid;
  send.body = "ping";
  send.route = &route;
  send.reply = answers.reply(other_loop);
  dispatch_poll_call(hubs, other, std::move(send));
  ASSERT_TRUE(run_until(other_loop, [&] { return answers.got.size() == 1; }));
  EXPECT_EQ(answers.got[0].status, 204);
  PollCall recv;
  recv.kind = PollKind::recv;
  recv.sid = params.sid;
  recv.route = &route;
  recv.reply = answers.reply(other_loop);
  dispatch_poll_call(hubs, other, std::move(recv));
  PollCall nowhere;
  nowhere.sid = make_poll_session_id(7);  // no such thread
  nowhere.reply = answers.reply(other_loop);
  dispatch_poll_call(hubs, other, std::move(nowhere));
  ASSERT_TRUE(run_until(other_loop, [&] { return answers.got.size() == 3; }));
  owner_loop.stop();
  owner_thread.join();
  std::sort(answers.got.begin() + 1, answers.got.end(),
            [](const PollOutcome& a, const PollOutcome& b) { return a.status < b.status; });
  EXPECT_EQ(answers.got[1].status, 200);
  EXPECT_EQ(answers.got[1].body, "ping");
  EXPECT_EQ(answers.got[2].status, 404);
}

}  // namespace
}  // namespace wsx::server
