// The server end to end: a real Server on loopback, driven by a raw client built from the
// protocol core. Every read has a timeout and every server is stopped by its fixture.
#include "wsx/server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "tcp_buffer_ceiling.hpp"
#include "test_certs.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RecordedEvent;
using test::RunningServer;

std::vector<std::uint8_t> pattern(std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(i * 31 + 7);
  return bytes;
}

Behavior echo_behavior() {
  return {.message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); }};
}

// Collects close callbacks from the server threads.
struct CloseLog {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<CloseInfo> closes;
  std::vector<std::string> reasons;

  void add(const CloseInfo& info) {
    std::lock_guard lock(mutex);
    closes.push_back(info);
    reasons.emplace_back(info.reason);
    changed.notify_all();
  }
  bool wait(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return closes.size() >= count; });
  }
};

TEST(Server, EchoesTextAndBinaryOfEverySize) {
  Server server({.threads = 1});
  server.route("/echo", echo_behavior());
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/echo"));
  for (std::size_t size : {0u, 125u, 126u, 65535u, 65536u, 16u * 1024 * 1024}) {
    const std::vector<std::uint8_t> payload = pattern(size);
    ASSERT_TRUE(client.send(payload, proto::MessageKind::binary));
    // 16 MiB each way under ASan: seconds alone, tens of seconds on a loaded machine (10 s
    // failed at load 20).
    std::optional<RecordedEvent> echo = client.next_message(60s);
    ASSERT_TRUE(echo) << size;
    EXPECT_EQ(echo->message_kind, proto::MessageKind::binary);
    EXPECT_EQ(echo->data, payload) << size;
    const std::string text(size > 70000 ? 70000 : size, 'x');
    ASSERT_TRUE(client.send(text));
    echo = client.next_message();
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->message_kind, proto::MessageKind::text);
    EXPECT_EQ(echo->text(), text);
  }
}

TEST(Server, FragmentedMessageIsEchoedWhole) {
  Server server({.threads = 1});
  server.route("/*", echo_behavior());
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/any/path"));
  const std::string a = "Hello, ", b = "fragmented ", c = "world";
  auto bytes = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  ASSERT_TRUE(client.send_fragment(bytes(a), proto::MessageKind::text, false));
  ASSERT_TRUE(client.ping("in between"));
  ASSERT_TRUE(client.send_fragment(bytes(b), proto::MessageKind::text, false));
  ASSERT_TRUE(client.send_fragment(bytes(c), proto::MessageKind::text, true));
  std::optional<RecordedEvent> pong = client.next_event();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->kind, proto::EventKind::pong);
  EXPECT_EQ(pong->text(), "in between");
  std::optional<RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->text(), a + b + c);
}

TEST(Server, PingIsAnsweredAndReported) {
  std::atomic<int> pings{0};
  Server server({.threads = 1});
  server.route("/", {.ping = [&](WebSocket&, std::span<const std::uint8_t>) { ++pings; }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.ping("abc"));
  std::optional<RecordedEvent> pong = client.next_event();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->kind, proto::EventKind::pong);
  EXPECT_EQ(pong->text(), "abc");
  EXPECT_EQ(pings.load(), 1);
}

TEST(Server, ClientCloseIsEchoedAndReportedClean) {
  CloseLog log;
  Server server({.threads = 1});
  server.route("/", {.close = [&](WebSocket&, const CloseInfo& info) { log.add(info); }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.close(4000, "bye"));
  std::optional<RecordedEvent> reply = client.next_event();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->kind, proto::EventKind::close);
  EXPECT_EQ(reply->close_code, 4000);
  EXPECT_TRUE(client.wait_eof());  // the server closes TCP first
  ASSERT_TRUE(log.wait(1));
  EXPECT_EQ(log.closes[0].code, 4000);
  EXPECT_EQ(log.reasons[0], "bye");
  EXPECT_TRUE(log.closes[0].clean);
}

TEST(Server, ServerCloseCarriesCodeAndReason) {
  CloseLog log;
  Server server({.threads = 1});
  server.route("/", {.message = [](WebSocket& ws, Message) { ws.close(4001, "done"); },
                     .close = [&](WebSocket&, const CloseInfo& info) { log.add(info); }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.send("close me"));
  std::optional<RecordedEvent> close = client.next_event();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind, proto::EventKind::close);
  EXPECT_EQ(close->close_code, 4001);
  EXPECT_EQ(close->close_reason, "done");
  ASSERT_TRUE(client.flush());  // our reply
  EXPECT_TRUE(client.wait_eof());
  ASSERT_TRUE(log.wait(1));
  EXPECT_EQ(log.closes[0].code, 4001);  // the peer's echo
  EXPECT_TRUE(log.closes[0].clean);
}

TEST(Server, ProtocolViolationClosesWith1002AndIsNotClean) {
  CloseLog log;
  Server server({.threads = 1});
  server.route("/", {.close = [&](WebSocket&, const CloseInfo& info) { log.add(info); }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  const std::uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};  // clients must mask
  ASSERT_TRUE(client.write_all(unmasked));
  std::optional<RecordedEvent> close = client.next_event();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->close_code, 1002);
  ASSERT_TRUE(log.wait(1));
  EXPECT_EQ(log.closes[0].code, 1002);
  EXPECT_FALSE(log.closes[0].clean);
}

TEST(Server, ChoosesSubprotocolByPreferenceOrDecision) {
  Server server({.threads = 1});
  server.route("/pref", {.subprotocols = {"v2.chat", "v1.chat"}});
  server.route("/decide", {.upgrade = [](const UpgradeRequest& request) {
                 EXPECT_EQ(request.subprotocols.size(), 2u);
                 return UpgradeDecision::accept(std::string(request.subprotocols[1]));
               }});
  RunningServer running(server);
  RawWsClient a(running.port());
  ASSERT_TRUE(a.handshake({.subprotocols = {"v1.chat", "v2.chat"}}, "/pref"));
  EXPECT_EQ(a.handshake_result().subprotocol, "v2.chat");
  RawWsClient b(running.port());
  ASSERT_TRUE(b.handshake({.subprotocols = {"x", "y"}}, "/decide"));
  EXPECT_EQ(b.handshake_result().subprotocol, "y");
  RawWsClient c(running.port());
  ASSERT_TRUE(c.handshake({.subprotocols = {"other"}}, "/pref"));
  EXPECT_FALSE(c.handshake_result().subprotocol);
}

