// WebSocket sessions over the long-polling carrier, end to end through a real server with a
// client that speaks the protocol (poll_test_client.hpp): the application's callbacks, sends,
// close, topics and backpressure work as over TCP, and the transport's own rules hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http_test_client.hpp"
#include "poll_test_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;

// What the application saw, from the server threads.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Transport> transports;
  std::vector<CloseInfo> closes;
  std::vector<Transport> close_transports;  // the transport of each of `closes`
  std::vector<std::string> close_reasons;
  std::vector<SendStatus> statuses;
  std::atomic<int> open_now{0};

  void opened(WebSocket& ws) {
    std::lock_guard lock(mutex);
    transports.push_back(ws.transport());
    ++open_now;
    changed.notify_all();
  }
  void closed(const CloseInfo& info, Transport transport = Transport::long_polling) {
    std::lock_guard lock(mutex);
    closes.push_back(info);
    close_transports.push_back(transport);
    close_reasons.emplace_back(info.reason);
    --open_now;
    changed.notify_all();
  }
  bool wait_closes(std::size_t count, std::chrono::seconds timeout = 20s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return closes.size() >= count; });
  }
};

class LongPollingSessions : public ::testing::Test {
 protected:
  void start(std::function<void(Behavior&)> adjust = {}, unsigned threads = 2,
             std::function<void(ServerOptions&)> adjust_server = {}) {
    ServerOptions options;
    options.threads = threads;
    if (adjust_server) adjust_server(options);
    server = std::make_unique<Server>(options);
    Behavior echo;
    echo.long_polling = LongPolling{};
    echo.max_message_size = 2 * 1024 * 1024;
    echo.open = [this](WebSocket& ws) {
      seen.opened(ws);
      ws.subscribe("news");
    };
    echo.message = [](WebSocket& ws, Message message) {
      if (message.kind == MessageKind::text && message.text() == "bye") {
        ws.close(4000, "asked to");
        return;
      }
      ws.send(message.data, message.kind);
    };
    echo.close = [this](WebSocket& ws, const CloseInfo& info) {
      seen.closed(info, ws.transport());
    };
    if (adjust) adjust(echo);
    server->route("/echo", echo);
    running = std::make_unique<test::RunningServer>(*server);
  }
  std::string origin() const {
    return "Origin: http://127.0.0.1:" + std::to_string(running->port()) + "\r\n";
  }
  std::unique_ptr<test::PollTestClient> client() {
    return std::make_unique<test::PollTestClient>(running->port(), "/echo", origin());
  }

  Seen seen;
  std::unique_ptr<Server> server;
  std::unique_ptr<test::RunningServer> running;
};

std::string text_of(const test::RecordedEvent& event) {
  return event.text();
}

TEST_F(LongPollingSessions, OpenAnswersTheDocumentedJsonAndTheSessionSaysItsTransport) {
  start();
  auto poll = client();
  const auto answer = poll->open({}, "Wsx-Protocol: nope, chat\r\n");
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200);
  EXPECT_EQ(answer->header("Content-Type"), "application/json");
  EXPECT_EQ(answer->header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(answer->header("Cache-Control"), "no-store");
  EXPECT_TRUE(answer->keep_alive);
  EXPECT_EQ(poll->sid.size(), 24u);
  EXPECT_EQ(poll->open_json,
            R"({"sid":")" + poll->sid + R"(","protocol":"","poll":25000,"timeout":60000})");
  std::unique_lock lock(seen.mutex);
  ASSERT_TRUE(seen.changed.wait_for(lock, 10s, [&] { return !seen.transports.empty(); }));
  EXPECT_EQ(seen.transports[0], Transport::long_polling);
}

TEST_F(LongPollingSessions, EchoesTextAndBinary) {
  start();
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  ASSERT_EQ(poll->send_text("hello")->status, 204);
  const std::vector<std::uint8_t> binary = {0, 1, 2, 255};
  poll->connection().send_binary(binary);
  ASSERT_EQ(poll->flush()->status, 204);
  ASSERT_TRUE(poll->wait_events(2));
  EXPECT_EQ(text_of(poll->events[0]), "hello");
  EXPECT_EQ(poll->events[0].message_kind, proto::MessageKind::text);
  EXPECT_EQ(poll->events[1].data, binary);
  EXPECT_EQ(poll->events[1].message_kind, proto::MessageKind::binary);
}

