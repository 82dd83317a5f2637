// Session without a server: one end of a socketpair on an event loop thread, the other end a
// raw protocol-core client in the test thread.
#include "session/session.hpp"
#include "session/tcp_carrier.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "loop_watchdog.hpp"
#include "raw_ws_client.hpp"
#include "session/topics.hpp"
#include "test_tls_options.hpp"
#include "wsx/io/tls_context.hpp"

namespace wsx::session {
namespace {

using namespace std::chrono_literals;

class Owner final : public SessionOwner {
 public:
  void release(Session& session) noexcept override {
    delete &session;
    released = true;
  }
  std::atomic<bool> released{false};
};

class SessionFixture : public ::testing::Test {
 protected:
  void start(SessionConfig config) {
    config_ = std::move(config);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    peer_ = std::make_unique<test::RawWsClient>(test::RawWsClient::Adopt{fds[1]});
    peer_->start_protocol();
    // the peer end blocks with poll timeouts; make it blocking for plain send()
    const int peer_flags = ::fcntl(fds[1], F_GETFL);
    ::fcntl(fds[1], F_SETFL, peer_flags & ~O_NONBLOCK);
    session_ = new TcpSession(config_, owner_, nullptr, loop_, io::TcpSocket(fds[0]), std::nullopt);
    ASSERT_TRUE(session_->start(io::Clock::duration::zero()));
    watchdog_ = test::arm_watchdog(loop_, 10s);
    thread_ = std::thread([this] { loop_.run(); });
    on_loop([this] { session_->open({}); });
  }
  void TearDown() override {
    if (thread_.joinable()) {
      loop_.post([this] {
        if (!owner_.released) delete session_;
        loop_.stop();
      });
      thread_.join();
    }
  }
  // The close callback reports 1006 (not clean), the socket is closed, and the owner releases
  // the session.
  void expect_abnormal_close_then_release(std::promise<CloseInfo>& closed) {
    std::future<CloseInfo> result = closed.get_future();
    ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
    const CloseInfo info = result.get();
    EXPECT_EQ(info.code, 1006);
    EXPECT_FALSE(info.clean);
    EXPECT_TRUE(peer_->wait_eof());
    wait_released();
    EXPECT_TRUE(owner_.released);
  }
  // Waits (10 s at most) for the owner to release the session: the loop thread does it after
  // the close callback and after the socket's close, which the test thread may see first.
  void wait_released() {
    for (int i = 0; i < 1000 && !owner_.released; ++i) std::this_thread::sleep_for(10ms);
  }
  // Runs `task` on the loop and waits for it.
  void on_loop(std::function<void()> task) {
    std::promise<void> done;
    loop_.post([&] {
      task();
      done.set_value();
    });
    done.get_future().wait();
  }

  io::EventLoop loop_;
  // A memory budget for the owner (budget_ledger), when a test sets one up: after the loop,
  // which the ledger uses until it goes.
  std::unique_ptr<MemoryBudget> budget_;
  std::unique_ptr<BudgetLedger> ledger_;
  Owner owner_;
  SessionConfig config_;
  Session* session_ = nullptr;
  std::unique_ptr<test::RawWsClient> peer_;
  std::thread thread_;
  io::TimerId watchdog_ = 0;
};

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

TEST_F(SessionFixture, SharedFramesKeepTheirPlaceAmongOwnFrames) {
  start({});
  on_loop([this] {
    EXPECT_EQ(session_->send("one"), SendStatus::success);
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::text, bytes("two"))),
              SendStatus::success);
    EXPECT_EQ(session_->send(bytes("three"), MessageKind::binary), SendStatus::success);
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::binary, bytes("four"))),
              SendStatus::success);
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::text, bytes("five"))),
              SendStatus::success);
    EXPECT_GT(session_->buffered_amount(), 0u);
  });
  for (const char* expected : {"one", "two", "three", "four", "five"}) {
    std::optional<test::RecordedEvent> message = peer_->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->text(), expected);
  }
  on_loop([this] { EXPECT_EQ(session_->buffered_amount(), 0u); });
}

