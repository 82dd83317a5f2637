// Asynchronous upgrade decisions (Behavior::upgrade_async, UpgradeResponder) on a real server
// over loopback: answered later on the server thread or from another thread, refused, answered
// after the client left, the timeout or the stop, forgotten, with frames pipelined behind the
// request. Every wait has a deadline.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RecordedEvent;
using test::RunningServer;

// The responders the server handed out, and what their requests said, for the test thread.
struct Responders {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<UpgradeResponder> held;
  std::vector<std::string> targets;  // copied during the call: the views die with it

  void hold(const UpgradeRequest& request, UpgradeResponder responder) {
    std::lock_guard lock(mutex);
    held.push_back(std::move(responder));
    targets.emplace_back(request.target);
    changed.notify_all();
  }
  bool wait(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return held.size() >= count; });
  }
  // The responder of the first request for `target`, once it came (an empty one if it did not).
  UpgradeResponder take(std::string_view target, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex);
    std::size_t index = 0;
    const auto found = [&] {
      index = std::find(targets.begin(), targets.end(), target) - targets.begin();
      return index < targets.size();
    };
    if (!changed.wait_for(lock, timeout, found)) return {};
    return std::move(held[index]);
  }
  auto holder() {
    return [this](const UpgradeRequest& request, UpgradeResponder responder) {
      hold(request, std::move(responder));
    };
  }
};

// Strings reported from the server threads (messages, opens), in order.
struct Log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> entries;

  void add(std::string entry) {
    std::lock_guard lock(mutex);
    entries.push_back(std::move(entry));
    changed.notify_all();
  }
  bool wait(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return entries.size() >= count; });
  }
};

bool wait_for_no_connections(const Server& server, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (server.connections() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  return server.connections() == 0;
}

std::string upgrade_request(std::string_view target, std::string_view extra = {}) {
  return "GET " + std::string(target) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         std::string(extra) + "\r\n";
}

// A masked client text frame (zero mask key: the payload goes as is).
std::string masked_text(std::string_view payload) {
  std::string frame{'\x81', static_cast<char>(0x80 | payload.size())};
  frame.append(4, '\0');
  frame.append(payload);
  return frame;
}

TEST(UpgradeResponder, AcceptedLaterOnTheServerThread) {
  Responders responders;
  Log log;
  Server server({.threads = 1});
  server.route("/slow",
               {.upgrade_async = responders.holder(), .message = [&](WebSocket& ws, Message msg) {
                  log.add(*ws.data<std::string>() + ":" + std::string(msg.text()) + ":" +
                          std::string(ws.subprotocol()));
                }});
  // Another connection's synchronous decision answers the first one: later, on the same
  // server thread.
  server.route("/release", {.upgrade = [&](const UpgradeRequest&) {
                 UpgradeResponder responder = responders.take("/slow?x=1");
                 EXPECT_TRUE(responder.connection_alive());
                 EXPECT_TRUE(responder.accept("b", std::string("alice"), {{"X-Decided", "later"}}));
                 EXPECT_FALSE(responder.connection_alive());  // answered: nothing left to say
                 EXPECT_FALSE(responder.reject(500));         // exactly once
                 return UpgradeDecision::accept();
               }});
  RunningServer running(server);
  RawWsClient slow(running.port());
  ASSERT_TRUE(
      slow.write_all(proto::ClientHandshake(
                         {.host = "127.0.0.1", .target = "/slow?x=1", .subprotocols = {"a", "b"}})
                         .request()));
  ASSERT_TRUE(responders.wait(1));
  EXPECT_EQ(responders.targets[0], "/slow?x=1");
  EXPECT_TRUE(slow.read_some(50ms).empty());  // no answer while the decision is pending
  RawWsClient release(running.port());
  ASSERT_TRUE(release.handshake({}, "/release"));
  EXPECT_EQ(slow.http_exchange(""), 101);
  EXPECT_NE(slow.response_head().find("Sec-WebSocket-Protocol: b\r\n"), std::string::npos);
  EXPECT_NE(slow.response_head().find("X-Decided: later\r\n"), std::string::npos);
  ASSERT_TRUE(slow.write_all(masked_text("hi")));
  ASSERT_TRUE(log.wait(1));
  EXPECT_EQ(log.entries[0], "alice:hi:b");
}

TEST(UpgradeResponder, AcceptedFromAnotherThreadWithACopyOfTheRequest) {
  std::vector<std::thread> deciders;
  std::mutex deciders_mutex;
  Server server({.threads = 2});
  server.route(
      "/rooms/*",
      {.upgrade_async =
           [&](const UpgradeRequest& request, UpgradeResponder responder) {
             // What the decision needs, copied: the views are gone once this returns.
             std::string room(request.path.substr(7));
             std::string token(request.header("X-Token").value_or(""));
             std::lock_guard lock(deciders_mutex);
             deciders.emplace_back([room, token, responder = std::move(responder)]() mutable {
               if (token != "secret") {
                 EXPECT_TRUE(responder.reject(401, "bad token\n", {{"WWW-Authenticate", "Token"}}));
                 return;
               }
               EXPECT_TRUE(responder.accept({}, room));
             });
           },
       .message = [](WebSocket& ws, Message) { ws.send("room " + *ws.data<std::string>()); }});
  RunningServer running(server);
  for (int i = 0; i < 6; ++i) {
    const std::string room = "r" + std::to_string(i);
    RawWsClient client(running.port());
    ASSERT_TRUE(client.handshake({.extra_headers = {{"X-Token", "secret"}}}, "/rooms/" + room));
    ASSERT_TRUE(client.send("where"));
    std::optional<RecordedEvent> reply = client.next_message();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->text(), "room " + room);
  }
  RawWsClient refused(running.port());
  EXPECT_FALSE(refused.handshake({.extra_headers = {{"X-Token", "guess"}}}, "/rooms/x"));
  EXPECT_EQ(refused.status(), 401);
  EXPECT_NE(refused.response_head().find("WWW-Authenticate: Token\r\n"), std::string::npos);
  EXPECT_NE(refused.response_head().find("\r\n\r\nbad token\n"), std::string::npos);
  EXPECT_TRUE(refused.wait_eof());
  running.stop();
  for (std::thread& decider : deciders) decider.join();
}

