// ServerOptions::http2: a wsx::Server whose TLS listeners offer h2 by ALPN. HTTP/2 clients
// (nghttp2's client session, and curl as an independent one) get the same `http` handler and
// access log; HTTP/1.1 clients, WebSockets included, are served as before on the same port;
// shutdown says GOAWAY.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "h2_socket_client.hpp"
#include "running_server.hpp"
#include "test_certs.hpp"
#include "wsx/io/tls_context.hpp"
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
  const test::TestPki& pki = test::test_pki();
  ServerOptions options;
  options.threads = 1;
  options.tls = ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                 .private_key_file = pki.server_key};
  options.http2 = http2;
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
  io::TlsClientOptions options;
  options.ca_file = test::test_pki().ca_certificate;
  options.use_system_ca = false;
  options.alpn = std::move(alpn);
  return io::TlsContext::client(options);
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

// Long polling lives on HTTP/1.1 connections: over HTTP/2 a wsx-poll request on a route that
// offers it gets a clear JSON refusal (not the 426 of a failed WebSocket handshake), logged.
TEST(ServerHttp2, LongPollingRequestsAreRefusedOverHttp2) {
  AccessLog log;
  Server server(http2_options(log));
  server.route("/echo", {.long_polling = LongPolling{}});
  RunningServer running(server);
  const io::TlsContext context = client_context({"h2"});
  RawWsClient socket(running.port());
  socket.use_tls(context, "localhost");
  H2TestClient h2;
  const std::int32_t id = h2.request(testing::h2_get("/echo?wsx-poll=recv&ack=0"));
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[id].ended; }));
  EXPECT_EQ(h2.responses[id].header(":status"), "501");
  EXPECT_EQ(h2.responses[id].header("content-type"), "application/json");
  EXPECT_EQ(h2.responses[id].header("cache-control"), "no-store");
  EXPECT_EQ(h2.responses[id].data, R"({"error":"long polling is not available over HTTP/2"})");
  EXPECT_EQ(log.snapshot(), (std::vector<std::string>{"GET /echo?wsx-poll=recv&ack=0 501"}));
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
  Server server(http2_options(log));
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
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);  // not the shutdown timeout (5 s)
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
  Server server(http2_options(log));
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
  // WebSockets end cleanly and the server stops well before its shutdown timeout (5 s).
  wa.send_queued(h2, a);
  wb.send_queued(h2, b);
  h2.send_more(a, "", true);
  h2.send_more(b, "", true);
  EXPECT_TRUE(exchange_h2(socket, h2, [&] { return socket.eof(); }));
  socket.close_socket();
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
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