// An upgraded connection that stays quiet holds no protocol Connection (its frame parser and
// buffers): a broadcast to it does not create one either; the first frame it sends does.
TEST_F(SessionFixture, QuietConnectionCreatesItsProtocolStateOnFirstUse) {
  SessionConfig config;
  config.handlers.message = [](WebSocket& ws, Message message) {
    ws.send(message.data, message.kind);
  };
  start(config);
  on_loop([this] {
    EXPECT_FALSE(session_->protocol_created());
    EXPECT_TRUE(session_->is_open());
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::text, bytes("shared"))),
              SendStatus::success);
    EXPECT_FALSE(session_->protocol_created());
  });
  std::optional<test::RecordedEvent> message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "shared");
  on_loop([this] {
    EXPECT_FALSE(session_->protocol_created());
    EXPECT_EQ(session_->buffered_amount(), 0u);
  });
  ASSERT_TRUE(peer_->send("echo me"));
  message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "echo me");
  on_loop([this] { EXPECT_TRUE(session_->protocol_created()); });
}

// The server's memory budget also gates what the application queues (BudgetPolicy::may_queue):
// at the ceiling a connection holding nothing may take one light message, then nothing more;
// control frames still go.
TEST_F(SessionFixture, SendsAtTheMemoryCeilingAreDroppedExceptControlFrames) {
  constexpr std::size_t limit = 1024 * 1024;
  budget_ = std::make_unique<MemoryBudget>(limit, std::chrono::milliseconds(1000));
  ledger_ = std::make_unique<BudgetLedger>(loop_, *budget_);
  owner_.budget_ledger = ledger_.get();
  start({});
  on_loop([this] {
    budget_->add(static_cast<std::int64_t>(limit));            // other connections hold the ceiling
    EXPECT_EQ(session_->send("first"), SendStatus::success);   // this one held nothing
    EXPECT_EQ(session_->send("second"), SendStatus::dropped);  // "first" is still queued
    EXPECT_EQ(session_->ping(bytes("p")), SendStatus::success);
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::text, bytes("shared"))),
              SendStatus::dropped);
    budget_->add(-static_cast<std::int64_t>(limit));  // the others are gone
  });
  std::optional<test::RecordedEvent> message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "first");
  on_loop([this] {
    EXPECT_EQ(session_->buffered_amount(), 0u);
    EXPECT_EQ(session_->send("third"), SendStatus::success);
    // Under pressure (between 7/8 and the ceiling) a connection may stay light, not grow heavy.
    budget_->add(static_cast<std::int64_t>(limit - limit / 16));
    EXPECT_EQ(session_->send(std::vector<std::uint8_t>(heavy_footprint + 1), MessageKind::binary),
              SendStatus::dropped);
    EXPECT_EQ(session_->send("fourth"), SendStatus::success);
    budget_->add(-static_cast<std::int64_t>(limit - limit / 16));
  });
  for (const char* expected : {"third", "fourth"}) {
    message = peer_->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->text(), expected);
  }
}

// max_backpressure bounds what waits ahead of a message, not the message: a message larger
// than the limit is queued behind a few bytes that have not left yet (it was dropped, in
// silence for an application that ignores the status), and only a send made while the queue is
// over the limit is refused.
TEST_F(SessionFixture, AMessageLargerThanTheLimitIsQueuedBehindAFewBytes) {
  constexpr std::size_t limit = 1024 * 1024;
  SessionConfig config;
  config.options.max_backpressure = limit;
  config.options.max_message_size = 8 * limit;
  start(std::move(config));
  const std::vector<std::uint8_t> large(3 * limit, 0x42);
  on_loop([&] {
    EXPECT_EQ(session_->send("first"), SendStatus::success);  // queued: leaves after this task
    EXPECT_EQ(session_->send(large, MessageKind::binary), SendStatus::backpressure);
    EXPECT_GT(session_->buffered_amount(), limit);
    // The peer is now more than the limit behind: refused, and said so.
    EXPECT_EQ(session_->send("over the limit"), SendStatus::dropped);
  });
  std::optional<test::RecordedEvent> message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "first");
  message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->data, large);
  on_loop([this] {
    EXPECT_EQ(session_->buffered_amount(), 0u);
    EXPECT_EQ(session_->send("after the drain"), SendStatus::success);
  });
  message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "after the drain");
}

