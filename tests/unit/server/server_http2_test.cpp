// ServerOptions::http2: a wsx::Server whose TLS listeners offer h2 by ALPN. HTTP/2 clients
// (nghttp2's client session, and curl as an independent one) get the same `http` handler and
// access log; HTTP/1.1 clients, WebSockets included, are served as before on the same port;
// shutdown says GOAWAY.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "h2_socket_client.hpp"
#include "h2_tls_setup.hpp"
#include "running_server.hpp"
#include "test_certs.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/proto/connection.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;
using wsx::testing::exchange_h2;
using wsx::testing::H2TestClient;
using wsx::testing::StreamWebSocket;

struct AccessLog {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return lines;
  }
};

ServerOptions http2_options(AccessLog& log, bool http2 = true) {
  ServerOptions options = test::h2_tls_server_options(http2);
  options.http = [](const HttpRequest& request) {
    proto::HttpResponse response;
    response.status = 200;
    response.body = "page " + std::string(request.path) + "\n";
    response.headers = {{"Content-Type", "text/plain"}};
    return response;
  };
  options.access_log = [&log](const AccessRecord& record) {
    std::lock_guard lock(log.mutex);
    log.lines.push_back(std::string(record.method) + " " + std::string(record.target) + " " +
                        std::to_string(record.status));
  };
  return options;
}

io::TlsContext client_context(std::vector<std::string> alpn) {
  return test::h2_client_tls(std::move(alpn));
}

TEST(ServerHttp2, PlainRequestsShareOneConnectionAndTheHttpHandler) {
  AccessLog log;
  Server server(http2_options(log));
  ASSERT_EQ(server.tls_error(), "");
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  const std::int32_t first = h2.request(testing::h2_get("/one"));
  const std::int32_t second = h2.request(testing::h2_get("/two?x"));
  ASSERT_TRUE(exchange_h2(socket, h2,
                          [&] { return h2.responses[first].ended && h2.responses[second].ended; }));
  EXPECT_EQ(h2.responses[first].header(":status"), "200");
  EXPECT_EQ(h2.responses[first].data, "page /one\n");
  EXPECT_EQ(h2.responses[second].data, "page /two\n");
  // WebSockets may open as streams (RFC 8441 §3).
  EXPECT_EQ(h2.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
  const std::vector<std::string> lines = log.snapshot();
  EXPECT_EQ(lines, (std::vector<std::string>{"GET /one 200", "GET /two?x 200"}));
}

TEST(ServerHttp2, WebSocketsOverHttp1StillWorkOnTheSamePort) {
  AccessLog log;
  Server server(http2_options(log));
  server.route("/echo", {.message = [](WebSocket& ws, Message message) {
                 ws.send(message.data, message.kind);
               }});
  RunningServer running(server);
  const io::TlsContext context = client_context({"http/1.1"});
  RawWsClient client(running.port());
  client.use_tls(context, "localhost");
  ASSERT_TRUE(client.handshake({.host = "localhost", .secure = true}, "/echo"));
  const std::vector<std::uint8_t> payload(100000, 0x5a);
  ASSERT_TRUE(client.send(payload, proto::MessageKind::binary));
  std::optional<test::RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data, payload);
}

// The client side of a long-polling session over one HTTP/2 connection
// (docs/long-polling-protocol.md): a client-role proto::Connection makes and reads the frames,
// each request is a stream of `h2`.
class H2PollClient : private proto::EventHandler {
 public:
  H2PollClient(RawWsClient& socket, H2TestClient& h2, std::string path)
      : socket_(socket), h2_(h2), path_(std::move(path)) {
    proto::ConnectionOptions options;
    options.role = proto::Role::client;
    connection_.emplace(options);
  }