TEST(UpgradeResponder, ProtocolAndOriginChecksComeFirst) {
  Responders responders;
  Server server({.threads = 1});
  server.route("/ws", {.upgrade_async = responders.holder(),
                       .origin = OriginPolicy::allow({"https://good.example"})});
  RunningServer running(server);
  {
    RawWsClient client(running.port());
    EXPECT_EQ(client.http_exchange(upgrade_request("/ws", "Origin: https://evil.example\r\n")),
              403);
  }
  {
    RawWsClient client(running.port());
    EXPECT_EQ(client.http_exchange("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"), 426);
  }
  {
    RawWsClient client(running.port());
    EXPECT_EQ(client.http_exchange("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"),
              400);  // no key
  }
  {
    RawWsClient client(running.port());
    EXPECT_EQ(client.http_exchange(upgrade_request("/other")), 404);
  }
  RawWsClient good(running.port());
  ASSERT_TRUE(good.write_all(upgrade_request("/ws", "Origin: https://good.example\r\n")));
  ASSERT_TRUE(responders.wait(1));
  std::lock_guard lock(responders.mutex);
  EXPECT_EQ(responders.held.size(), 1u);  // only the request that passed every check
}

TEST(UpgradeResponder, AnsweringAfterTheClientLeftDoesNothing) {
  Responders responders;
  Server server({.threads = 1});
  server.route("/*", {.upgrade_async = responders.holder()});
  RunningServer running(server);
  {
    RawWsClient client(running.port());
    ASSERT_TRUE(client.write_all(upgrade_request("/") + masked_text("early")));
    ASSERT_TRUE(responders.wait(1));
  }  // the client leaves before the decision
  ASSERT_TRUE(wait_for_no_connections(server));
  UpgradeResponder responder = responders.take("/");
  EXPECT_FALSE(responder.connection_alive());
  EXPECT_FALSE(responder.accept());
  RawWsClient after(running.port());
  ASSERT_TRUE(after.write_all(upgrade_request("/after")));
  std::thread([responder = responders.take("/after")]() mutable {
    EXPECT_TRUE(responder.connection_alive());
    EXPECT_TRUE(responder.accept());
  }).join();
  EXPECT_EQ(after.http_exchange(""), 101);
}

TEST(UpgradeResponder, HandshakeTimeoutAnswers503WhileTheDecisionIsPending) {
  Responders responders;
  std::mutex mutex;
  std::vector<int> statuses;
  Server server(
      {.threads = 1, .handshake_timeout = 200ms, .access_log = [&](const AccessRecord& record) {
         std::lock_guard lock(mutex);
         statuses.push_back(record.status);
       }});
  server.route("/", {.upgrade_async = responders.holder()});
  RunningServer running(server);
  RawWsClient client(running.port());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(client.http_exchange(upgrade_request("/")), 503);
  // The 200 ms timeout, not the default 10 s: room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_NE(client.response_head().find("took too long"), std::string::npos);
  EXPECT_TRUE(client.wait_eof());
  UpgradeResponder responder = responders.take("/");
  EXPECT_FALSE(responder.connection_alive());
  EXPECT_FALSE(responder.accept());
  std::lock_guard lock(mutex);
  EXPECT_EQ(statuses, std::vector<int>{503});
}