TEST(Server, UpgradeDecisionSeesRequestAndSetsUserData) {
  Server server({.threads = 1});
  server.route("/rooms/*",
               {.upgrade =
                    [](const UpgradeRequest& request) {
                      EXPECT_EQ(request.method, "GET");
                      EXPECT_EQ(request.query, "token=abc");
                      EXPECT_EQ(request.header("X-Extra"), "yes");
                      EXPECT_TRUE(request.remote_address.starts_with("127.0.0.1:"));
                      if (request.path != "/rooms/blue") {
                        return UpgradeDecision::reject(401, "no", {{"WWW-Authenticate", "Token"}});
                      }
                      return UpgradeDecision::accept({}, std::string("blue"));
                    },
                .message = [](WebSocket& ws, Message) { ws.send(*ws.data<std::string>()); }});
  RunningServer running(server);
  RawWsClient ok(running.port());
  ASSERT_TRUE(ok.handshake({.extra_headers = {{"X-Extra", "yes"}}}, "/rooms/blue?token=abc"));
  ASSERT_TRUE(ok.send("who am i"));
  std::optional<RecordedEvent> reply = ok.next_message();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->text(), "blue");
  RawWsClient refused(running.port());
  EXPECT_FALSE(refused.handshake({.extra_headers = {{"X-Extra", "yes"}}}, "/rooms/red?token=abc"));
  EXPECT_EQ(refused.status(), 401);
  EXPECT_NE(refused.response_head().find("WWW-Authenticate: Token"), std::string::npos);
  EXPECT_NE(refused.response_head().find("\r\n\r\nno"), std::string::npos);
}

TEST(Server, OriginPolicies) {
  Server server({.threads = 1});
  server.route("/list", {.origin = OriginPolicy::allow({"https://good.example"})});
  server.route("/same", {.origin = OriginPolicy::same_origin()});
  server.route("/any", {.origin = OriginPolicy::allow_any()});
  server.route("/default", {});
  server.route("/strict", {.origin = OriginPolicy::allow({"https://good.example"}, true)});
  RunningServer running(server);
  auto status = [&](std::string path, std::optional<std::string> origin,
                    std::string host = "127.0.0.1") {
    RawWsClient client(running.port());
    client.handshake({.host = host, .origin = origin}, path);
    return client.status();
  };
  EXPECT_EQ(status("/list", "https://good.example"), 101);
  EXPECT_EQ(status("/list", "https://GOOD.example"), 101);
  EXPECT_EQ(status("/list", "https://evil.example"), 403);
  EXPECT_EQ(status("/list", std::nullopt), 101);  // not a browser
  EXPECT_EQ(status("/strict", std::nullopt), 403);
  EXPECT_EQ(status("/same", "http://app.example:8080", "app.example"), 403);
  EXPECT_EQ(status("/same", "https://app.example", "app.example"), 101);
  EXPECT_EQ(status("/same", "https://other.example", "app.example"), 403);
  EXPECT_EQ(status("/same", "null", "app.example"), 403);
  EXPECT_EQ(status("/any", "https://evil.example"), 101);
  // Secure by default: a route that says nothing is same-origin.
  EXPECT_EQ(status("/default", "https://evil.example", "app.example"), 403);
  EXPECT_EQ(status("/default", "https://app.example", "app.example"), 101);
  EXPECT_EQ(status("/default", std::nullopt, "app.example"), 101);
}

TEST(Server, HttpErrors404And426And431And400) {
  Server server({.threads = 1, .max_head_size = 1024});
  server.route("/ws", {});
  RunningServer running(server);
  {
    RawWsClient client(running.port());
    EXPECT_EQ(client.http_exchange("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
  }
  {
    RawWsClient client(running.port());
    EXPECT_EQ(client.http_exchange("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"), 426);
    EXPECT_NE(client.response_head().find("Sec-WebSocket-Version: 13"), std::string::npos);
  }
  {
    RawWsClient client(running.port());
    const std::string big =
        "GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
    EXPECT_EQ(client.http_exchange(big), 431);
  }
  {
    RawWsClient client(running.port());
    EXPECT_EQ(client.http_exchange("GARBAGE\r\n\r\n"), 400);
  }
  {
    RawWsClient client(running.port());
    EXPECT_EQ(client.http_exchange("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"),
              400);  // no key
  }
}

TEST(Server, OverTheConnectionLimitGets503) {
  Server server({.threads = 1, .max_connections = 2});
  server.route("/", {});
  RunningServer running(server);
  RawWsClient a(running.port()), b(running.port());
  ASSERT_TRUE(a.handshake());
  ASSERT_TRUE(b.handshake());
  RawWsClient c(running.port());
  // The server meets it once its request is there (ServerOptions::defer_accept).
  EXPECT_EQ(c.http_exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 503);
  EXPECT_TRUE(c.wait_eof());
  EXPECT_TRUE(a.send("the first two still work"));
}

// ---- ServerOptions::defer_accept (TCP_DEFER_ACCEPT)

// TCP_DEFER_ACCEPT of each socket of this process listening on `port` (one per server thread):
// the server does not show its listeners, the kernel does.
std::vector<int> listeners_defer_accept(std::uint16_t port) {
  std::vector<int> values;
  for (int fd = 0; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t length = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || !listening) {
      continue;
    }
    sockaddr_in address{};
    length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        address.sin_family != AF_INET || ntohs(address.sin_port) != port) {
      continue;
    }
    int value = -1;
    length = sizeof value;
    ::getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &value, &length);
    values.push_back(value);
  }
  return values;
}

TEST(ServerDeferAccept, EveryListenerDefersAcceptByDefault) {
  Server server({.threads = 2});
  server.route("/", {});
  RunningServer running(server);
  EXPECT_EQ(listeners_defer_accept(running.port()), (std::vector<int>{1, 1}));
  RawWsClient client(running.port());
  EXPECT_TRUE(client.handshake());  // the request read at accept
  EXPECT_TRUE(client.send("after"));
}

TEST(ServerDeferAccept, ZeroLeavesTheListenersAsBefore) {
  Server server({.threads = 1, .max_connections = 1, .defer_accept = 0s});
  server.route("/", {});
  RunningServer running(server);
  EXPECT_EQ(listeners_defer_accept(running.port()), std::vector<int>{0});
  RawWsClient a(running.port());
  ASSERT_TRUE(a.handshake());
  RawWsClient b(running.port());
  EXPECT_EQ(b.http_exchange(""), 503);  // accepted at once: answered before any request
  EXPECT_TRUE(b.wait_eof());
}