  // Submits a request (not yet sent: wait() or finish() moves the bytes).
  std::int32_t open(std::vector<std::pair<std::string, std::string>> extra = {}) {
    auto fields = request("POST", path_ + "?wsx-poll=open");
    fields.emplace_back("content-type", "application/x-wsx-poll");
    fields.insert(fields.end(), extra.begin(), extra.end());
    return h2_.request(fields);
  }
  // POSTs what the connection has queued (frames) from offset sent_.
  std::int32_t flush() {
    const std::span<const std::uint8_t> pending = connection_->pending_output();
    std::string body(reinterpret_cast<const char*>(pending.data()), pending.size());
    connection_->consume_output(pending.size());
    auto fields = request("POST", path_ + "?wsx-poll=send&offset=" + std::to_string(sent_));
    fields.emplace_back("content-type", "application/x-wsx-poll");
    fields.emplace_back("content-length", std::to_string(body.size()));
    fields.emplace_back("wsx-session", sid);
    sent_ += body.size();
    return h2_.request(fields, body);
  }
  std::int32_t recv() {
    auto fields = request("GET", path_ + "?wsx-poll=recv&ack=" + std::to_string(received_));
    fields.emplace_back("wsx-session", sid);
    return h2_.request(fields);
  }
  // Moves bytes until the stream's answer is complete.
  const H2TestClient::Response* finish(std::int32_t id) {
    if (!exchange_h2(
            socket_, h2_, [&] { return h2_.responses[id].ended; }, 20s))
      return nullptr;
    return &h2_.responses[id];
  }
  // The open's answer: sid from its JSON.
  bool opened(std::int32_t id) {
    const H2TestClient::Response* answer = finish(id);
    if (answer == nullptr || answer->header(":status") != "200") return false;
    const std::string key = R"("sid":")";
    const std::size_t at = answer->data.find(key);
    if (at == std::string::npos) return false;
    sid = answer->data.substr(at + key.size(), 24);
    return true;
  }
  // A recv's 200: its frames go to the connection (events).
  bool received(std::int32_t id) {
    const H2TestClient::Response* answer = finish(id);
    if (answer == nullptr || answer->header(":status") != "200") return false;
    if (answer->header("wsx-offset") != std::to_string(received_)) return false;
    std::string bytes = answer->data;
    received_ += bytes.size();
    connection_->receive({reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()}, *this);
    return true;
  }

  proto::Connection& connection() { return *connection_; }
  std::string sid;
  std::vector<test::RecordedEvent> events;

 private:
  std::vector<std::pair<std::string, std::string>> request(std::string method,
                                                           std::string path) const {
    return {{":method", std::move(method)},
            {":scheme", "https"},
            {":path", std::move(path)},
            {":authority", "localhost"}};
  }
  void on_event(const proto::Event& event) override {
    test::RecordedEvent recorded;
    recorded.kind = event.kind;
    recorded.message_kind = event.message_kind;
    recorded.data.assign(event.data.begin(), event.data.end());
    recorded.close_code = event.close_code;
    recorded.close_reason = std::string(event.close_reason);
    events.push_back(std::move(recorded));
  }

  RawWsClient& socket_;
  H2TestClient& h2_;
  std::string path_;
  std::optional<proto::Connection> connection_;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
};

// What the application of a polling route saw, from the server thread.
struct PollSeen {
  std::mutex mutex;
  std::vector<Transport> transports;
  std::vector<std::string> messages;
  std::vector<std::uint16_t> close_codes;
  std::vector<std::string> snapshot_messages() {
    std::lock_guard lock(mutex);
    return messages;
  }
};

Behavior polling_echo(PollSeen& seen) {
  Behavior echo;
  echo.long_polling = LongPolling{};
  echo.open = [&seen](WebSocket& ws) {
    std::lock_guard lock(seen.mutex);
    seen.transports.push_back(ws.transport());
  };
  echo.message = [&seen](WebSocket& ws, Message message) {
    {
      std::lock_guard lock(seen.mutex);
      seen.messages.emplace_back(message.text());
    }
    ws.send(message.data, message.kind);
  };
  echo.close = [&seen](WebSocket&, const CloseInfo& info) {
    std::lock_guard lock(seen.mutex);
    seen.close_codes.push_back(info.code);
  };
  return echo;
}