TEST_F(SessionFixture, ClosePolicyClosesOnlyWhenTheQueueAheadIsOverTheLimit) {
  constexpr std::size_t limit = 1024 * 1024;
  SessionConfig config;
  config.options.max_backpressure = limit;
  config.options.max_message_size = 8 * limit;
  config.options.backpressure_policy = BackpressurePolicy::close;
  start(std::move(config));
  const std::vector<std::uint8_t> large(3 * limit, 0x42);
  on_loop([&] {
    EXPECT_EQ(session_->send("first"), SendStatus::success);
    EXPECT_EQ(session_->send(large, MessageKind::binary), SendStatus::backpressure);
    EXPECT_EQ(session_->send("over the limit"), SendStatus::closed);  // 1008 follows
  });
  std::optional<test::RecordedEvent> message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "first");
  message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->data.size(), large.size());
  std::optional<test::RecordedEvent> event = peer_->next_event(5s);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->kind, proto::EventKind::close);
  EXPECT_EQ(event->close_code, 1008);
}

TEST_F(SessionFixture, FragmentedSendRefusesInterleavedDataFrames) {
  start({});
  on_loop([this] {
    EXPECT_EQ(session_->send_fragment(bytes("ab"), MessageKind::text, false), SendStatus::success);
    EXPECT_EQ(session_->send("no"), SendStatus::invalid);
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::text, bytes("no"))),
              SendStatus::invalid);
    EXPECT_EQ(session_->ping(bytes("p")), SendStatus::success);
    EXPECT_EQ(session_->send_fragment(bytes("cd"), MessageKind::text, true), SendStatus::success);
    EXPECT_EQ(session_->send("yes"), SendStatus::success);
    EXPECT_EQ(session_->ping(std::vector<std::uint8_t>(126)), SendStatus::invalid);
  });
  std::optional<test::RecordedEvent> message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "abcd");
  message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "yes");
}

TEST_F(SessionFixture, CloseTimeoutReportsAbnormalClosure) {
  std::promise<CloseInfo> closed;
  SessionConfig config;
  config.options.close_timeout = 150ms;
  config.handlers.close = [&](WebSocket&, const CloseInfo& info) { closed.set_value(info); };
  start(config);
  on_loop([this] {
    EXPECT_EQ(session_->close(4000, "bye"), SendStatus::success);
    EXPECT_EQ(session_->send("late"), SendStatus::closed);
    EXPECT_FALSE(session_->is_open());
  });
  // The peer never answers.
  expect_abnormal_close_then_release(closed);
}

TEST_F(SessionFixture, PeerVanishingReports1006) {
  std::promise<CloseInfo> closed;
  SessionConfig config;
  config.handlers.close = [&](WebSocket&, const CloseInfo& info) { closed.set_value(info); };
  start(config);
  peer_.reset();  // closes the socket without a close frame
  std::future<CloseInfo> result = closed.get_future();
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(result.get().code, 1006);
  wait_released();
  EXPECT_TRUE(owner_.released);
}

TEST_F(SessionFixture, HandleWorkForAGoneConnectionIsDropped) {
  start({});
  WebSocketHandle handle;
  on_loop([&] { handle = session_->handle(); });
  std::atomic<int> runs{0};
  ASSERT_TRUE(handle.post([&](WebSocket& ws) {
    ++runs;
    ws.send("via handle");
  }));
  std::optional<test::RecordedEvent> message = peer_->next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "via handle");
  ASSERT_TRUE(handle.post([](WebSocket& ws) { ws.terminate(); }));
  EXPECT_TRUE(peer_->wait_eof());
  wait_released();
  ASSERT_TRUE(owner_.released);
  EXPECT_TRUE(handle.post([&](WebSocket&) { ++runs; }));  // the loop takes it, drops it
  on_loop([] {});
  EXPECT_EQ(runs.load(), 1);
  EXPECT_FALSE(WebSocketHandle().send("empty handle"));
}