// The kernel hands a silent client over when the period ends (see DeferAccept in
// tests/unit/io/listener_test.cpp); the handshake timeout then drops it.
TEST(ServerDeferAccept, ASilentClientIsDroppedWithinThePeriodAndTheHandshakeTimeout) {
  std::atomic<int> logged{0};
  Server server({.threads = 1,
                 .handshake_timeout = 200ms,
                 .defer_accept = 1s,
                 .access_log = [&](const AccessRecord&) { ++logged; }});
  server.route("/", {});
  const auto start = std::chrono::steady_clock::now();
  RunningServer running(server);
  RawWsClient client(running.port());
  EXPECT_TRUE(client.wait_eof(15s));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(client.read_some(10ms).empty());  // no answer, just dropped
  EXPECT_GE(elapsed, 1s);                       // held by the kernel for the period first
  EXPECT_LT(elapsed, 10s);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server.connections() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server.connections(), 0u);
  EXPECT_EQ(logged.load(), 0);  // nothing was answered
}

// The first segment brings the connection in; the rest of the head arrives in later reads.
TEST(ServerDeferAccept, ARequestSplitAcrossSegmentsIsAnswered) {
  Server server({.threads = 1});
  server.route("/", {});
  RunningServer running(server);
  RawWsClient client(running.port());
  const int no_delay = 1;  // each write its own segment
  ASSERT_EQ(::setsockopt(client.fd(), IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof no_delay), 0);
  const std::string pieces[] = {
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", "Upgrade: websocket\r\nConnection: Upgrade\r\n",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "Sec-WebSocket-Version: 13\r\n", "\r\n"};
  for (const std::string& piece : pieces) {
    EXPECT_TRUE(client.read_some(30ms).empty());  // no answer to a part
    ASSERT_TRUE(client.write_all(piece));
  }
  EXPECT_EQ(client.http_exchange(""), 101);
}

// max_connections is checked when the kernel hands the connection over, i.e. once the request
// is there: still a 503, logged, and the counts stay right.
TEST(ServerDeferAccept, OverTheConnectionLimitTheRequestGets503) {
  std::mutex mutex;
  std::vector<int> statuses;
  Server server({.threads = 1,
                 .max_connections = 1,
                 .defer_accept = 1s,
                 .access_log = [&](const AccessRecord& record) {
                   const std::lock_guard lock(mutex);
                   statuses.push_back(record.status);
                 }});
  server.route("/", {});
  RunningServer running(server);
  auto a = std::make_unique<RawWsClient>(running.port());
  ASSERT_TRUE(a->handshake());
  EXPECT_EQ(server.connections(), 1u);
  RawWsClient b(running.port());
  EXPECT_EQ(b.http_exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 503);
  EXPECT_TRUE(b.wait_eof());
  b.close_socket();  // the refused connection is counted until its lingering close ends
  a.reset();         // gives its place back
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server.connections() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server.connections(), 0u);
  RawWsClient c(running.port());
  EXPECT_TRUE(c.handshake());
  const auto logged = [&] {  // the record may follow the answer
    const std::lock_guard lock(mutex);
    return statuses.size();
  };
  while (logged() < 3 && std::chrono::steady_clock::now() < deadline + 10s) {
    std::this_thread::sleep_for(10ms);
  }
  const std::lock_guard lock(mutex);
  EXPECT_EQ(statuses, (std::vector<int>{101, 503, 101}));
}

TEST(Server, UnfinishedHandshakeIsDropped) {
  Server server({.threads = 1, .handshake_timeout = 200ms});
  server.route("/", {});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.write_all("GET / HTTP/1.1\r\nHost: x\r\n"));  // never finished
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.wait_eof(20s));
  EXPECT_TRUE(client.read_some(10ms).empty());  // no answer, just dropped
  // The 200 ms timeout, not the default 10 s: room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Server, IdleConnectionIsPingedThenClosedWith1001) {
  CloseLog log;
  Server server({.threads = 1});
  server.route("/", {.idle_timeout = 200ms,
                     .idle_ping_wait = 200ms,
                     .close = [&](WebSocket&, const CloseInfo& info) { log.add(info); }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  // Read raw frames without answering: a dead peer.
  std::vector<std::uint8_t> seen;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && seen.size() < 2 + 2 + 14) {
    std::vector<std::uint8_t> bytes = client.read_some(100ms);
    seen.insert(seen.end(), bytes.begin(), bytes.end());
    if (client.eof()) break;
  }
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(seen[0], 0x89);  // ping first
  EXPECT_EQ(seen[1], 0x00);
  EXPECT_EQ(seen[2], 0x88);  // then close
  EXPECT_EQ((seen[4] << 8) | seen[5], 1001);
}

TEST(Server, IdleConnectionThatAnswersPingsStaysOpen) {
  std::atomic<int> pongs{0};
  Server server({.threads = 1});
  // A ping every 150 ms of silence; the answer may take up to 1.5 s (a loaded machine can keep
  // the test's thread from running for a few hundred ms). Without the answers the close would
  // come 1.65 s after the handshake, within the 2 s watched.
  server.route("/", {.idle_timeout = 150ms,
                     .idle_ping_wait = 1500ms,
                     .pong = [&](WebSocket&, std::span<const std::uint8_t>) { ++pongs; }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  // next_event answers pings automatically; no close may come.
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<RecordedEvent> event = client.next_event(100ms);
    if (event) {
      EXPECT_NE(event->kind, proto::EventKind::close);
    }
  }
  EXPECT_GE(pongs.load(), 2);
  ASSERT_TRUE(client.send("still here"));
}

// A server that floods a client which does not read.
struct FloodResult {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<SendStatus> statuses;
  std::size_t max_buffered = 0;
  bool flooded = false;  // the open callback has returned
  std::atomic<int> drains{0};
  // Waits for the open callback to finish: it runs after the 101 reached the client.
  bool wait_flooded() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return flooded; });
  }
};

