// Which transport each WebSocket uses (issue 14 §4), as the access log and /metrics tell it:
// AccessRecord::transport for HTTP/1.1 upgrades, HTTP/2 streams (WebSockets and plain requests)
// and long-polling sessions; wsx_websockets_open / wsx_websockets_opened_total by transport and
// the HTTP/2 connection counts. One server takes all three (h2c beside HTTP/1.1 on one port).
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "h2_socket_client.hpp"
#include "poll_test_client.hpp"
#include "running_server.hpp"
#include "wsx/metrics.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;
using testing::exchange_h2;
using testing::H2TestClient;

// The value of the sample line that starts with `series`, or -1 when there is none.
double sample(const std::string& text, const std::string& series) {
  const std::string start = series + " ";
  for (std::size_t at = 0; (at = text.find(start, at)) != std::string::npos; at += start.size()) {
    if (at == 0 || text[at - 1] == '\n') {
      return std::stod(text.substr(at + start.size(), text.find('\n', at) - at - start.size()));
    }
  }
  return -1;
}

// Waits until every series has its value (counted on the server thread, maybe just after the
// client saw the effect); true when they all did.
bool reach(const Server& server, const std::vector<std::pair<std::string, double>>& expected,
           std::string* text) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    *text = server.metrics().scrape();
    bool all = true;
    for (const auto& [series, value] : expected) all = all && sample(*text, series) == value;
    if (all) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

struct TransportServer {
  std::mutex mutex;
  std::vector<std::string> log;  // "METHOD target status transport"
  Server server;
  RunningServer running;

  static ServerOptions options(TransportServer& self) {
    ServerOptions opts;
    opts.threads = 1;
    opts.http2_prior_knowledge = true;
    opts.http = [](const HttpRequest&) {
      proto::HttpResponse response;
      response.status = 200;
      response.body = "page\n";
      return response;
    };
    opts.access_log = [&self](const AccessRecord& record) {
      const std::lock_guard lock(self.mutex);
      self.log.push_back(std::string(record.method) + " " + std::string(record.target) + " " +
                         std::to_string(record.status) + " " +
                         std::string(transport_name(record.transport)));
    };
    return opts;
  }
  static Server& routed(Server& server) {
    Behavior echo;
    echo.long_polling = LongPolling{};
    echo.message = [](WebSocket& ws, Message message) { ws.send(message.data, message.kind); };
    server.route("/echo", std::move(echo));
    return server;
  }
  TransportServer() : server(options(*this)), running(routed(server)) {}
  std::vector<std::string> snapshot() {
    const std::lock_guard lock(mutex);
    return log;
  }
};

TEST(TransportObservability, TransportNamesAreStable) {
  // What logs and the metrics' label values say: dashboards and scripts match these.
  EXPECT_EQ(transport_name(Transport::http1), "h1");
  EXPECT_EQ(transport_name(Transport::http2), "h2");
  EXPECT_EQ(transport_name(Transport::long_polling), "long-polling");
}

TEST(TransportObservability, AccessLogNamesTheTransportOfEachAnswer) {
  TransportServer t;
  const std::uint16_t port = t.running.port();
  RawWsClient h1(port);
  ASSERT_TRUE(h1.handshake({}, "/echo"));
  RawWsClient socket(port);
  H2TestClient h2;
  const std::int32_t ws = h2.request(testing::h2_websocket("/echo", "http"), std::nullopt, true);
  const std::int32_t page = h2.request(testing::h2_get("/page", "http"));
  ASSERT_TRUE(exchange_h2(socket, h2, [&] {
    return h2.responses[ws].header(":status").has_value() && h2.responses[page].ended;
  }));
  test::PollTestClient poll(port, "/echo");
  const std::optional<test::HttpAnswer> opened = poll.open();
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->status, 200);
  std::vector<std::string> log = t.snapshot();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0], "GET /echo 101 h1");
  // The order of the two streams' answers is the order of their requests.
  EXPECT_EQ(log[1], "CONNECT /echo 200 h2");
  EXPECT_EQ(log[2], "GET /page 200 h2");
  EXPECT_EQ(log[3], "POST /echo?wsx-poll=open 200 long-polling");
}

TEST(TransportObservability, MetricsCountWebSocketsByTransportAndHttp2Connections) {
  TransportServer t;
  const std::uint16_t port = t.running.port();
  RawWsClient h1(port);
  ASSERT_TRUE(h1.handshake({}, "/echo"));
  auto socket = std::make_unique<RawWsClient>(port);
  H2TestClient h2;
  const std::int32_t a = h2.request(testing::h2_websocket("/echo", "http"), std::nullopt, true);
  const std::int32_t b = h2.request(testing::h2_websocket("/echo", "http"), std::nullopt, true);
  ASSERT_TRUE(exchange_h2(*socket, h2, [&] {
    return h2.responses[a].header(":status").has_value() &&
           h2.responses[b].header(":status").has_value();
  }));
  std::string text;
  EXPECT_TRUE(reach(t.server,
                    {{"wsx_websockets_open{transport=\"h1\"}", 1},
                     {"wsx_websockets_open{transport=\"h2\"}", 2},
                     {"wsx_websockets_open{transport=\"long-polling\"}", 0},
                     {"wsx_websockets_opened_total{transport=\"h2\"}", 2},
                     {"wsx_connections_open", 3},
                     {"wsx_http2_connections_open", 1},
                     {"wsx_http2_connections_total", 1}},
                    &text))
      << text;
  // A reset stream's WebSocket ends: the h2 gauge goes down, the total stays.
  nghttp2_submit_rst_stream(h2.session(), NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL);
  exchange_h2(*socket, h2, [] { return true; });
  EXPECT_TRUE(reach(t.server,
                    {{"wsx_websockets_open{transport=\"h2\"}", 1},
                     {"wsx_websockets_opened_total{transport=\"h2\"}", 2},
                     {"wsx_http2_connections_open", 1}},
                    &text))
      << text;
  // The connection goes, with its last WebSocket.
  socket.reset();
  EXPECT_TRUE(reach(t.server,
                    {{"wsx_websockets_open{transport=\"h2\"}", 0},
                     {"wsx_http2_connections_open", 0},
                     {"wsx_http2_connections_total", 1},
                     {"wsx_websockets_open{transport=\"h1\"}", 1}},
                    &text))
      << text;
  test::PollTestClient poll(port, "/echo");
  ASSERT_TRUE(poll.open());
  EXPECT_TRUE(reach(t.server,
                    {{"wsx_websockets_open{transport=\"long-polling\"}", 1},
                     {"wsx_websockets_opened_total{transport=\"long-polling\"}", 1},
                     {"wsx_websockets_opened_total{transport=\"h1\"}", 1}},
                    &text))
      << text;
}

}  // namespace
}  // namespace wsx