TEST_F(SessionFixture, IdleTimeoutPingsFirst) {
  std::atomic<int> pongs{0};
  SessionConfig config;
  config.options.idle_timeout = 100ms;
  config.options.idle_ping_wait = 5s;
  config.handlers.pong = [&](WebSocket&, std::span<const std::uint8_t>) { ++pongs; };
  start(config);
  std::optional<test::RecordedEvent> ping = peer_->next_event(10s);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->kind, proto::EventKind::ping);  // next_event answered it
  for (int i = 0; i < 1000 && pongs.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_GE(pongs.load(), 1);
}

TEST_F(SessionFixture, UserDataAndNoTopicsWithoutARegistry) {
  start({});
  on_loop([this] {
    session_->user_data() = 42;
    ASSERT_NE(session_->data<int>(), nullptr);
    EXPECT_EQ(*session_->data<int>(), 42);
    EXPECT_EQ(session_->data<std::string>(), nullptr);
    EXPECT_FALSE(session_->subscribe("t"));
    EXPECT_FALSE(session_->publish("t", "x"));
    EXPECT_EQ(session_->subprotocol(), "");
    EXPECT_FALSE(session_->compressed());
    EXPECT_EQ(session_->transport(), Transport::http1);
  });
}

TEST_F(SessionFixture, LargeSendGoesOutFromTheCallersBufferAndKeepsItsPlace) {
  start({});
  const std::string big(1 << 20, 'B');
  const std::string other(direct_send_threshold, 'o');
  on_loop([&] {
    // Written at once (the socket is empty): only what the socket did not take is queued.
    EXPECT_EQ(session_->send(bytes(big), MessageKind::binary), SendStatus::success);
    EXPECT_LT(session_->buffered_amount(), big.size());
    // Behind it, in order: a shared frame, a small frame, and a large one that now must queue.
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::text, bytes("shared"))),
              SendStatus::success);
    EXPECT_EQ(session_->send("small"), SendStatus::success);
    EXPECT_EQ(session_->send(bytes(other), MessageKind::binary), SendStatus::success);
  });
  for (const std::string& expected : {big, std::string("shared"), std::string("small"), other}) {
    std::optional<test::RecordedEvent> message = peer_->next_message();
    ASSERT_TRUE(message);
    EXPECT_TRUE(message->text() == expected) << expected.size();
  }
  on_loop([this] { EXPECT_EQ(session_->buffered_amount(), 0u); });
}

TEST_F(SessionFixture, EchoesOfReceivedBytesKeepTheirOrderWithOtherFrames) {
  // Large echoes of messages that arrived in one read are queued by reference to the read
  // buffer and must be sent, or copied, before it is reused. The socket is kept full (the peer
  // reads nothing at first), so they are copied; a pong and a small echo come between them.
  SessionConfig config;
  config.handlers.message = [](WebSocket& ws, Message message) {
    ws.send(message.data, message.kind);
  };
  start(config);
  const std::string z(1 << 20, 'z'), a(20000, 'a'), b(30000, 'b'), d(40000, 'd');
  // Shared, so that the Connection's own output stays empty and echoes may borrow.
  on_loop([&] {
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::binary, bytes(z))),
              SendStatus::success);
  });
  proto::ConnectionOptions options;
  options.role = proto::Role::client;
  proto::Connection frames(options);
  frames.send_binary(bytes(a));
  frames.send_binary(bytes(b));
  frames.ping(bytes("p"));
  frames.send_text("tail");
  frames.send_binary(bytes(d));
  ASSERT_TRUE(peer_->write_all(frames.pending_output()));
  std::this_thread::sleep_for(50ms);  // echoed (queued) before the peer starts reading
  // The next read reuses the read buffer the echoes were borrowed from.
  proto::Connection more(options);
  more.send_text("later");
  ASSERT_TRUE(peer_->write_all(more.pending_output()));
  std::this_thread::sleep_for(50ms);
  const std::string pong = "p", tail = "tail", later = "later";
  const std::pair<proto::EventKind, const std::string*> expected[] = {
      {proto::EventKind::message, &z},    {proto::EventKind::message, &a},
      {proto::EventKind::message, &b},    {proto::EventKind::pong, &pong},
      {proto::EventKind::message, &tail}, {proto::EventKind::message, &d},
      {proto::EventKind::message, &later}};
  for (const auto& [kind, data] : expected) {
    std::optional<test::RecordedEvent> event = peer_->next_event();
    ASSERT_TRUE(event);
    EXPECT_EQ(event->kind, kind);
    EXPECT_TRUE(event->text() == *data) << data->size();
  }
  on_loop([this] { EXPECT_EQ(session_->buffered_amount(), 0u); });
}