TEST(Server, BackpressureRefusePolicyDropsAndDrains) {
  FloodResult result;
  const std::vector<std::uint8_t> chunk = pattern(256 * 1024);
  Server server({.threads = 1});
  server.route("/", {.max_backpressure = 1024 * 1024,
                     .backpressure_policy = BackpressurePolicy::refuse,
                     .open =
                         [&](WebSocket& ws) {
                           for (int i = 0; i < 200; ++i) {
                             const SendStatus status = ws.send(chunk);
                             std::lock_guard lock(result.mutex);
                             result.statuses.push_back(status);
                             result.max_buffered =
                                 std::max(result.max_buffered, ws.buffered_amount());
                             if (status == SendStatus::dropped) break;
                           }
                           std::lock_guard lock(result.mutex);
                           result.flooded = true;
                           result.changed.notify_all();
                         },
                     .drain =
                         [&](WebSocket& ws) {
                           ++result.drains;
                           ws.send("drained");
                         }});
  RunningServer running(server);
  RawWsClient client(running.port(), false, 4096);
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(result.wait_flooded());  // the server has hit the limit
  {
    std::lock_guard lock(result.mutex);
    ASSERT_FALSE(result.statuses.empty());
    EXPECT_EQ(result.statuses.back(), SendStatus::dropped);
    EXPECT_LE(result.max_buffered, 1024u * 1024 + chunk.size() + 16);
  }
  // Now read everything: the queue drains, the drain callback sends its message.
  int binaries = 0;
  for (;;) {
    std::optional<RecordedEvent> event = client.next_message(5s);
    ASSERT_TRUE(event);
    if (event->message_kind == proto::MessageKind::text) {
      EXPECT_EQ(event->text(), "drained");
      break;
    }
    ++binaries;
  }
  // Every send accepted arrives, the refused one does not. (How many were accepted depends on
  // what the kernel's socket buffer took besides the 1 MiB queued: the 101 leaves at once, so
  // the sends of `open` find the socket free, as later ones do.)
  std::size_t accepted = 0;
  {
    std::lock_guard lock(result.mutex);
    accepted = result.statuses.size() - 1;
  }
  // Sends are taken until more than the limit waits (the message being sent does not count):
  // 4 × (256 KiB + header) at least.
  EXPECT_GE(accepted, 4u);
  EXPECT_EQ(static_cast<std::size_t>(binaries), accepted);
  EXPECT_EQ(result.drains.load(), 1);
}

TEST(Server, BackpressureClosePolicyClosesWith1008) {
  FloodResult result;
  CloseLog log;
  const std::vector<std::uint8_t> chunk = pattern(256 * 1024);
  Server server({.threads = 1});
  server.route("/",
               {.close_timeout = 200ms,
                .max_backpressure = 1024 * 1024,
                .backpressure_policy = BackpressurePolicy::close,
                .open =
                    [&](WebSocket& ws) {
                      for (int i = 0; i < 200; ++i) {
                        const SendStatus status = ws.send(chunk);
                        std::lock_guard lock(result.mutex);
                        result.statuses.push_back(status);
                        if (status != SendStatus::success && status != SendStatus::backpressure) {
                          break;
                        }
                      }
                      std::lock_guard lock(result.mutex);
                      result.statuses.push_back(ws.send("after"));
                    },
                .close = [&](WebSocket&, const CloseInfo& info) { log.add(info); }});
  RunningServer running(server);
  RawWsClient client(running.port(), false, 4096);
  ASSERT_TRUE(client.handshake());
  // The client never reads: the close handshake cannot finish and times out.
  ASSERT_TRUE(log.wait(1, 20s));
  EXPECT_EQ(log.closes[0].code, 1006);
  EXPECT_FALSE(log.closes[0].clean);
  std::lock_guard lock(result.mutex);
  ASSERT_GE(result.statuses.size(), 2u);
  EXPECT_EQ(result.statuses[result.statuses.size() - 2], SendStatus::closed);
  EXPECT_EQ(result.statuses.back(), SendStatus::closed);
}

TEST(Server, BackpressureClosePolicySends1008ToAReaderThatCatchesUp) {
  const std::vector<std::uint8_t> chunk = pattern(256 * 1024);
  Server server({.threads = 1});
  server.route("/", {.max_backpressure = 512 * 1024,
                     .backpressure_policy = BackpressurePolicy::close,
                     .open = [&](WebSocket& ws) {
                       while (ws.send(chunk) != SendStatus::closed) {
                       }
                     }});
  RunningServer running(server);
  RawWsClient client(running.port(), false, 4096);
  ASSERT_TRUE(client.handshake());
  std::this_thread::sleep_for(100ms);
  for (;;) {
    std::optional<RecordedEvent> event = client.next_event(5s);
    ASSERT_TRUE(event);
    if (event->kind == proto::EventKind::close) {
      EXPECT_EQ(event->close_code, 1008);
      break;
    }
  }
}

TEST(Server, GracefulShutdownSends1001AndRunReturns) {
  CloseLog log;
  Server server({.threads = 2, .shutdown_timeout = 3s});
  server.route("/", {.close = [&](WebSocket&, const CloseInfo& info) { log.add(info); }});
  RunningServer running(server);
  RawWsClient a(running.port()), b(running.port());
  ASSERT_TRUE(a.handshake());
  ASSERT_TRUE(b.handshake());
  std::thread stopper([&] { server.stop(); });
  for (RawWsClient* client : {&a, &b}) {
    std::optional<RecordedEvent> close = client->next_event();
    ASSERT_TRUE(close);
    EXPECT_EQ(close->kind, proto::EventKind::close);
    EXPECT_EQ(close->close_code, 1001);
    client->flush();
    EXPECT_TRUE(client->wait_eof());  // the server closes TCP first; then the client does
    client->close_socket();
  }
  stopper.join();
  running.stop();
  EXPECT_TRUE(running.returned());
  ASSERT_TRUE(log.wait(2));
  EXPECT_TRUE(log.closes[0].clean);
  EXPECT_EQ(server.connections(), 0u);
}

TEST(Server, ShutdownDropsPeersThatDoNotAnswer) {
  Server server({.threads = 1, .shutdown_timeout = 200ms});
  Behavior behavior;
  behavior.close_timeout = 60s;  // what the stop must not wait for
  server.route("/", behavior);
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  const auto start = std::chrono::steady_clock::now();
  running.stop();  // the client never answers the 1001
  // The 200 ms shutdown timeout, not the 60 s close timeout: room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  EXPECT_TRUE(client.wait_eof(10s));
}

TEST(Server, SecureWebSocketWithTestCertificates) {
  const test::TestPki& pki = test::test_pki();
  Server server({.threads = 1,
                 .tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                         .private_key_file = pki.server_key}});
  ASSERT_EQ(server.tls_error(), "");
  server.route("/", echo_behavior());
  RunningServer running(server);
  io::TlsClientOptions tls_options;
  tls_options.ca_file = pki.ca_certificate;
  tls_options.use_system_ca = false;
  const io::TlsContext context = io::TlsContext::client(tls_options);
  RawWsClient client(running.port());
  client.use_tls(context, "localhost");
  ASSERT_TRUE(client.handshake({.host = "localhost", .secure = true}));
  const std::vector<std::uint8_t> payload = pattern(300000);
  ASSERT_TRUE(client.send(payload, proto::MessageKind::binary));
  std::optional<RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data, payload);
}