// A page loaded over h2 whose WebSocket fails falls back to long polling on that connection:
// open, send and recv are streams of it, a recv held while a send goes by on another stream.
TEST(ServerHttp2, LongPollingSessionOpensSendsReceivesAndClosesOverHttp2) {
  AccessLog log;
  ServerOptions options = http2_options(log);
  // The session's requests are logged with its transport, as over HTTP/1.1.
  options.access_log = [&log](const AccessRecord& record) {
    std::lock_guard lock(log.mutex);
    log.lines.push_back(std::string(record.method) + " " + std::string(record.target) + " " +
                        std::to_string(record.status) + " " +
                        std::string(transport_name(record.transport)));
  };
  Server server(options);
  PollSeen seen;
  server.route("/echo", polling_echo(seen));
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  H2PollClient poll(socket, h2, "/echo");
  const std::int32_t open = poll.open();
  ASSERT_TRUE(poll.opened(open));
  EXPECT_EQ(h2.responses[open].header("content-type"), "application/json");
  EXPECT_EQ(h2.responses[open].header("cache-control"), "no-store");
  EXPECT_EQ(h2.responses[open].header("x-content-type-options"), "nosniff");
  // The recv is held (nothing to say yet) while the send travels on another stream.
  const std::int32_t held = poll.recv();
  poll.connection().send_text("hello over h2");
  const std::int32_t send = poll.flush();
  const H2TestClient::Response* sent = poll.finish(send);
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(sent->header(":status"), "204");
  ASSERT_TRUE(poll.received(held));
  ASSERT_EQ(poll.events.size(), 1u);
  EXPECT_EQ(poll.events[0].text(), "hello over h2");
  EXPECT_EQ(seen.snapshot_messages(), std::vector<std::string>{"hello over h2"});

  // Close from the client: the server's close frame comes back, then 410.
  poll.connection().close(1000, "done");
  ASSERT_EQ(poll.finish(poll.flush())->header(":status"), "204");
  ASSERT_TRUE(poll.received(poll.recv()));
  ASSERT_EQ(poll.events.size(), 2u);
  EXPECT_EQ(poll.events[1].kind, proto::EventKind::close);
  EXPECT_EQ(poll.events[1].close_code, 1000);
  const H2TestClient::Response* gone = poll.finish(poll.recv());
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->header(":status"), "410");
  {
    std::lock_guard lock(seen.mutex);
    EXPECT_EQ(seen.transports, std::vector<Transport>{Transport::long_polling});
    EXPECT_EQ(seen.close_codes, std::vector<std::uint16_t>{1000});
  }
  const std::vector<std::string> lines = log.snapshot();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "POST /echo?wsx-poll=open 200 long-polling");
  EXPECT_EQ(lines[1], "POST /echo?wsx-poll=send&offset=0 204 long-polling");
  EXPECT_EQ(lines[2], "GET /echo?wsx-poll=recv&ack=0 200 long-polling");
}