TEST_F(SessionFixture, TheRestOfALargeMessageIsReadStraightIntoItsStorage) {
  SessionConfig config;
  config.handlers.message = [](WebSocket& ws, Message message) {
    ws.send(message.data, message.kind);
  };
  start(config);
  std::string payload(1 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + i / 251);
  proto::ConnectionOptions options;
  options.role = proto::Role::client;
  proto::Connection frames(options);
  frames.send_binary(bytes(payload));
  const std::span<const std::uint8_t> wire = frames.pending_output();
  // The first one fills fresh storage by copying; once its echo has left, that storage waits in
  // the loop thread's pool for the next.
  ASSERT_TRUE(peer_->write_all(wire));
  std::optional<test::RecordedEvent> first = peer_->next_message();
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->text() == payload);
  constexpr std::size_t first_part = 30000;
  ASSERT_TRUE(peer_->write_all(wire.first(first_part)));
  // Once the first part is in, the session offers the rest of the frame as the next read's
  // destination (carrier_read_destination): the place in the message where it belongs.
  const std::size_t rest = wire.size() - first_part;
  std::size_t offered = 0;
  for (int i = 0; i < 300 && offered != rest; ++i) {
    on_loop([&] { offered = session_->carrier_read_destination().size(); });
    if (offered != rest) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(offered, rest);
  ASSERT_TRUE(peer_->write_all(wire.subspan(first_part)));
  std::optional<test::RecordedEvent> echo = peer_->next_message();
  ASSERT_TRUE(echo);
  EXPECT_TRUE(echo->text() == payload);
  on_loop([this] { EXPECT_TRUE(session_->carrier_read_destination().empty()); });
}

// The frame handler (and a route's FrameObserver) sees every frame both ways, in wire order:
// data, control frames answered by the core, frames sent through the shared queue, the close.
class CountingObserver final : public proto::FrameObserver {
 public:
  void on_frame(bool, const proto::FrameHeader&, std::span<const std::uint8_t>) override {
    ++frames;
  }
  std::atomic<int> frames{0};
};

TEST_F(SessionFixture, FrameHandlerSeesEveryFrameBothWays) {
  struct Seen {
    bool outgoing;
    proto::Opcode opcode;
    std::string payload;
    bool operator==(const Seen&) const = default;
  };
  std::mutex mutex;
  std::vector<Seen> seen;
  CountingObserver observer;
  SessionConfig config;
  config.options.frame_observer = &observer;
  config.handlers.frame = [&](WebSocket&, bool outgoing, const proto::FrameHeader& header,
                              std::span<const std::uint8_t> payload) {
    std::lock_guard lock(mutex);
    seen.push_back({outgoing, header.opcode, std::string(payload.begin(), payload.end())});
  };
  start(std::move(config));
  on_loop([this] {
    EXPECT_EQ(session_->send("yo"), SendStatus::success);
    EXPECT_EQ(session_->send_shared(make_shared_frame(MessageKind::text, bytes("pub"))),
              SendStatus::success);
  });
  ASSERT_TRUE(peer_->send("hi"));
  ASSERT_TRUE(peer_->ping("p"));
  for (const char* expected : {"yo", "pub"}) {
    std::optional<test::RecordedEvent> message = peer_->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->text(), expected);
  }
  std::optional<test::RecordedEvent> pong = peer_->next_event();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->kind, proto::EventKind::pong);
  ASSERT_TRUE(peer_->close(1000, "bye"));
  std::optional<test::RecordedEvent> close = peer_->next_event();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind, proto::EventKind::close);

  const std::string close_payload{'\x03', '\xe8', 'b', 'y', 'e'};  // 1000, "bye"
  const std::vector<Seen> expected = {
      {true, proto::Opcode::text, "yo"},
      {true, proto::Opcode::text, "pub"},
      {false, proto::Opcode::text, "hi"},
      {false, proto::Opcode::ping, "p"},
      {true, proto::Opcode::pong, "p"},
      {false, proto::Opcode::close, close_payload},
      {true, proto::Opcode::close, std::string{'\x03', '\xe8'}},
  };
  std::lock_guard lock(mutex);
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(observer.frames.load(), static_cast<int>(expected.size()));
}