TEST(Server, BadCertificateFileIsReported) {
  Server server({.threads = 1, .tls = ServerTlsOptions{"/nonexistent.pem", "/nonexistent.key"}});
  EXPECT_NE(server.tls_error(), "");
  EXPECT_TRUE(server.listen("127.0.0.1", 0));
}

TEST(Server, DeflateIsNegotiatedAndMessagesRoundTrip) {
  Server server({.threads = 1});
  Behavior behavior = echo_behavior();
  behavior.deflate = proto::DeflateServerOptions{};
  server.route("/", behavior);
  server.route("/plain", echo_behavior());
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({.deflate = proto::DeflateClientOptions{}}));
  ASSERT_TRUE(client.handshake_result().deflate);
  for (int i = 0; i < 5; ++i) {
    const std::string text = "compress me " + std::string(2000, static_cast<char>('a' + i));
    ASSERT_TRUE(client.send(text));
    std::optional<RecordedEvent> echo = client.next_message();
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->text(), text);
  }
  RawWsClient plain(running.port());
  ASSERT_TRUE(plain.handshake({.deflate = proto::DeflateClientOptions{}}, "/plain"));
  EXPECT_FALSE(plain.handshake_result().deflate);  // that route declines
}

TEST(Server, ManyThreadsServeManyClients) {
  std::mutex mutex;
  std::set<std::thread::id> threads_seen;
  Server server({.threads = 2});
  server.route("/", {.message = [&](WebSocket& ws, Message msg) {
                 {
                   std::lock_guard lock(mutex);
                   threads_seen.insert(std::this_thread::get_id());
                 }
                 ws.send(msg.data, msg.kind);
               }});
  EXPECT_EQ(server.threads(), 2u);
  RunningServer running(server);
  std::vector<std::unique_ptr<RawWsClient>> clients;
  for (int i = 0; i < 16; ++i) {
    clients.push_back(std::make_unique<RawWsClient>(running.port(), i % 2 == 1));
    ASSERT_TRUE(clients.back()->connected() || i % 2 == 1);
  }
  for (auto& client : clients) {
    if (!client->connected()) continue;  // ::1 may be missing; IPv4 covers the rest
    ASSERT_TRUE(client->handshake());
    ASSERT_TRUE(client->send("hello"));
  }
  for (auto& client : clients) {
    if (!client->connected()) continue;
    std::optional<RecordedEvent> echo = client->next_message();
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->text(), "hello");
  }
  std::lock_guard lock(mutex);
  EXPECT_GE(threads_seen.size(), 1u);
}

TEST(Server, TopicsBroadcastToEverySubscriberOnEveryThread) {
  std::atomic<int> opened{0};
  Server server({.threads = 2});
  server.route("/room", {.open =
                             [&](WebSocket& ws) {
                               EXPECT_TRUE(ws.subscribe("room"));
                               EXPECT_FALSE(ws.subscribe("room"));
                               EXPECT_TRUE(ws.subscribed("room"));
                               ++opened;
                             },
                         .message =
                             [](WebSocket& ws, Message msg) {
                               ws.publish("room", msg.data,
                                          msg.kind);  // to everyone but the sender
                             }});
  RunningServer running(server);
  std::vector<std::unique_ptr<RawWsClient>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<RawWsClient>(running.port()));
    ASSERT_TRUE(clients.back()->handshake({}, "/room"));
  }
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (opened.load() < 6 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(opened.load(), 6);
  EXPECT_TRUE(server.publish("room", "from the server"));
  for (auto& client : clients) {
    std::optional<RecordedEvent> message = client->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->text(), "from the server");
  }
  ASSERT_TRUE(clients[0]->send("from client 0"));
  for (std::size_t i = 1; i < clients.size(); ++i) {
    std::optional<RecordedEvent> message = clients[i]->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->text(), "from client 0");
  }
  EXPECT_FALSE(clients[0]->next_message(200ms));  // the sender is excluded
}

TEST(Server, SendFromAnotherThreadThroughAHandle) {
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<WebSocketHandle> handle;
  CloseLog log;
  Server server({.threads = 1});
  server.route("/", {.open =
                         [&](WebSocket& ws) {
                           std::lock_guard lock(mutex);
                           handle = ws.handle();
                           changed.notify_all();
                         },
                     .close = [&](WebSocket&, const CloseInfo& info) { log.add(info); }});
  RunningServer running(server);
  {
    RawWsClient client(running.port());
    ASSERT_TRUE(client.handshake());
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 5s, [&] { return handle.has_value(); }));
    WebSocketHandle copy = *handle;
    lock.unlock();
    std::thread sender([copy]() mutable { EXPECT_TRUE(copy.send("from a thread")); });
    sender.join();
    std::optional<RecordedEvent> message = client.next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->text(), "from a thread");
    std::atomic<bool> ran{false};
    EXPECT_TRUE(copy.post([&](WebSocket& ws) {
      ran = true;
      ws.close(4002, "bye");
    }));
    std::optional<RecordedEvent> close = client.next_event();
    ASSERT_TRUE(close);
    EXPECT_EQ(close->close_code, 4002);
    EXPECT_TRUE(ran.load());
    client.flush();
    EXPECT_TRUE(client.wait_eof());
  }
  ASSERT_TRUE(log.wait(1));
  // The connection is gone: work for it is dropped, nothing crashes.
  std::atomic<bool> ran_after{false};
  EXPECT_TRUE(handle->post([&](WebSocket&) { ran_after = true; }));
  EXPECT_TRUE(handle->send("nobody"));
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(ran_after.load());
}

// Once run() has returned no loop runs again: a publish or a handle's send must not queue work
// that only the server's destruction would free (a publisher outliving run() would grow without
// bound). Each returns false and keeps nothing.
TEST(Server, PublishAndHandleSendsAfterRunReturnedKeepNothing) {
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<WebSocketHandle> handle;
  Server server({.threads = 2});
  server.route("/", {.open = [&](WebSocket& ws) {
                 ws.subscribe("news");
                 std::lock_guard lock(mutex);
                 handle = ws.handle();
                 changed.notify_all();
               }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 5s, [&] { return handle.has_value(); }));
  }
  EXPECT_TRUE(server.publish("news", "while running"));
  std::optional<RecordedEvent> message = client.next_message();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text(), "while running");
  std::thread closer([&] {
    EXPECT_TRUE(client.next_event());  // the 1001, answered
    client.wait_eof();
  });
  running.stop();
  closer.join();
  ASSERT_TRUE(running.returned());

  const auto payload = std::make_shared<std::vector<std::uint8_t>>(64 * 1024, 0x5A);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(server.publish("news", *payload)) << i;
    EXPECT_FALSE(handle->send(*payload)) << i;
    EXPECT_FALSE(handle->post([payload](WebSocket&) {})) << i;
  }
  EXPECT_EQ(payload.use_count(), 1);  // no task holds it
  server.run();                       // a second run returns at once
}