// The open meets the route's decision as an extended CONNECT would, upgrade_async included,
// and the request checks answer as over HTTP/1.1 (the JSON refusal, not the 426 of a failed
// WebSocket handshake).
TEST(ServerHttp2, LongPollingOpenMeetsTheAsyncDecisionAndTheChecksOverHttp2) {
  AccessLog log;
  Server server(http2_options(log));
  PollSeen seen;
  Behavior echo = polling_echo(seen);
  // The decision is posted to the connection's thread, as from any other thread.
  echo.upgrade_async = [](const UpgradeRequest& request, UpgradeResponder responder) {
    const bool allowed = request.header("wsx-ticket") == std::optional<std::string_view>("yes");
    responder.respond(allowed ? UpgradeDecision::accept()
                              : UpgradeDecision::reject(401, "no ticket\n"));
  };
  server.route("/echo", echo);
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  H2PollClient refused(socket, h2, "/echo");
  const H2TestClient::Response* no = refused.finish(refused.open());
  ASSERT_NE(no, nullptr);
  EXPECT_EQ(no->header(":status"), "401");
  const std::int32_t wrong_type = h2.request(testing::h2_get("/echo?wsx-poll=open"));  // GET: 405
  ASSERT_NE(refused.finish(wrong_type), nullptr);
  EXPECT_EQ(h2.responses[wrong_type].header(":status"), "405");
  EXPECT_EQ(h2.responses[wrong_type].header("content-type"), "application/json");
  refused.sid = "AAAAAAAAAAAAAAAAAAAAAAAA";
  const H2TestClient::Response* unknown = refused.finish(refused.recv());
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(unknown->header(":status"), "404");

  H2PollClient poll(socket, h2, "/echo");
  ASSERT_TRUE(poll.opened(poll.open({{"wsx-ticket", "yes"}})));
  poll.connection().send_text("after an async yes");
  ASSERT_EQ(poll.finish(poll.flush())->header(":status"), "204");
  ASSERT_TRUE(poll.received(poll.recv()));
  ASSERT_EQ(poll.events.size(), 1u);
  EXPECT_EQ(poll.events[0].text(), "after an async yes");
}

// A held recv whose stream the client resets (a page that navigated away, a fetch aborted)
// is forgotten: the answer that comes later goes nowhere, and the session goes on — its next
// recv gets the bytes, none lost.
TEST(ServerHttp2, LongPollingRecvResetByTheClientLosesNothing) {
  AccessLog log;
  Server server(http2_options(log));
  PollSeen seen;
  server.route("/echo", polling_echo(seen));
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  H2PollClient poll(socket, h2, "/echo");
  ASSERT_TRUE(poll.opened(poll.open()));
  const std::int32_t held = poll.recv();
  // Its HEADERS leave before the reset: the server sees the recv, then the reset, in order.
  ASSERT_TRUE(socket.write_all(h2.take_output()));
  nghttp2_submit_rst_stream(h2.session(), NGHTTP2_FLAG_NONE, held, NGHTTP2_CANCEL);
  poll.connection().send_text("kept");
  ASSERT_EQ(poll.finish(poll.flush())->header(":status"), "204");
  EXPECT_FALSE(h2.responses[held].ended);
  ASSERT_TRUE(poll.received(poll.recv()));
  ASSERT_EQ(poll.events.size(), 1u);
  EXPECT_EQ(poll.events[0].text(), "kept");
}