TEST_F(LongPollingSessions, MessageFragmentedOverSeveralPosts) {
  start();
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  const std::string a = "frag", b = "mented ", c = "message";
  for (const auto& [piece, fin] : {std::pair{a, false}, {b, false}, {c, true}}) {
    poll->connection().send_fragment(
        proto::MessageKind::text,
        {reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size()}, fin);
    ASSERT_EQ(poll->flush()->status, 204);
  }
  // And one frame split across two POSTs in the middle of its header.
  poll->connection().send_text("split");
  const auto pending = poll->connection().pending_output();
  const std::string frame(reinterpret_cast<const char*>(pending.data()), pending.size());
  ASSERT_EQ(poll->post(poll->sent(), frame.substr(0, 3))->status, 204);
  ASSERT_EQ(poll->post(poll->sent() + 3, frame.substr(3))->status, 204);
  ASSERT_TRUE(poll->wait_events(2));
  EXPECT_EQ(text_of(poll->events[0]), "fragmented message");
  EXPECT_EQ(text_of(poll->events[1]), "split");
}

TEST_F(LongPollingSessions, OneMebibyteMessageBothWays) {
  start();
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  std::vector<std::uint8_t> big(1024 * 1024);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7 + i / 251);
  poll->connection().send_binary(big);
  ASSERT_EQ(poll->flush()->status, 204);
  ASSERT_TRUE(poll->wait_events(1));
  EXPECT_EQ(poll->events[0].data, big);
}

TEST_F(LongPollingSessions, LostRecvAnswerAskedAgainGivesNoGapAndNoDuplicate) {
  start();
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  ASSERT_EQ(poll->send_text("one")->status, 204);
  // The first answer is "lost": the client asks again with the same ack.
  test::PollTestClient& raw = *poll;
  const auto lost = raw.recv_at(0);  // received() is still 0: this one is consumed
  ASSERT_TRUE(lost);
  ASSERT_EQ(lost->status, 200);
  const std::string first = lost->body;
  ASSERT_EQ(poll->events.size(), 1u);
  // Re-asking at 0 yields the same bytes again (the server kept them).
  const auto again = raw.recv_at(0);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, first);
  EXPECT_EQ(poll->events.size(), 1u);  // not fed twice
  ASSERT_EQ(poll->send_text("two")->status, 204);
  ASSERT_TRUE(poll->wait_events(2));
  EXPECT_EQ(text_of(poll->events[1]), "two");
}

TEST_F(LongPollingSessions, CloseFromTheClientReachesTheApplicationThen410) {
  start();
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  poll->connection().close(1000, "done");
  ASSERT_EQ(poll->flush()->status, 204);
  ASSERT_TRUE(poll->wait_events(1));
  EXPECT_EQ(poll->events[0].kind, proto::EventKind::close);
  EXPECT_EQ(poll->events[0].close_code, 1000);
  const auto gone = poll->recv();
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 410);
  ASSERT_TRUE(seen.wait_closes(1));
  EXPECT_EQ(seen.closes[0].code, 1000);
  EXPECT_TRUE(seen.closes[0].clean);
  const auto after = poll->recv();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 404);
}

TEST_F(LongPollingSessions, CloseFromTheServerReachesTheClient) {
  start();
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  ASSERT_EQ(poll->send_text("bye")->status, 204);
  ASSERT_TRUE(poll->wait_events(1));
  EXPECT_EQ(poll->events[0].kind, proto::EventKind::close);
  EXPECT_EQ(poll->events[0].close_code, 4000);
  // wait_events flushed the client's close reply; the session is over.
  const auto gone = poll->recv();
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 410);
  ASSERT_TRUE(seen.wait_closes(1));
  EXPECT_EQ(seen.closes[0].code, 4000);
  EXPECT_TRUE(seen.closes[0].clean);
}