TEST(UpgradeResponder, ForgottenResponderRejectsWith500) {
  Server server({.threads = 1, .handshake_timeout = 30s});
  server.route("/now", {.upgrade_async = [](const UpgradeRequest&, UpgradeResponder) {}});
  std::vector<std::thread> forgetters;
  server.route("/later", {.upgrade_async = [&](const UpgradeRequest&, UpgradeResponder responder) {
                 forgetters.emplace_back([responder = std::move(responder)] {});
               }});
  Responders responders;
  server.route("/overwritten", {.upgrade_async = responders.holder()});
  RunningServer running(server);
  for (const char* path : {"/now", "/later"}) {
    RawWsClient client(running.port());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(client.http_exchange(upgrade_request(path)), 500) << path;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);  // long before the timeout
    EXPECT_NE(client.response_head().find("abandoned"), std::string::npos);
    EXPECT_TRUE(client.wait_eof());
  }
  RawWsClient client(running.port());
  ASSERT_TRUE(client.write_all(upgrade_request("/overwritten")));
  UpgradeResponder responder = responders.take("/overwritten");
  EXPECT_TRUE(responder.connection_alive());
  responder = UpgradeResponder();  // assigned over: the pending one is answered first
  EXPECT_EQ(client.http_exchange(""), 500);
  running.stop();
  for (std::thread& forgetter : forgetters) forgetter.join();
}

TEST(UpgradeResponder, FramesPipelinedBehindTheRequestArriveAfterTheAccept) {
  Responders responders;
  Log log;
  Server server({.threads = 1});
  server.route("/*", {.upgrade_async = responders.holder(),
                      .open = [&](WebSocket&) { log.add("open"); },
                      .message =
                          [&](WebSocket& ws, Message msg) {
                            log.add(std::string(msg.text()));
                            ws.send(msg.text());
                          }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.write_all(upgrade_request("/") + masked_text("first")));
  ASSERT_TRUE(responders.wait(1));
  ASSERT_TRUE(client.write_all(masked_text("second")));  // a later read, still pending
  // The server reads "second" (queued on loopback before the probe connects) no later than
  // the probe's request, so in the iteration that runs the probe's callback at the latest;
  // the accept posted after that callback is applied after it.
  RawWsClient probe(running.port());
  ASSERT_TRUE(probe.write_all(upgrade_request("/probe")));
  UpgradeResponder probe_responder = responders.take("/probe");
  {
    std::lock_guard lock(log.mutex);
    EXPECT_TRUE(log.entries.empty());  // nothing opens before the decision
  }
  std::thread([responder = responders.take("/")]() mutable {
    EXPECT_TRUE(responder.accept());
  }).join();
  EXPECT_EQ(client.http_exchange(""), 101);
  ASSERT_TRUE(log.wait(3));
  std::lock_guard lock(log.mutex);
  EXPECT_EQ(log.entries, (std::vector<std::string>{"open", "first", "second"}));
}

TEST(UpgradeResponder, TooMuchEarlyDataDropsTheConnection) {
  Responders responders;
  Server server({.threads = 1, .max_early_data = 1000});
  server.route("/*", {.upgrade_async = responders.holder()});
  RunningServer running(server);
  {
    RawWsClient client(running.port());  // over the limit at once
    ASSERT_TRUE(client.write_all(upgrade_request("/first") + std::string(1001, 'x')));
    EXPECT_EQ(client.http_exchange(""), 0);  // dropped, never answered
    EXPECT_TRUE(client.eof());
  }
  RawWsClient client(running.port());  // within the limit, then over it in a later read
  ASSERT_TRUE(client.write_all(upgrade_request("/second") + std::string(600, 'x')));
  UpgradeResponder responder = responders.take("/second");
  EXPECT_TRUE(responder.connection_alive());
  (void)client.write_all(std::string(600, 'x'));  // the server may already have closed
  EXPECT_EQ(client.http_exchange(""), 0);         // dropped, never answered
  EXPECT_TRUE(client.eof());
  ASSERT_TRUE(wait_for_no_connections(server));
  EXPECT_FALSE(responder.connection_alive());
  EXPECT_FALSE(responder.accept());
}

TEST(UpgradeResponder, AnsweringAfterTheServerStoppedDoesNothing) {
  Responders responders;
  UpgradeResponder survivor;
  {
    Server server({.threads = 1});
    server.route("/", {.upgrade_async = responders.holder()});
    RunningServer running(server);
    RawWsClient client(running.port());
    ASSERT_TRUE(client.write_all(upgrade_request("/")));
    survivor = responders.take("/");
    EXPECT_TRUE(survivor.connection_alive());
    running.stop();  // drops the pending handshake
    EXPECT_TRUE(client.wait_eof());
    EXPECT_FALSE(survivor.connection_alive());
  }
  EXPECT_FALSE(survivor.accept());  // the server and its loop are gone
}

TEST(UpgradeResponder, SettingBothUpgradeCallbacksIsAnError) {
  Server server({.threads = 1});
  Behavior both;
  both.upgrade = [](const UpgradeRequest&) { return UpgradeDecision::accept(); };
  both.upgrade_async = [](const UpgradeRequest&, UpgradeResponder) {};
  EXPECT_THROW(server.route("/", both), std::invalid_argument);
  EXPECT_NO_THROW(server.route("/sync", {.upgrade = both.upgrade}));
  EXPECT_NO_THROW(server.route("/async", {.upgrade_async = both.upgrade_async}));
}

TEST(UpgradeResponder, EmptyResponderAnswersNothing) {
  UpgradeResponder empty;
  EXPECT_FALSE(empty.connection_alive());
  EXPECT_FALSE(empty.accept());
  EXPECT_FALSE(empty.reject(400));
}

}  // namespace
}  // namespace wsx