// The send path asks a carrier for bytes of its own (unsent_bytes, held_input_bytes) only when
// it may hold some (Carrier::keeps_bytes): plain TCP never does, TLS does (ciphertext the socket
// has not taken yet).
TEST(SessionCarrier, OnlyTlsKeepsBytesOfItsOwn) {
  io::EventLoop loop;
  SessionConfig config;
  Owner owner;
  const io::TlsContext tls = io::TlsContext::server(test::test_server_tls());
  for (const bool with_tls : {false, true}) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    std::optional<io::TlsSession> session_tls;
    if (with_tls) session_tls.emplace(tls);
    TcpSession session(config, owner, nullptr, loop, io::TcpSocket(fds[0]), std::move(session_tls));
    EXPECT_EQ(session.carrier().keeps_bytes(), with_tls);
    ::close(fds[1]);
  }
}

// Bytes waiting in the socketpair for `fd` to read them.
std::size_t readable_bytes(int fd) {
  int n = 0;
  EXPECT_EQ(::ioctl(fd, FIONREAD, &n), 0);
  return static_cast<std::size_t>(n);
}

// Writes all of `client`'s output to the non-blocking `fd`, waiting while it is full.
void send_client_output(int fd, io::TlsSession& client) {
  while (!client.pending_output().empty()) {
    const std::span<const std::uint8_t> out = client.pending_output();
    const ssize_t n = ::write(fd, out.data(), out.size());
    if (n > 0) {
      client.consume_output(static_cast<std::size_t>(n));
      continue;
    }
    ASSERT_EQ(errno, EAGAIN);
    pollfd writable{fd, POLLOUT, 0};
    ASSERT_EQ(::poll(&writable, 1, 10000), 1);
  }
}

// The client's side of the TLS handshake, in the test thread; the server's runs on its loop.
void complete_client_handshake(int fd, io::TlsSession& client) {
  std::vector<std::uint8_t> buffer(16 * 1024);
  while (!client.handshake_done()) {
    send_client_output(fd, client);
    pollfd readable{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&readable, 1, 10000), 1);
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    ASSERT_GT(n, 0);
    client.feed({buffer.data(), static_cast<std::size_t>(n)});
    ASSERT_NE(client.state(), io::TlsState::failed) << client.error();
  }
  send_client_output(fd, client);  // its Finished: the server's handshake ends with it
}