// An open decided by upgrade_async keeps its connection (keep-alive) as a synchronous one
// does: the next request on it is served at once, not taken for bytes sent behind the open
// while its decision was pending (which waited for the idle timer).
TEST_F(LongPollingSessions, AsyncOpenKeepsItsConnectionForTheNextRequest) {
  start([](Behavior& behavior) {
    // Posted to the connection's thread, as from any other thread.
    behavior.upgrade_async = [](const UpgradeRequest&, UpgradeResponder responder) {
      responder.accept();
    };
  });
  auto poll = client();
  const auto opened = poll->open();
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->status, 200);
  EXPECT_TRUE(opened->keep_alive);
  const auto sent = poll->send_text("after an async open");  // on the open's connection
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->status, 204);
  ASSERT_TRUE(poll->wait_events(1));
  EXPECT_EQ(text_of(poll->events[0]), "after an async open");
}

// Stopping the server closes a polling session whose client holds a recv with 1001, in a
// closing handshake like a WebSocket's: the recv carries the close frame, the client's reply
// comes back on its kept-alive connection (the listeners are closed by then), and the
// application sees 1001, clean.
TEST_F(LongPollingSessions, ServerShutdownClosesWith1001) {
  start([](Behavior& behavior) { behavior.close_timeout = std::chrono::milliseconds(500); }, 1);
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);  // its connection stays (keep-alive)
  test::HttpTestClient held(running->port());
  ASSERT_TRUE(held.write(poll->head("GET", "/echo?wsx-poll=recv&ack=0",
                                    "Wsx-Session: " + poll->sid + "\r\n", std::nullopt)));
  // One server thread takes requests in the order they arrive: once a later request on another
  // connection is answered, the recv is held.
  test::HttpTestClient later(running->port());
  ASSERT_TRUE(later.request("GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  std::thread stopper([this] { running->stop(); });
  const std::optional<test::HttpAnswer> answer = held.read_answer();
  bool replied = false;
  if (answer && answer->status == 200) {
    poll->connection().close(1001);
    const std::optional<test::HttpAnswer> reply = poll->flush();
    replied = reply && reply->status == 204;
  }
  stopper.join();
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200);
  // The server's close frame: FIN + close, unmasked, code 1001.
  ASSERT_GE(answer->body.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(answer->body[0]), 0x88);
  EXPECT_EQ(static_cast<unsigned char>(answer->body[2]), 0x03);
  EXPECT_EQ(static_cast<unsigned char>(answer->body[3]), 0xe9);
  EXPECT_TRUE(replied);
  ASSERT_TRUE(seen.wait_closes(1));
  EXPECT_EQ(seen.closes[0].code, 1001);
  EXPECT_TRUE(seen.closes[0].clean);
}

// A polling session whose client holds no recv when the server stops (between two polls, the
// usual case for a client that is receiving) is closed with 1001 as well, not dropped: its
// close frame waits for the client's next recv, which still reaches the server on its
// kept-alive connection, and the client's reply closes it cleanly. (Before, the session was
// ended at once: the application saw 1006 and the client's next recv found no session.)
TEST_F(LongPollingSessions, ServerShutdownClosesWith1001WhenNoRecvIsHeld) {
  start(
      [](Behavior& behavior) {
        behavior.close_timeout = std::chrono::seconds(60);
        // However slow this machine is between the stop and the client's next recv.
        behavior.long_polling->stop_grace = std::chrono::seconds(60);
      },
      1);
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  ASSERT_EQ(poll->send_text("hello")->status, 204);
  ASSERT_TRUE(poll->wait_events(1));  // the echo: its recv connection is kept alive, idle
  // A WebSocket on the same (only) server thread: its 1001 shows that the stop has reached the
  // polling session too (one pass over the thread's sessions closes them all).
  test::RawWsClient websocket(running->port());
  ASSERT_TRUE(websocket.handshake({}, "/echo"));
  ASSERT_TRUE(websocket.send("echo me"));  // an echo: open (the 101 precedes the open callback)
  ASSERT_TRUE(websocket.next_message(20s));
  std::jthread stopper([this] { running->stop(); });  // joined on every way out
  const std::optional<test::RecordedEvent> going_away = websocket.next_event(20s);
  ASSERT_TRUE(going_away);
  EXPECT_EQ(going_away->kind, proto::EventKind::close);
  EXPECT_EQ(going_away->close_code, 1001);
  // Now the client polls: the server's close frame, 1001.
  const std::optional<test::HttpAnswer> answer = poll->recv();
  bool replied = false;
  if (answer && answer->status == 200) {
    poll->connection().close(1001);
    const std::optional<test::HttpAnswer> reply = poll->flush();
    replied = reply && reply->status == 204;
    poll->recv({}, 10s);  // 410: the session is over and the client has all of it
  }
  stopper.join();
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200);
  ASSERT_EQ(poll->events.size(), 2u);
  EXPECT_EQ(poll->events[1].kind, proto::EventKind::close);
  EXPECT_EQ(poll->events[1].close_code, 1001);
  EXPECT_TRUE(replied);
  ASSERT_TRUE(seen.wait_closes(2));
  const std::lock_guard lock(seen.mutex);
  for (std::size_t i = 0; i < seen.closes.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(seen.closes[i].code, 1001);
    EXPECT_TRUE(seen.closes[i].clean);
  }
  EXPECT_EQ(std::count(seen.close_transports.begin(), seen.close_transports.end(),
                       Transport::long_polling),
            1);
}