// What run() does on another thread, or "still running" when it has not returned within 10 s
// (then the server is stopped so that the test can go on).
std::string run_outcome(Server& server) {
  std::promise<std::string> outcome;
  std::thread runner([&] {
    try {
      server.run();
      outcome.set_value("returned");
    } catch (const std::logic_error& error) {
      outcome.set_value(std::string("threw: ") + error.what());
    }
  });
  std::future<std::string> result = outcome.get_future();
  if (result.wait_for(10s) != std::future_status::ready) {
    server.stop();
    runner.join();
    return "still running";
  }
  runner.join();
  return result.get();
}

// A server without a listener (listen() never called, or its error ignored) would wait for
// connections that cannot come, silently and forever: run() says so at once instead, and the
// server can still listen and run after that.
TEST(Server, RunWithoutAListenerThrowsInsteadOfServingNothing) {
  Server server({.threads = 2});
  EXPECT_EQ(server.listen("not an address", 0), std::errc::invalid_argument);
  const std::string outcome = run_outcome(server);
  EXPECT_EQ(outcome.rfind("threw: ", 0), 0u) << outcome;
  EXPECT_NE(outcome.find("no listen() succeeded"), std::string::npos) << outcome;

  ASSERT_FALSE(server.listen("127.0.0.1", 0));
  server.stop();  // run() returns once it has started
  EXPECT_EQ(run_outcome(server), "returned");
}

// ---- Per-route options and hostile peers

// A client frame header (FIN, masked) declaring `length` bytes, with a zero mask key.
std::vector<std::uint8_t> masked_header(std::uint8_t opcode, std::uint64_t length) {
  std::vector<std::uint8_t> header{static_cast<std::uint8_t>(0x80 | opcode)};
  if (length < 126) {
    header.push_back(static_cast<std::uint8_t>(0x80 | length));
  } else if (length <= 0xFFFF) {
    header.push_back(0x80 | 126);
    header.push_back(static_cast<std::uint8_t>(length >> 8));
    header.push_back(static_cast<std::uint8_t>(length));
  } else {
    header.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      header.push_back(static_cast<std::uint8_t>(length >> shift));
  }
  header.insert(header.end(), 4, 0);  // mask key 0: the payload goes as is
  return header;
}

TEST(Server, MaxMessageSizeIsPerRoute) {
  Server server({.threads = 1});
  Behavior small = echo_behavior();
  small.max_message_size = 1000;
  server.route("/small", small);
  server.route("/big", echo_behavior());
  RunningServer running(server);
  RawWsClient big(running.port());
  ASSERT_TRUE(big.handshake({}, "/big"));
  ASSERT_TRUE(big.send(std::string(5000, 'b')));
  std::optional<RecordedEvent> echo = big.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data.size(), 5000u);
  RawWsClient small_client(running.port());
  ASSERT_TRUE(small_client.handshake({}, "/small"));
  ASSERT_TRUE(small_client.send(std::string(1000, 's')));  // exactly the limit passes
  echo = small_client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data.size(), 1000u);
  ASSERT_TRUE(small_client.send(std::string(1001, 's')));
  std::optional<RecordedEvent> close = small_client.next_event();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind, proto::EventKind::close);
  EXPECT_EQ(close->close_code, 1009);
}

TEST(Server, HugeDeclaredFrameIsRefusedWith1009BeforeItsPayload) {
  CloseLog log;
  Server server({.threads = 1});
  server.route("/", {.close = [&](WebSocket&, const CloseInfo& info) { log.add(info); }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  // 1 GiB declared (over the 16 MiB default), a few bytes sent: the answer cannot wait for the
  // payload, so the server neither buffers nor reserves it.
  std::vector<std::uint8_t> frame = masked_header(0x2, 1ull << 30);
  frame.insert(frame.end(), 16, 0x55);
  ASSERT_TRUE(client.write_all(frame));
  std::vector<std::uint8_t> seen;
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (seen.size() < 4 && std::chrono::steady_clock::now() < deadline && !client.eof()) {
    std::vector<std::uint8_t> bytes = client.read_some(100ms);
    seen.insert(seen.end(), bytes.begin(), bytes.end());
  }
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(seen[0], 0x88);
  EXPECT_EQ((seen[2] << 8) | seen[3], 1009);
  ASSERT_TRUE(log.wait(1));
  EXPECT_EQ(log.closes[0].code, 1009);
  EXPECT_FALSE(log.closes[0].clean);
  // The largest length the format allows (2^63 - 1) is refused the same way.
  RawWsClient largest(running.port());
  ASSERT_TRUE(largest.handshake());
  ASSERT_TRUE(largest.write_all(masked_header(0x1, 0x7FFFFFFFFFFFFFFFull)));
  std::optional<RecordedEvent> close = largest.next_event(3s);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->close_code, 1009);
}

TEST(Server, SlowlorisHeadIsDroppedByTheHandshakeTimeout) {
  Server server({.threads = 1, .handshake_timeout = 300ms});
  server.route("/", {});
  RunningServer running(server);
  // Before connecting: the server starts its deadline when it accepts, which may come before a
  // clock read after the connect (the test's thread descheduled in between).
  const auto start = std::chrono::steady_clock::now();
  RawWsClient client(running.port());
  // One byte every 40 ms, each one in time for any per-read timer: the deadline is the whole
  // head's.
  const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 'a');
  std::size_t sent = 0;
  while (sent < head.size() && !client.eof()) {
    if (!client.write_all(std::string_view(head).substr(sent, 1))) break;
    ++sent;
    EXPECT_TRUE(client.read_some(40ms).empty());  // never an answer
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(sent, head.size());
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 5s);  // the 300 ms timeout, not the default 10 s: room for load
}

