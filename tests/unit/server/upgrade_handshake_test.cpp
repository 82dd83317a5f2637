// The answers of the server's handshake stage that an application plugs into: plain HTTP
// requests handed to ServerOptions::http, and one ServerOptions::access_log record per answer.
#include "server/upgrade_handshake.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "raw_ws_client.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;

class RunningServer {
 public:
  explicit RunningServer(Server& server) : server_(server) {
    EXPECT_FALSE(server_.listen("127.0.0.1", 0));
    thread_ = std::thread([this] { server_.run(); });
  }
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return server_.port(); }

 private:
  Server& server_;
  std::thread thread_;
};

// Sends `request` and reads everything until the server closes: the whole response.
std::string fetch(std::uint16_t port, std::string_view request) {
  RawWsClient client(port);
  if (!client.write_all(request)) return {};
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!client.eof() && std::chrono::steady_clock::now() < deadline) {
    const std::vector<std::uint8_t> bytes = client.read_some(100ms);
    response.append(bytes.begin(), bytes.end());
  }
  return response;
}

// What the access log saw, copied out of the server thread.
struct Entry {
  std::string remote, method, target, origin, subprotocol, extensions;
  bool has_origin = false;
  int status = 0;
  std::size_t body_size = 0;
};

struct AccessLog {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Entry> entries;

  std::function<void(const AccessRecord&)> callback() {
    return [this](const AccessRecord& record) {
      std::lock_guard lock(mutex);
      entries.push_back({std::string(record.remote_address), std::string(record.method),
                         std::string(record.target), std::string(record.origin.value_or("")),
                         std::string(record.subprotocol), std::string(record.extensions),
                         record.origin.has_value(), record.status, record.body_size});
      changed.notify_all();
    };
  }
  std::vector<Entry> wait(std::size_t count) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 5s, [&] { return entries.size() >= count; });
    return entries;
  }
};

ServerOptions with_http() {
  ServerOptions options{.threads = 1};
  options.http = [](const HttpRequest& request) {
    proto::HttpResponse response;
    if (request.path != "/page") {
      response.status = 404;
      return response;
    }
    response.status = 200;
    response.headers.emplace_back("Content-Type", "text/html");
    response.body = "<p>" + std::string(request.method) + " " + std::string(request.query) + " " +
                    std::string(request.header("X-Test").value_or("-")) + "</p>";
    return response;
  };
  return options;
}

TEST(PlainHttp, HandlerAnswersGetOnPathsWithoutRoute) {
  Server server(with_http());
  server.route("/ws", {});
  RunningServer running(server);
  const std::string response =
      fetch(running.port(), "GET /page?a=1 HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\n\r\n");
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200 OK\r\n")) << response;
  EXPECT_NE(response.find("Content-Type: text/html\r\n"), std::string::npos);
  EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(response.find("Content-Length: 18\r\n"), std::string::npos);
  EXPECT_TRUE(response.ends_with("\r\n\r\n<p>GET a=1 yes</p>")) << response;
  EXPECT_TRUE(
      fetch(running.port(), "GET /other HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 404 "));
}

TEST(PlainHttp, HeadGetsTheHeadWithoutBody) {
  Server server(with_http());
  RunningServer running(server);
  const std::string response = fetch(running.port(), "HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200 OK\r\n")) << response;
  EXPECT_NE(response.find("Content-Length: 14\r\n"), std::string::npos) << response;
  EXPECT_TRUE(response.ends_with("\r\n\r\n")) << response;
}