// ... but a client that does not poll again (a closed tab) does not hold the stop for the
// route's close_timeout or the server's shutdown_timeout: with no request within
// LongPolling::stop_grace (500 ms) its session ends as an abandoned one does, 1006.
TEST_F(LongPollingSessions, ServerShutdownDoesNotWaitForAClientThatNoLongerPolls) {
  start([](Behavior& behavior) { behavior.close_timeout = std::chrono::seconds(120); }, 1,
        [](ServerOptions& options) { options.shutdown_timeout = std::chrono::seconds(120); });
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  const auto before = std::chrono::steady_clock::now();
  running->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 60s);  // a bound, far from both timeouts
  ASSERT_TRUE(seen.wait_closes(1));
  EXPECT_EQ(seen.closes[0].code, 1006);
  EXPECT_FALSE(seen.closes[0].clean);
}

// A send body that waits while its session does not read is memory the server holds: it
// counts in ServerOptions::max_buffered_bytes, so that, with the server at its ceiling, other
// sessions' bodies are refused (503).
TEST_F(LongPollingSessions, AWaitingSendBodyCountsInTheMemoryBudget) {
  start(
      [](Behavior& behavior) {
        behavior.max_message_size = 8 * 1024 * 1024;
        behavior.max_backpressure = 64 * 1024;
        behavior.message = [](WebSocket& ws, Message message) {
          // More output than the route's backpressure limit: the session stops reading until
          // its client receives (this one never does).
          if (message.kind == MessageKind::text && message.text() == "fill") {
            ws.send(std::string(100 * 1024, 'f'), MessageKind::binary);
          }
        };
      },
      1,
      [](ServerOptions& options) {
        options.max_buffered_bytes = 2 * 1024 * 1024;
        options.over_budget_timeout = std::chrono::seconds(60);  // no 1013 during the test
      });
  auto stopped = client();
  ASSERT_EQ(stopped->open()->status, 200);
  ASSERT_EQ(stopped->send_text("fill")->status, 204);
  // 3 MiB that the stopped session does not read: the send waits (no answer), its body in memory.
  stopped->connection().send_binary(std::vector<std::uint8_t>(3 * 1024 * 1024, 'b'));
  const std::span<const std::uint8_t> frame = stopped->connection().pending_output();
  test::HttpTestClient waiting_send(running->port());
  ASSERT_TRUE(waiting_send.write(
      stopped->head("POST", "/echo?wsx-poll=send&offset=" + std::to_string(stopped->sent()),
                    "Content-Type: application/x-wsx-poll\r\nWsx-Session: " + stopped->sid + "\r\n",
                    frame.size()) +
      std::string(reinterpret_cast<const char*>(frame.data()), frame.size())));

  auto other = client();
  ASSERT_EQ(other->open()->status, 200);
  std::optional<test::HttpAnswer> refused;
  for (int i = 0; i < 200; ++i) {  // until the body arrived and was counted: 10 s at most
    const std::optional<test::HttpAnswer> answer = other->send_text("x");
    ASSERT_TRUE(answer);
    if (answer->status == 503) {
      refused = answer;
      break;
    }
    ASSERT_EQ(answer->status, 204);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(refused) << "the waiting body was not counted";
  EXPECT_EQ(refused->body, R"({"error":"server memory budget exceeded"})");
}

TEST_F(LongPollingSessions, AbandonedSessionCloses1006AndIsFreed) {
  start([](Behavior& behavior) { behavior.long_polling = LongPolling{500ms, 300ms}; });
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  const std::size_t with_session = server->connections();  // the session and the open's TCP
  ASSERT_TRUE(seen.wait_closes(1));
  EXPECT_EQ(seen.closes[0].code, 1006);
  EXPECT_FALSE(seen.closes[0].clean);
  // The session is gone: its memory freed (the sanitizers see leaks), its count returned, its
  // sid unknown.
  for (int i = 0; i < 500 && server->connections() >= with_session; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server->connections(), with_session - 1);
  const auto later = poll->recv();
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 404);
}