TEST(Server, ConnectionsDroppedMidHandshakeAreReleased) {
  const test::TestPki& pki = test::test_pki();
  // A handshake timeout far beyond the wait below: what releases the connections must be the
  // clients leaving, not the timeout.
  Server server({.threads = 2, .handshake_timeout = 120s});
  server.route("/", {});
  Server secure({.threads = 1,
                 .handshake_timeout = 120s,
                 .tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                         .private_key_file = pki.server_key}});
  secure.route("/", {});
  RunningServer running(server);
  RunningServer running_secure(secure);
  io::TlsClientOptions tls_options;
  tls_options.ca_file = pki.ca_certificate;
  tls_options.use_system_ca = false;
  const io::TlsContext context = io::TlsContext::client(tls_options);
  const std::string partial = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
  for (int i = 0; i < 60; ++i) {
    RawWsClient plain(running.port());
    if (i % 3 == 1) {
      ASSERT_TRUE(plain.write_all(partial));
    }
    if (i % 3 == 2) {
      ASSERT_TRUE(plain.write_all(partial.substr(0, 5)));
    }
    RawWsClient tls(running_secure.port());
    if (i % 2 == 1) tls.use_tls(context, "localhost");  // ClientHello sent, the rest never read
  }  // every socket closes here, before its handshake ended
  // 60 TLS servers' reads of a close under ASan take seconds on a loaded machine (3 s failed).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((server.connections() != 0 || secure.connections() != 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server.connections(), 0u);
  EXPECT_EQ(secure.connections(), 0u);
  RawWsClient after(running.port());  // still serving
  EXPECT_TRUE(after.handshake());
}

// A client that sends but never reads: the echoes pile up in the server, which must keep them
// within max_backpressure plus the message that crossed it. Once over the limit it either
// refuses the next echoes of the same read (dropped) or, when the crossing message was the
// last of its read, stops reading from this client (nothing is ever dropped then): both are
// right, the test waits for whichever comes.
TEST(Server, EchoToAClientThatNeverReadsStaysBounded) {
  constexpr std::size_t limit = 256 * 1024;
  constexpr std::size_t message = 32 * 1024;
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t max_buffered = 0;
  int dropped = 0;
  int echoed = 0;  // messages the server has handled
  Server server({.threads = 1});
  server.route("/", {.max_backpressure = limit, .message = [&](WebSocket& ws, Message msg) {
                       const SendStatus status = ws.send(msg.data, msg.kind);
                       std::lock_guard lock(mutex);
                       if (status == SendStatus::dropped) ++dropped;
                       ++echoed;
                       max_buffered = std::max(max_buffered, ws.buffered_amount());
                       changed.notify_all();
                     }});
  RunningServer running(server);
  // A receive buffer set explicitly is not autotuned: it holds what the kernel made of 4 KiB.
  RawWsClient client(running.port(), false, 4096);
  ASSERT_TRUE(client.handshake());
  int client_receive_buffer = 0;
  socklen_t option_size = sizeof client_receive_buffer;
  ASSERT_EQ(::getsockopt(client.fd(), SOL_SOCKET, SO_RCVBUF, &client_receive_buffer, &option_size),
            0);
  // The echoes the sockets can take off the server: its send buffer, which autotuning grows up
  // to tcp_wmem's ceiling (4 MiB by default, more on a tuned host), and the client's receive
  // buffer. Twice that (plus the limit) is sent, so the server cannot help reaching the limit
  // whatever the sysctl says (256 messages, 8 MiB, with Linux's defaults).
  const std::size_t sockets_take =
      test::tcp_send_buffer_ceiling() + static_cast<std::size_t>(client_receive_buffer);
  const int messages = static_cast<int>((2 * sockets_take + limit) / message + 1);
  // A server that stopped reading fails the send once the socket buffers are full, not the
  // test run (on loopback they may also take all 8 MiB: then every send returns).
  const timeval send_timeout{2, 0};
  ::setsockopt(client.fd(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  const std::vector<std::uint8_t> payload = pattern(message);
  int sent = 0;
  for (; sent < messages; ++sent) {  // never reading an echo
    if (!client.send(payload, proto::MessageKind::binary)) break;
  }
  // Much of what was sent may still wait in the socket buffers. Done waiting when a send was
  // dropped; or when the server, over the limit, has handled nothing for a second although
  // sent messages wait (it stopped reading: no drop may ever come, which the test once waited
  // for in vain); or when it has handled every message (as a server that ignores the limit
  // does). A loaded machine's slow second taken for a pause costs nothing: the checks below
  // hold at any moment for a server that keeps the bound.
  std::unique_lock lock(mutex);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool settled = false;
  while (!settled && std::chrono::steady_clock::now() < deadline) {
    const int before = echoed;
    const bool moved = changed.wait_for(
        lock, 1s, [&] { return dropped > 0 || echoed == sent || echoed != before; });
    settled = dropped > 0 || echoed == sent || (!moved && max_buffered > limit);
  }
  ASSERT_TRUE(settled) << echoed << " of " << sent << " handled, " << max_buffered
                       << " bytes buffered at most";
  EXPECT_GT(max_buffered, limit) << "the limit was never reached";
  EXPECT_LE(max_buffered, limit + message + 16);
  EXPECT_TRUE(dropped > 0 || echoed < sent)
      << "every message handled, none dropped: the server neither refused nor stopped reading";
}

TEST(Server, DeflateThresholdLeavesShortMessagesUncompressed) {
  Server server({.threads = 1});
  proto::DeflateServerOptions deflate;
  deflate.tuning.threshold = 64;
  server.route("/", {.deflate = deflate,
                     .message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); }});
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({.deflate = proto::DeflateClientOptions{}}));
  ASSERT_TRUE(client.handshake_result().deflate);
  ASSERT_TRUE(client.send(std::string(63, 's')));
  ASSERT_TRUE(client.send(std::string(64, 'l')));
  // Read the raw frames (a server's are unmasked): RSV1 marks a compressed message.
  std::vector<std::uint8_t> seen;
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  auto second_frame_at = [&]() -> std::size_t {
    return seen.size() >= 2 ? 2u + (seen[1] & 0x7Fu) : 0u;
  };
  while ((seen.size() < 2 || seen.size() < second_frame_at() + 2) &&
         std::chrono::steady_clock::now() < deadline) {
    std::vector<std::uint8_t> bytes = client.read_some(100ms);
    seen.insert(seen.end(), bytes.begin(), bytes.end());
  }
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[0], 0x81);  // 63 bytes: under the threshold, plain
  EXPECT_EQ(seen[1], 63);
  ASSERT_GE(seen.size(), second_frame_at() + 2);
  EXPECT_EQ(seen[second_frame_at()], 0xC1);  // 64 bytes: compressed
  EXPECT_LT(seen[second_frame_at() + 1], 64);
}