// buffered_amount() is what the session queued plus what its carrier still holds. The peer reads
// nothing, so a message larger than the socket takes stays partly on our side: over plain TCP
// all of that is in the session's queue (the message's frame less what the socket took); over
// TLS the TLS layer holds part of it (records the full socket did not take), which must be
// counted too.
TEST(SessionCarrier, BufferedAmountCountsWhatTheCarrierHolds) {
  constexpr std::size_t message_size = 1024 * 1024;
  constexpr std::size_t frame_size = 2 + 8 + message_size;  // unmasked, 64-bit length
  const std::string message(message_size, 'm');
  const io::TlsContext server_tls = io::TlsContext::server(test::test_server_tls());
  io::TlsClientOptions client_options;
  test::trust_test_ca_only(client_options);
  const io::TlsContext client_tls = io::TlsContext::client(client_options);
  for (const bool with_tls : {false, true}) {
    SCOPED_TRACE(with_tls ? "TLS" : "plain TCP");
    io::EventLoop loop;
    SessionConfig config;
    Owner owner;
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    std::optional<io::TlsSession> session_tls;
    if (with_tls) session_tls.emplace(server_tls);
    auto* session =
        new TcpSession(config, owner, nullptr, loop, io::TcpSocket(fds[0]), std::move(session_tls));
    ASSERT_TRUE(session->start(io::Clock::duration::zero()));
    const io::TimerId watchdog = test::arm_watchdog(loop, 20s);
    (void)watchdog;
    std::thread thread([&] { loop.run(); });
    const auto on_loop = [&](std::function<void()> task) {
      std::promise<void> done;
      loop.post([&] {
        task();
        done.set_value();
      });
      done.get_future().wait();
    };
    if (with_tls) {
      io::TlsSession client(client_tls, "localhost");
      complete_client_handshake(fds[1], client);
    }
    on_loop([&] {
      session->open({});
      EXPECT_EQ(session->send(message), SendStatus::success);
    });
    // Once the socket is full (it takes far less than the message), on the loop thread, where
    // nothing moves while we look.
    struct Snapshot {
      std::size_t buffered = 0, carrier_unsent = 0, in_socket = 0;
    } seen;
    for (int i = 0; i < 1000; ++i) {
      Snapshot now;
      on_loop([&] {
        now.buffered = session->buffered_amount();
        now.carrier_unsent = session->carrier().unsent_bytes();
        now.in_socket = readable_bytes(fds[1]);
      });
      const bool settled = now.in_socket == seen.in_socket && now.in_socket > 0;
      seen = now;
      if (settled) break;
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_GT(seen.in_socket, 0u);
    EXPECT_LT(seen.in_socket, frame_size);
    if (with_tls) {
      EXPECT_GT(seen.carrier_unsent, 0u);
      EXPECT_GE(seen.buffered, seen.carrier_unsent);
      // The socket holds ciphertext: the handshake, record headers and tags, then at most that
      // much of the frame. The rest of the frame is still ours, in one form or the other.
      EXPECT_GE(seen.buffered, frame_size - seen.in_socket);
    } else {
      EXPECT_EQ(seen.carrier_unsent, 0u);
      EXPECT_EQ(seen.buffered, frame_size - seen.in_socket);
    }
    loop.post([&] {
      if (!owner.released) delete session;
      loop.stop();
    });
    thread.join();
    ::close(fds[1]);
  }
}

TEST(SessionFootprint, IdleSessionStaysSmall) {
  // What the server holds per idle connection: this one block of its worker's BlockPool, the
  // TCP carrier and its stream inside it. The protocol core, handshake bytes, shared-frame queue,
  // subprotocol, user data and TLS are allocated only when used; the topic registry is the
  // owner's.
  EXPECT_LE(sizeof(io::Stream), 56u);
  EXPECT_LE(sizeof(TcpSession), 200u);
}

}  // namespace
}  // namespace wsx::session

namespace wsx::session {
namespace {

// terminate() from user code on the loop thread, outside any callback: the WebSocket must stay
// valid until the caller returns, and the release happens afterwards (posted).
TEST_F(SessionFixture, TerminateOutsideACallbackKeepsTheWebSocketValidUntilReturn) {
  std::promise<CloseInfo> closed;
  SessionConfig config;
  config.handlers.close = [&](WebSocket&, const CloseInfo& info) { closed.set_value(info); };
  start(config);
  on_loop([this] {
    WebSocket& ws = *session_;
    ws.terminate();
    EXPECT_FALSE(ws.is_open());  // use after terminate(): a use-after-free if released inline
    EXPECT_EQ(ws.send("late"), SendStatus::closed);
    EXPECT_FALSE(owner_.released);
  });
  expect_abnormal_close_then_release(closed);
}

}  // namespace
}  // namespace wsx::session