// The server stops while an h2 long-polling client holds no recv (between two polls, the usual
// case): as over HTTP/1.1 (LongPollingSessions.ServerShutdownClosesWith1001WhenNoRecvIsHeld),
// its session is closed with 1001, which its next recv brings it, and its reply closes it
// cleanly. That recv and the reply are new streams: the connection says GOAWAY only once the
// thread's polling sessions are gone. (Before, the GOAWAY went out at once, the recv was
// refused, and the session ended with 1006 after LongPolling::stop_grace.)
TEST(ServerHttp2, ShutdownClosesALongPollingSessionWith1001WhenNoRecvIsHeld) {
  AccessLog log;
  ServerOptions options = http2_options(log);
  options.handshake_timeout = 60s;  // the idle bound of a connection between two polls
  Server server(options);
  PollSeen seen;
  Behavior echo = polling_echo(seen);
  echo.close_timeout = 60s;
  echo.long_polling->stop_grace = 60s;  // however slow this machine is before the next recv
  server.route("/echo", echo);
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  H2PollClient poll(socket, h2, "/echo");
  ASSERT_TRUE(poll.opened(poll.open()));
  poll.connection().send_text("hello");
  ASSERT_EQ(poll.finish(poll.flush())->header(":status"), "204");
  ASSERT_TRUE(poll.received(poll.recv()));  // the echo: now no recv is held
  ASSERT_EQ(poll.events.size(), 1u);
  // A WebSocket on the same connection (and the only server thread): its 1001 shows that the
  // stop has reached the polling session too.
  const std::int32_t ws_id = h2.request(testing::h2_websocket("/echo"), std::nullopt, true);
  StreamWebSocket ws;
  ws.connection.send_text("echo me");
  ws.send_queued(h2, ws_id);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    ws.take(h2.responses[ws_id]);
    return !ws.messages.empty();
  }));
  std::jthread stopper([&] { running.stop(); });  // joined on every way out
  ASSERT_TRUE(exchange_h2(
      socket, h2,
      [&] {
        ws.take(h2.responses[ws_id]);
        return ws.close_code.has_value();
      },
      20s));
  EXPECT_EQ(ws.close_code, 1001);
  ws.send_queued(h2, ws_id);  // the reply to its close
  // Now the client polls: the server's close frame, 1001.
  ASSERT_TRUE(poll.received(poll.recv())) << "the recv was refused (GOAWAY)";
  ASSERT_EQ(poll.events.size(), 2u);
  EXPECT_EQ(poll.events[1].kind, proto::EventKind::close);
  EXPECT_EQ(poll.events[1].close_code, 1001);
  poll.connection().close(1001);
  const H2TestClient::Response* reply = poll.finish(poll.flush());
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->header(":status"), "204");
  // The recv that acknowledges everything: the session is over (410) and goes.
  const H2TestClient::Response* gone = poll.finish(poll.recv());
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->header(":status"), "410");
  // With the polling session gone, the connection says GOAWAY and closes.
  EXPECT_TRUE(exchange_h2(
      socket, h2, [&] { return h2.goaway_code.has_value() && socket.eof(); }, 20s));
  EXPECT_EQ(h2.goaway_code, NGHTTP2_NO_ERROR);
  socket.close_socket();
  stopper.join();
  const std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.close_codes, (std::vector<std::uint16_t>{1001, 1001}));
}