TEST_F(LongPollingSessions, LaterRequestsMustComeFromTheOriginAndWithTheToken) {
  auto tokens = std::make_shared<CsrfTokens>(CsrfTokens::generate());
  start([&](Behavior& behavior) { behavior.csrf = CsrfCheck{tokens, "sid"}; });
  auto poll = client();
  const std::string token = tokens->issue("abc");
  ASSERT_EQ(poll->open("csrf=" + token, "Cookie: sid=abc\r\n")->status, 200);
  const std::string with_token = "Wsx-Csrf: " + token + "\r\n";
  // Right origin and token: served.
  poll->connection().send_text("hi");
  ASSERT_EQ(poll->flush(with_token)->status, 204);
  // Another page's request with the sid: 403, nothing of the session reflected.
  test::PollTestClient foreign(running->port(), "/echo", "Origin: http://evil.example\r\n");
  foreign.sid = poll->sid;
  const auto stolen = foreign.recv(with_token);
  ASSERT_TRUE(stolen);
  EXPECT_EQ(stolen->status, 403);
  EXPECT_EQ(stolen->body.find(poll->sid), std::string::npos);
  const auto missing = poll->recv();
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 403);
  const auto forged = poll->recv("Wsx-Csrf: " + tokens->issue("abc") + "\r\n");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  const auto good = poll->recv(with_token);
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200);
}

TEST_F(LongPollingSessions, WrongContentTypeIs415AndOversizeIs413) {
  start([](Behavior& behavior) { behavior.max_message_size = 16; });
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  test::HttpTestClient raw(running->port());
  const auto form = raw.request(
      poll->head(
          "POST", "/echo?wsx-poll=send&offset=0",
          "Content-Type: application/x-www-form-urlencoded\r\nWsx-Session: " + poll->sid + "\r\n",
          std::size_t{1}) +
      "x");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415);
  const auto big = poll->post(0, std::string(1024 * 1024 + 1, 'x'));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  // A message over the route's limit in allowed bodies: the session closes with 1009.
  poll->connection().send_text(std::string(17, 'y'));
  ASSERT_EQ(poll->flush()->status, 204);
  ASSERT_TRUE(poll->wait_events(1));
  EXPECT_EQ(poll->events[0].kind, proto::EventKind::close);
  EXPECT_EQ(poll->events[0].close_code, 1009);
}

TEST_F(LongPollingSessions, PublishReachesAPollingClient) {
  start();
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  {
    std::unique_lock lock(seen.mutex);
    ASSERT_TRUE(seen.changed.wait_for(lock, 10s, [&] { return seen.open_now.load() == 1; }));
  }
  ASSERT_TRUE(server->publish("news", "extra!"));
  ASSERT_TRUE(poll->wait_events(1));
  EXPECT_EQ(text_of(poll->events[0]), "extra!");
}

