// ServerOptions::http2: a wsx::Server whose TLS listeners offer h2 by ALPN. HTTP/2 clients
// (nghttp2's client session, and curl as an independent one) get the same `http` handler and
// access log; HTTP/1.1 clients, WebSockets included, are served as before on the same port;
// shutdown says GOAWAY.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "h2_test_client.hpp"
#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "test_certs.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;
using wsx::testing::H2TestClient;

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

// nghttp2's client over a blocking TLS connection: moves bytes until `done` or `timeout`.
bool exchange(RawWsClient& socket, H2TestClient& h2, const std::function<bool()>& done,
              std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = h2.take_output();
    if (!out.empty() && !socket.write_all(out)) return done();
    if (done()) return true;
    const std::vector<std::uint8_t> in = socket.read_some(200ms);
    if (!in.empty() && !h2.feed(std::span<const std::uint8_t>(in))) return done();
    if (socket.eof()) return done();
  }
  return done();
}

std::vector<std::pair<std::string, std::string>> get(std::string path) {
  return {{":method", "GET"},
          {":scheme", "https"},
          {":path", std::move(path)},
          {":authority", "localhost"}};
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
  const std::int32_t first = h2.request(get("/one"));
  const std::int32_t second = h2.request(get("/two?x"));
  ASSERT_TRUE(exchange(socket, h2,
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
  const std::int32_t id = h2.request(get("/echo?wsx-poll=recv&ack=0"));
  ASSERT_TRUE(exchange(socket, h2, [&] { return h2.responses[id].ended; }));
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
  const std::int32_t id = h2.request(get("/"));
  ASSERT_TRUE(exchange(socket, h2, [&] { return h2.responses[id].ended; }));
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { running.stop(); });
  EXPECT_TRUE(exchange(socket, h2, [&] { return h2.goaway_code.has_value(); }));
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

}  // namespace
}  // namespace wsx