TEST(PlainHttp, RoutesAndUpgradesDoNotReachTheHandler) {
  Server server(with_http());
  server.route("/page", {});  // a WebSocket route wins over the handler
  RunningServer running(server);
  EXPECT_TRUE(
      fetch(running.port(), "GET /page HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 426 "));
  // An upgrade attempt to a path without a route is a 404, not a page.
  EXPECT_TRUE(
      fetch(running.port(), "GET /nothing HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
          .starts_with("HTTP/1.1 404 "));
}

TEST(PlainHttp, WithoutHandlerUnknownPathsStay404) {
  Server server({.threads = 1});
  RunningServer running(server);
  EXPECT_TRUE(
      fetch(running.port(), "GET /page HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 404 "));
}

// The router and the handshake share one parse of the request-target. Before, the router took
// a path from any "scheme://" and kept a fragment, so the route (or the http handler) saw a path
// the handshake would refuse: "ftp://h/page" reached the page, "/page#x" was a 404 while the
// handshake said 400, "/chat#x" on a WebSocket route was a 404 too.
TEST(PlainHttp, TargetsTheHandshakeRefusesReachNoRouteAndNoHandler) {
  Server server(with_http());
  server.route("/chat", {});
  RunningServer running(server);
  const std::string upgrade =
      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  for (const char* target :
       {"ftp://h/page", "/page#x", "gopher://h/page?a=1", "ws://user@h/page", "/page?a#b"}) {
    const std::string response =
        fetch(running.port(), "GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(response.starts_with("HTTP/1.1 400 ")) << target << "\n" << response;
  }
  for (const char* target : {"/chat#x", "ftp://h/chat", "ws:///chat", "ws://h#/chat"}) {
    const std::string response =
        fetch(running.port(),
              "GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\n" + upgrade + "\r\n");
    EXPECT_TRUE(response.starts_with("HTTP/1.1 400 ")) << target << "\n" << response;
  }
  // The forms both accept still route the same way.
  EXPECT_TRUE(fetch(running.port(), "GET http://h/page?a=2 HTTP/1.1\r\nHost: h\r\n\r\n")
                  .ends_with("<p>GET a=2 -</p>"));
  EXPECT_TRUE(fetch(running.port(), "GET wss://h/chat HTTP/1.1\r\nHost: h\r\n" + upgrade + "\r\n")
                  .starts_with("HTTP/1.1 101 "));
}

TEST(AccessLog, RecordsAcceptedUpgradesWithSubprotocolAndExtensions) {
  AccessLog log;
  ServerOptions options{.threads = 1};
  options.access_log = log.callback();
  Server server(options);
  server.route("/chat", {.subprotocols = {"chat.v1"},
                         .origin = OriginPolicy::allow({"http://page.example"}),
                         .deflate = proto::DeflateServerOptions{}});
  RunningServer running(server);
  RawWsClient client(running.port());
  proto::ClientRequestOptions request;
  request.origin = "http://page.example";
  request.subprotocols = {"chat.v1"};
  request.deflate = proto::DeflateClientOptions{};
  ASSERT_TRUE(client.handshake(request, "/chat?x=1"));
  const std::vector<Entry> entries = log.wait(1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].status, 101);
  EXPECT_EQ(entries[0].method, "GET");
  EXPECT_EQ(entries[0].target, "/chat?x=1");
  EXPECT_TRUE(entries[0].has_origin);
  EXPECT_EQ(entries[0].origin, "http://page.example");
  EXPECT_EQ(entries[0].subprotocol, "chat.v1");
  EXPECT_TRUE(entries[0].extensions.starts_with("permessage-deflate")) << entries[0].extensions;
  EXPECT_TRUE(entries[0].remote.starts_with("127.0.0.1:")) << entries[0].remote;
}

TEST(AccessLog, RecordsRefusalsPlainHttpAndMalformedHeads) {
  AccessLog log;
  ServerOptions options = with_http();
  options.access_log = log.callback();
  Server server(options);
  server.route("/ws", {.origin = OriginPolicy::allow({"http://good.example"})});
  RunningServer running(server);
  {
    RawWsClient client(running.port());
    proto::ClientRequestOptions request;
    request.origin = "http://evil.example";
    EXPECT_FALSE(client.handshake(request, "/ws"));
    EXPECT_EQ(client.status(), 403);
  }
  log.wait(1);
  fetch(running.port(), "GET /page HTTP/1.1\r\nHost: x\r\n\r\n");
  log.wait(2);
  fetch(running.port(), "GARBAGE\r\n\r\n");
  const std::vector<Entry> entries = log.wait(3);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].status, 403);
  EXPECT_EQ(entries[0].target, "/ws");
  EXPECT_EQ(entries[0].origin, "http://evil.example");
  EXPECT_TRUE(entries[0].subprotocol.empty());
  EXPECT_EQ(entries[1].status, 200);
  EXPECT_EQ(entries[1].target, "/page");
  EXPECT_FALSE(entries[1].has_origin);
  EXPECT_EQ(entries[1].body_size, 13u);  // "<p>GET  -</p>"
  EXPECT_EQ(entries[2].status, 400);
  EXPECT_TRUE(entries[2].method.empty());
  EXPECT_FALSE(entries[2].remote.empty());
}

}  // namespace
}  // namespace wsx