TEST_F(LongPollingSessions, AClientThatDoesNotPollMakesTheSessionSeeBackpressure) {
  std::mutex mutex;
  std::vector<SendStatus> statuses;
  std::atomic<int> drains{0};
  int messages = 0;  // server thread
  start([&](Behavior& behavior) {
    // Two messages with their headers: a third is still taken (what waits ahead of it is within
    // the limit), a fourth finds more than the limit waiting.
    behavior.max_backpressure = 1024 * 1024 + 64;
    behavior.backpressure_policy = BackpressurePolicy::refuse;
    behavior.message = [&](WebSocket& ws, Message) {
      // The third message sends twice: the second send comes right behind the third.
      const int sends = ++messages == 3 ? 2 : 1;
      for (int i = 0; i < sends; ++i) {
        const SendStatus status = ws.send(std::string(512 * 1024, 'z'), MessageKind::binary);
        std::lock_guard lock(mutex);
        statuses.push_back(status);
      }
    };
    behavior.drain = [&](WebSocket&) { ++drains; };
  });
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  // Separate requests, no recv: the carrier takes 1 MiB (its window), the rest stays queued in
  // the session; both count as buffered, as behind a socket whose peer does not read. (Over the
  // limit the session stops reading: a fourth send request would wait for its 204.)
  for (int i = 0; i < 3; ++i) {
    const auto sent = poll->send_text("go");
    ASSERT_TRUE(sent);
    ASSERT_EQ(sent->status, 204);
  }
  {
    std::lock_guard lock(mutex);
    // The third fills the carrier's window: "socket full", as write_blocked() on TCP.
    EXPECT_EQ(statuses, (std::vector<SendStatus>{SendStatus::success, SendStatus::success,
                                                 SendStatus::backpressure, SendStatus::dropped}));
  }
  EXPECT_EQ(drains.load(), 0);
  // The client catches up: the three messages arrive, and the application hears drain.
  ASSERT_TRUE(poll->wait_events(3));
  for (const auto& event : poll->events) {
    EXPECT_EQ(event.kind, proto::EventKind::message);
    EXPECT_EQ(event.data.size(), 512u * 1024);
  }
  for (int i = 0; i < 20 && drains.load() == 0; ++i) {
    const auto answer = poll->recv({}, 2s);
    if (!answer || answer->status != 200) break;
  }
  EXPECT_EQ(drains.load(), 1);
}

// A reply larger than max_backpressure but within the carrier's window (1 MiB) pauses the
// session's reading, and the window never fills: the client acknowledging the reply is what
// brings the session back under its limit, and it must then read the next send.
TEST_F(LongPollingSessions, ReadingPausedOverTheLimitResumesOnceTheClientAcknowledges) {
  start([](Behavior& behavior) {
    behavior.max_backpressure = 64 * 1024;
    behavior.long_polling->poll = 200ms;  // a recv with nothing to answer returns soon
    behavior.message = [](WebSocket& ws, Message message) {
      ws.send(message.text() == "big" ? std::string(100 * 1024, 'z') : std::string(message.text()),
              MessageKind::text);
    };
  });
  auto poll = client();
  ASSERT_EQ(poll->open()->status, 200);
  ASSERT_EQ(poll->send_text("big")->status, 204);
  ASSERT_TRUE(poll->wait_events(1));
  ASSERT_EQ(poll->events[0].data.size(), 100u * 1024);
  const auto acknowledged = poll->recv();  // acknowledges the reply: nothing left in flight
  ASSERT_TRUE(acknowledged);
  ASSERT_EQ(acknowledged->status, 200);
  const auto sent = poll->send_text("small");
  ASSERT_TRUE(sent);  // no answer (a timeout) while the session does not read
  EXPECT_EQ(sent->status, 204);
  ASSERT_TRUE(poll->wait_events(2));
  EXPECT_EQ(text_of(poll->events[1]), "small");
}

TEST_F(LongPollingSessions, SessionsCountAgainstTheirClientsAddressLimit) {
  start({}, 2, [](ServerOptions& options) {
    options.address_limits.exempt_loopback = false;
    options.address_limits.max_connections = 3;
  });
  // The first open: its TCP connection and its session, two of three.
  auto first = client();
  ASSERT_EQ(first->open()->status, 200);
  // The second open's TCP connection is the third; its session would be a fourth.
  auto second = client();
  const auto refused = second->open();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->body, R"({"error":"too many connections from this address"})");
  EXPECT_EQ(refused->header("Retry-After"), "5");
}

}  // namespace
}  // namespace wsx