TEST(Server, DeflateParametersArePerRoute) {
  Server server({.threads = 1});
  proto::DeflateServerOptions strict;
  strict.server_no_context_takeover = true;
  strict.client_no_context_takeover = true;
  strict.server_max_window_bits = 10;
  server.route("/strict", {.deflate = strict});
  server.route("/default", {.deflate = proto::DeflateServerOptions{}});
  RunningServer running(server);
  RawWsClient a(running.port());
  ASSERT_TRUE(a.handshake({.deflate = proto::DeflateClientOptions{}}, "/strict"));
  ASSERT_TRUE(a.handshake_result().deflate);
  const proto::DeflateParams& got = *a.handshake_result().deflate;
  EXPECT_TRUE(got.server_no_context_takeover);
  EXPECT_TRUE(got.client_no_context_takeover);
  EXPECT_EQ(got.server_max_window_bits, 10);
  RawWsClient b(running.port());
  ASSERT_TRUE(b.handshake({.deflate = proto::DeflateClientOptions{}}, "/default"));
  ASSERT_TRUE(b.handshake_result().deflate);
  EXPECT_FALSE(b.handshake_result().deflate->server_no_context_takeover);
  EXPECT_FALSE(b.handshake_result().deflate->client_no_context_takeover);
  EXPECT_EQ(b.handshake_result().deflate->server_max_window_bits, 15);
}

}  // namespace
}  // namespace wsx

namespace wsx {
namespace {

// ---- a port in use is an error (SO_REUSEPORT is for the server's own threads only)

bool upgrades(std::uint16_t port) {
  RawWsClient client(port);
  return client.handshake({}, "/echo") && client.status() == 101;
}

TEST(ServerListen, ASecondServerOnTheSamePortIsRefused) {
  Server first({.threads = 2});
  first.route("/echo", echo_behavior());
  RunningServer running(first);
  Server second({.threads = 2});
  second.route("/echo", echo_behavior());
  EXPECT_EQ(second.listen("127.0.0.1", running.port()), std::errc::address_in_use);
  // The second one kept no listener: were one left in the group, the kernel would hand it
  // some of these connections, and nobody accepts them there.
  for (int i = 0; i < 16; ++i) EXPECT_TRUE(upgrades(running.port())) << i;
}

TEST(ServerListen, AnotherProgramsSocketOnThePortIsRefused) {
  for (const bool reuse_port : {false, true}) {
    const int occupant = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    if (reuse_port) ::setsockopt(occupant, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(occupant, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(occupant, 8), 0);
    socklen_t length = sizeof address;
    ::getsockname(occupant, reinterpret_cast<sockaddr*>(&address), &length);
    Server server({.threads = 2});
    EXPECT_EQ(server.listen("127.0.0.1", ntohs(address.sin_port)), std::errc::address_in_use)
        << "SO_REUSEPORT on the occupant: " << reuse_port;
    ::close(occupant);
  }
}

TEST(ServerListen, TheSameAddressTwiceOnOneServerIsRefused) {
  Server server({.threads = 1});
  ASSERT_FALSE(server.listen("127.0.0.1", 0));
  EXPECT_EQ(server.listen("127.0.0.1", server.port()), std::errc::address_in_use);
}

TEST(ServerListen, ThreadsShareTheirOwnPort) {
  Server server({.threads = 3});
  server.route("/echo", echo_behavior());
  RunningServer running(server);
  ASSERT_NE(running.port(), 0);
  for (int i = 0; i < 12; ++i) {
    RawWsClient client(running.port());
    ASSERT_TRUE(client.handshake({}, "/echo"));
    ASSERT_TRUE(client.send("over every thread"));
    std::optional<RecordedEvent> echo = client.next_message();
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->text(), "over every thread");
  }
}

// ---- TLS failures are reported

TEST(ServerTls, AFailedHandshakeIsReportedWithPeerAndReason) {
  const test::TestPki& pki = test::test_pki();
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<std::string, std::string>> reports;  // peer, message
  Server server({.threads = 1,
                 .tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                         .private_key_file = pki.server_key},
                 .error_hook = [&](const ErrorReport& report) {
                   if (report.source != ErrorSource::tls_handshake) return;
                   std::lock_guard lock(mutex);
                   reports.emplace_back(report.remote_address, report.message);
                   changed.notify_all();
                 }});
  ASSERT_EQ(server.tls_error(), "");
  server.route("/", echo_behavior());
  RunningServer running(server);
  {  // a client that just connects and leaves (a health check) is no failure
    RawWsClient leaving(running.port());
    ASSERT_TRUE(leaving.connected());
  }
  RawWsClient garbage(running.port());
  ASSERT_TRUE(garbage.write_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  EXPECT_TRUE(garbage.wait_eof(20s));
  std::unique_lock lock(mutex);
  ASSERT_TRUE(changed.wait_for(lock, 20s, [&] { return !reports.empty(); }));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].first, "127.0.0.1:" + std::to_string(garbage.local_port()));
  EXPECT_FALSE(reports[0].second.empty());
  // OpenSSL's reason for plain HTTP on a TLS port (OpenSSL 3, Debian 12).
  EXPECT_EQ(reports[0].second, "http request");
}

}  // namespace
}  // namespace wsx

namespace wsx {
namespace {

// A listening socket of this process standing for a stranger on `ip`:`port` (0: any); -1
// when the port cannot be bound there.
int stranger_listening_on(const char* ip, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &address.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

TEST(ServerListen, PortZeroOnASecondAddressGivesEveryThreadItsNewPort) {
  // A stranger on 127.0.0.2 holds the port our first address uses on 127.0.0.1 (127/8 is all
  // loopback). Port 0 on 127.0.0.2 must pick one new port for every thread, not reuse the
  // first address's port (which the second thread would then find taken).
  // The port must be free on 127.0.0.1 for the server and taken on 127.0.0.2 by the stranger;
  // nothing can reserve the first for us, and another process may take it meanwhile (any
  // outgoing connection's ephemeral port): then the test tries another port.
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int placeholder = stranger_listening_on("127.0.0.1", 0);  // a port free on .1 now
    ASSERT_GE(placeholder, 0);
    const std::uint16_t port = local_port(placeholder);
    const int stranger = stranger_listening_on("127.0.0.2", port);
    ::close(placeholder);
    if (stranger < 0) continue;  // taken on 127.0.0.2 already
    Server server({.threads = 2});
    const std::error_code first = server.listen("127.0.0.1", port);
    if (first == std::errc::address_in_use) {  // someone took it on 127.0.0.1 meanwhile
      ::close(stranger);
      continue;
    }
    ASSERT_FALSE(first) << first.message();
    EXPECT_FALSE(server.listen("127.0.0.2", 0));
    ::close(stranger);
    return;
  }
  FAIL() << "no port could be held on 127.0.0.2 and had free on 127.0.0.1 in 20 attempts";
}

}  // namespace
}  // namespace wsx