// A connection refused at accept (here over max_connections) hears the refusal in the protocol
// ALPN chose: an h2 client gets :status 503 on its stream, then GOAWAY (NO_ERROR) naming it;
// an http/1.1 client on the same listener still gets its HTTP/1.1 503.
TEST(ServerHttp2, ARefusalAtAcceptIsAnsweredInTheProtocolAlpnChose) {
  AccessLog log;
  ServerOptions options = http2_options(log);
  options.max_connections = 1;
  Server server(options);
  RunningServer running(server);
  const io::TlsContext h2_context = client_context({"h2"});
  RawWsClient admitted(running.port());
  admitted.use_tls(h2_context, "localhost");
  H2TestClient admitted_h2;
  const std::int32_t page = admitted_h2.request(testing::h2_get("/page"));
  ASSERT_TRUE(
      exchange_h2(admitted, admitted_h2, [&] { return admitted_h2.responses[page].ended; }));
  ASSERT_EQ(admitted_h2.responses[page].header(":status"), "200");

  RawWsClient refused(running.port());
  refused.use_tls(h2_context, "localhost");
  H2TestClient h2;
  const std::int32_t id = h2.request(testing::h2_get("/page"));
  ASSERT_TRUE(exchange_h2(refused, h2, [&] {
    return h2.responses[id].ended && h2.goaway_code.has_value();
  })) << "no HTTP/2 answer";
  EXPECT_EQ(h2.responses[id].header(":status"), "503");
  EXPECT_EQ(h2.goaway_code, NGHTTP2_NO_ERROR);
  EXPECT_EQ(h2.goaway_last_stream, id);

  const io::TlsContext h1_context = client_context({"http/1.1"});
  RawWsClient h1(running.port());
  h1.use_tls(h1_context, "localhost");
  ASSERT_TRUE(h1.write_all("GET /page HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::string answer;
  while (answer.find("\r\n\r\n") == std::string::npos && !h1.eof()) {
    const std::vector<std::uint8_t> got = h1.read_some(5s);
    if (got.empty()) break;
    answer.append(got.begin(), got.end());
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
}

TEST(ServerHttp2, ClientWithoutAlpnGetsHttp1) {
  AccessLog log;
  Server server(http2_options(log));
  RunningServer running(server);
  const io::TlsContext context = client_context({});
  RawWsClient client(running.port());
  client.use_tls(context, "localhost");
  ASSERT_TRUE(client.write_all("GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::string answer;
  while (answer.find("page /plain") == std::string::npos && !client.eof()) {
    const std::vector<std::uint8_t> got = client.read_some(5s);
    if (got.empty()) break;
    answer.append(got.begin(), got.end());
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
}

TEST(ServerHttp2, ShutdownSaysGoawayToIdleConnections) {
  AccessLog log;
  ServerOptions options = http2_options(log);
  options.shutdown_timeout = 60s;  // far from what a clean stop takes, even on a loaded machine
  Server server(options);
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  const std::int32_t id = h2.request(testing::h2_get("/"));
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[id].ended; }));
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { running.stop(); });
  EXPECT_TRUE(exchange_h2(socket, h2, [&] { return h2.goaway_code.has_value(); }));
  EXPECT_EQ(h2.goaway_code, NGHTTP2_NO_ERROR);
  EXPECT_TRUE(socket.wait_eof(5s));
  socket.close_socket();  // as a client does once the server closed
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);  // not the shutdown timeout
}

// curl, an HTTP/2 client we did not write, through its command line.
std::string run_curl(std::uint16_t port, bool ask_http2) {
  const std::string command =
      std::string("curl -sS --max-time 10 ") + (ask_http2 ? "--http2 " : "--http1.1 ") +
      "--cacert '" + test::test_pki().ca_certificate +
      "' -w '|%{http_version}' https://localhost:" + std::to_string(port) + "/curl 2>&1";
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

TEST(ServerHttp2, CurlGetsThePageOverHttp2OnlyWhenOffered) {
  ASSERT_EQ(std::system("command -v curl > /dev/null"), 0)
      << "curl is needed (scripts/install-deps.sh installs it)";
  AccessLog log;
  Server with(http2_options(log));
  RunningServer running_with(with);
  EXPECT_EQ(run_curl(running_with.port(), true), "page /curl\n|2");
  Server without(http2_options(log, false));
  RunningServer running_without(without);
  EXPECT_EQ(run_curl(running_without.port(), true), "page /curl\n|1.1");
}

// Close events the server's WebSockets report, in order ("close 1001 clean").
struct CloseEvents {
  std::mutex mutex;
  std::vector<std::string> events;
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return events;
  }
};

Behavior echo_reporting(CloseEvents& closes) {
  Behavior echo;
  echo.message = [](WebSocket& ws, Message message) {
    if (message.text() == "close please") {
      ws.close(1000, "as asked");
      return;
    }
    ws.send(message.data, message.kind);
  };
  echo.close = [&closes](WebSocket&, const CloseInfo& info) {
    std::lock_guard lock(closes.mutex);
    closes.events.push_back("close " + std::to_string(info.code) +
                            (info.clean ? " clean" : " unclean"));
  };
  return echo;
}

std::int32_t open_websocket(RawWsClient& socket, H2TestClient& h2, const std::string& path) {
  const std::int32_t id = h2.request(testing::h2_websocket(path), std::nullopt, true);
  exchange_h2(socket, h2, [&] { return h2.responses[id].header(":status").has_value(); });
  return id;
}

TEST(ServerHttp2, StopClosesEveryWebSocketStreamWith1001BeforeGoaway) {
  AccessLog log;
  CloseEvents closes;
  ServerOptions options = http2_options(log);
  options.shutdown_timeout = 60s;  // far from what a clean stop takes, even on a loaded machine
  Server server(options);
  server.route("/echo", echo_reporting(closes));
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  const std::int32_t a = open_websocket(socket, h2, "/echo");
  const std::int32_t b = open_websocket(socket, h2, "/echo");
  ASSERT_EQ(h2.responses[a].header(":status"), "200");
  ASSERT_EQ(h2.responses[b].header(":status"), "200");
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { running.stop(); });
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.goaway_code.has_value(); }));
  EXPECT_EQ(h2.goaway_code, NGHTTP2_NO_ERROR);
  // What each stream had received when the GOAWAY came holds its close frame: 1001 first.
  StreamWebSocket wa, wb;
  wa.take(h2.responses[a], h2.data_at_goaway[a]);
  wb.take(h2.responses[b], h2.data_at_goaway[b]);
  EXPECT_EQ(wa.close_code, 1001);
  EXPECT_EQ(wb.close_code, 1001);
  // The client answers both closes (the core echoes a close) and ends its streams; the server's
  // WebSockets end cleanly and the server stops well before its shutdown timeout.
  wa.send_queued(h2, a);
  wb.send_queued(h2, b);
  h2.send_more(a, "", true);
  h2.send_more(b, "", true);
  EXPECT_TRUE(exchange_h2(socket, h2, [&] { return socket.eof(); }));
  socket.close_socket();
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  EXPECT_EQ(closes.snapshot(), (std::vector<std::string>{"close 1001 clean", "close 1001 clean"}));
}

