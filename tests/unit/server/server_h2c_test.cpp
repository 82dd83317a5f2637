// ServerOptions::http2_prior_knowledge: HTTP/2 in clear text (h2c) on a plain listener for
// clients that start with the HTTP/2 client preface (RFC 9113 §3.3); every other client gets
// HTTP/1.1 as before, on the same port. Off by default. Clients: curl (one we did not write),
// nghttp2's client session, and raw bytes for the preface's edge cases.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "h2_socket_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;
using testing::exchange_h2;
using testing::H2TestClient;
using testing::StreamWebSocket;

constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

ServerOptions h2c_options(bool h2c = true) {
  ServerOptions options;
  options.threads = 1;
  options.http2_prior_knowledge = h2c;
  options.handshake_timeout = 10s;
  options.http = [](const HttpRequest& request) {
    proto::HttpResponse response;
    response.status = 200;
    response.body = "page " + std::string(request.path) + "\n";
    response.headers = {{"Content-Type", "text/plain"}};
    return response;
  };
  return options;
}

Behavior echo_route(std::vector<Transport>* transports = nullptr) {
  Behavior echo;
  echo.open = [transports](WebSocket& ws) {
    if (transports != nullptr) transports->push_back(ws.transport());
  };
  echo.message = [](WebSocket& ws, Message message) { ws.send(message.data, message.kind); };
  return echo;
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

std::string curl(std::uint16_t port, std::string_view how) {
  return run("curl -sS --max-time 10 " + std::string(how) +
             " -w '|%{http_version}' http://127.0.0.1:" + std::to_string(port) + "/curl 2>&1");
}

// Reads until `marker` shows up, EOF or 10 s.
std::string read_until(RawWsClient& client, std::string_view marker) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.find(marker) == std::string::npos && !client.eof() &&
         std::chrono::steady_clock::now() < deadline) {
    const std::vector<std::uint8_t> bytes = client.read_some(100ms);
    got.append(bytes.begin(), bytes.end());
  }
  return got;
}

// Each write leaves as its own segment, so the server reads the pieces apart (a pause between
// them lets the first be read alone: it only makes the test stricter, never flaky).
void write_in_pieces(RawWsClient& client, std::string_view first, std::string_view rest) {
  const int on = 1;
  ::setsockopt(client.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  ASSERT_TRUE(client.write_all(first));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(client.write_all(rest));
}

TEST(ServerH2c, CurlWithPriorKnowledgeGetsHttp2AndOthersHttp1) {
  ASSERT_EQ(std::system("command -v curl > /dev/null"), 0)
      << "curl is needed (scripts/install-deps.sh installs it)";
  Server server(h2c_options());
  RunningServer running(server);
  EXPECT_EQ(curl(running.port(), "--http2-prior-knowledge"), "page /curl\n|2");
  EXPECT_EQ(curl(running.port(), "--http1.1"), "page /curl\n|1.1");
}

TEST(ServerH2c, OffByDefault) {
  ASSERT_EQ(std::system("command -v curl > /dev/null"), 0)
      << "curl is needed (scripts/install-deps.sh installs it)";
  EXPECT_FALSE(ServerOptions{}.http2_prior_knowledge);
  Server server(h2c_options(false));
  RunningServer running(server);
  // The preface is no HTTP/1.1 request: curl gets no page.
  const std::string out = curl(running.port(), "--http2-prior-knowledge");
  EXPECT_EQ(out.find("page /curl"), std::string::npos) << out;
  EXPECT_EQ(curl(running.port(), "--http1.1"), "page /curl\n|1.1");
}

TEST(ServerH2c, WebSocketStreamsEchoOverCleartextHttp2) {
  std::vector<Transport> transports;  // written on the server thread before the 200 leaves
  Server server(h2c_options());
  server.route("/echo", echo_route(&transports));
  RunningServer running(server);
  RawWsClient socket(running.port());
  H2TestClient h2;
  const std::int32_t a = h2.request(testing::h2_websocket("/echo", "http"), std::nullopt, true);
  const std::int32_t b = h2.request(testing::h2_websocket("/echo", "http"), std::nullopt, true);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    return h2.responses[a].header(":status").has_value() &&
           h2.responses[b].header(":status").has_value();
  }));
  EXPECT_EQ(h2.responses[a].header(":status"), "200");
  EXPECT_EQ(h2.responses[b].header(":status"), "200");
  EXPECT_EQ(h2.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
  StreamWebSocket wa, wb;
  wa.connection.send_text("over h2c a");
  wa.send_queued(h2, a);
  wb.connection.send_text("over h2c b");
  wb.send_queued(h2, b);
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    wa.take(h2.responses[a]);
    wb.take(h2.responses[b]);
    return !wa.messages.empty() && !wb.messages.empty();
  }));
  EXPECT_EQ(wa.messages, std::vector<std::string>{"over h2c a"});
  EXPECT_EQ(wb.messages, std::vector<std::string>{"over h2c b"});
  EXPECT_EQ(transports, (std::vector<Transport>{Transport::http2, Transport::http2}));
}

TEST(ServerH2c, HttpOneWebSocketsStillOpenOnTheSamePort) {
  std::vector<Transport> transports;
  Server server(h2c_options());
  server.route("/echo", echo_route(&transports));
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/echo"));
  ASSERT_TRUE(client.send("over HTTP/1.1"));
  const std::optional<test::RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->text(), "over HTTP/1.1");
  EXPECT_EQ(transports, std::vector<Transport>{Transport::http1});
}

TEST(ServerH2c, APrefaceSplitOverReadsIsStillHttp2) {
  Server server(h2c_options());
  RunningServer running(server);
  RawWsClient socket(running.port());
  H2TestClient h2;
  const std::int32_t id = h2.request(testing::h2_get("/split", "http"));
  const std::string bytes = h2.take_output();
  ASSERT_TRUE(bytes.starts_with(preface));
  write_in_pieces(socket, std::string_view(bytes).substr(0, 5), std::string_view(bytes).substr(5));
  ASSERT_TRUE(exchange_h2(socket, h2, [&] { return h2.responses[id].ended; }));
  EXPECT_EQ(h2.responses[id].data, "page /split\n");
}

TEST(ServerH2c, ARequestThatStartsLikeThePrefaceIsHttp1) {
  // "P", then "UT ...": as far as the first byte goes it could be the preface.
  Server server(h2c_options());
  RunningServer running(server);
  RawWsClient client(running.port());
  write_in_pieces(client, "P", "UT /put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
  const std::string answer = read_until(client, "page /put");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200")) << answer;
  EXPECT_NE(answer.find("page /put"), std::string::npos) << answer;
}

TEST(ServerH2c, AClientStuckInThePrefaceIsDroppedAtTheHandshakeTimeout) {
  ServerOptions options = h2c_options();
  options.handshake_timeout = 300ms;
  Server server(options);
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.write_all(preface.substr(0, 10)));
  EXPECT_TRUE(client.wait_eof(10s));
  client.close_socket();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server.connections() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server.connections(), 0u);
}

}  // namespace
}  // namespace wsx