TEST(ServerHttp2, AWebSocketClosedByTheServerEndsItsStreamWithEndStream) {
  AccessLog log;
  CloseEvents closes;
  Server server(http2_options(log));
  server.route("/echo", echo_reporting(closes));
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  const std::int32_t id = open_websocket(socket, h2, "/echo");
  ASSERT_EQ(h2.responses[id].header(":status"), "200");
  StreamWebSocket ws;
  ws.connection.send_text("close please");
  ws.send_queued(h2, id);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    ws.take(h2.responses[id]);
    return ws.close_code.has_value();
  }));
  EXPECT_EQ(ws.close_code, 1000);
  ws.send_queued(h2, id);  // the close echoed by the core
  // The server's END_STREAM follows the closing handshake; no RST_STREAM.
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[id].ended; }));
  h2.send_more(id, "", true);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[id].closed.has_value(); }));
  EXPECT_EQ(h2.responses[id].closed, NGHTTP2_NO_ERROR);
  EXPECT_FALSE(h2.goaway_code.has_value());  // the connection goes on
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (closes.snapshot().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(closes.snapshot(), std::vector<std::string>{"close 1000 clean"});
}

TEST(ServerHttp2, AResetStreamFailsItsWebSocketWith1006) {
  AccessLog log;
  CloseEvents closes;
  Server server(http2_options(log));
  server.route("/echo", echo_reporting(closes));
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  const std::int32_t reset = open_websocket(socket, h2, "/echo");
  const std::int32_t other = open_websocket(socket, h2, "/echo");
  ASSERT_EQ(h2.responses[reset].header(":status"), "200");
  nghttp2_submit_rst_stream(h2.session(), NGHTTP2_FLAG_NONE, reset, NGHTTP2_CANCEL);
  exchange_h2(socket, h2, [] { return true; });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (closes.snapshot().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(closes.snapshot(), std::vector<std::string>{"close 1006 unclean"});
  // The other WebSocket on the connection is untouched.
  StreamWebSocket ws;
  ws.connection.send_text("still here");
  ws.send_queued(h2, other);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    ws.take(h2.responses[other]);
    return !ws.messages.empty();
  }));
  EXPECT_EQ(ws.messages, std::vector<std::string>{"still here"});
}

}  // namespace
}  // namespace wsx
