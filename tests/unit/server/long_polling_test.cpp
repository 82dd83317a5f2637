// The long-polling transport through a real server: which requests reach it, the checks of its
// open (those of an upgrade), the refusals of later requests, the answers' headers, keep-alive
// and the access log.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "http_test_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;

std::string request(std::uint16_t port, std::string_view method, std::string_view target,
                    std::string_view headers, std::string_view body = {}) {
  std::string text = std::string(method) + " " + std::string(target) +
                     " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n" +
                     std::string(headers);
  if (method == "POST") text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return text + "\r\n" + std::string(body);
}

constexpr std::string_view poll_type = "Content-Type: application/x-wsx-poll\r\n";

struct Logged {
  std::mutex mutex;
  std::vector<std::string> lines;  // "status method target reason"
  void add(const AccessRecord& record) {
    std::lock_guard lock(mutex);
    lines.push_back(std::to_string(record.status) + " " + std::string(record.method) + " " +
                    std::string(record.target) + " " + std::string(record.reason));
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mutex);
    return lines;
  }
};

class LongPollingServer : public ::testing::Test {
 protected:
  LongPollingServer() : server(options()) {
    Behavior echo;
    echo.long_polling = LongPolling{};
    echo.message = [](WebSocket& ws, Message message) { ws.send(message.data, message.kind); };
    server.route("/echo", echo);
    Behavior refusing = echo;
    refusing.upgrade = [](const UpgradeRequest&) {
      return UpgradeDecision::reject(401, "log in first\n");
    };
    server.route("/private", refusing);
    Behavior plain;  // no long polling
    server.route("/plain", plain);
    Behavior guarded = echo;
    guarded.csrf = CsrfCheck{tokens, "sid"};
    server.route("/guarded", guarded);
    running = std::make_unique<test::RunningServer>(server);
  }

  ServerOptions options() {
    ServerOptions opts;
    opts.threads = 2;
    opts.access_log = [this](const AccessRecord& record) { logged.add(record); };
    return opts;
  }

  std::uint16_t port() const { return running->port(); }
  std::string origin() const {
    return "Origin: http://127.0.0.1:" + std::to_string(port()) + "\r\n";
  }

  std::optional<test::HttpAnswer> ask(std::string text) {
    test::HttpTestClient client(port());
    EXPECT_TRUE(client.connected());
    return client.request(text);
  }

  std::shared_ptr<CsrfTokens> tokens = std::make_shared<CsrfTokens>(CsrfTokens::generate());
  Logged logged;
  Server server;
  std::unique_ptr<test::RunningServer> running;
};

TEST_F(LongPollingServer, RouteWithoutLongPollingTreatsItAsAPlainRequest) {
  const auto answer = ask(request(port(), "POST", "/plain?wsx-poll=open", poll_type));
  const auto without = ask(request(port(), "POST", "/plain", poll_type));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(without);
  EXPECT_EQ(answer->status, 400);  // a POST to a WebSocket route, as any other
  EXPECT_EQ(answer->body, without->body);
}

TEST_F(LongPollingServer, MalformedRequestsGetTheirStatusesWithSafeHeaders) {
  const auto status = [&](std::string text) {
    const auto answer = ask(std::move(text));
    EXPECT_TRUE(answer);
    if (!answer) return 0;
    EXPECT_EQ(answer->header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(answer->header("Cache-Control"), "no-store");
    EXPECT_EQ(answer->header("Content-Type"), "application/json");
    EXPECT_FALSE(answer->keep_alive);
    return answer->status;
  };
  EXPECT_EQ(status(request(port(), "POST", "/echo?wsx-poll=open", origin())), 415);
  EXPECT_EQ(status(request(port(), "POST", "/echo?wsx-poll=open",
                           origin() + "Content-Type: text/plain\r\n")),
            415);
  EXPECT_EQ(status(request(port(), "GET", "/echo?wsx-poll=open", origin())), 405);
  EXPECT_EQ(status(request(port(), "POST", "/echo?wsx-poll=bogus", std::string(poll_type))), 400);
  EXPECT_EQ(status(request(port(), "POST", "/echo?wsx-poll=send",
                           std::string(poll_type) + "Wsx-Session: x\r\n", "abc")),
            400);
  EXPECT_EQ(status("POST /echo?wsx-poll=send&offset=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                   std::string(poll_type) + "Content-Length: 99999999\r\n\r\n"),
            413);
}

TEST_F(LongPollingServer, UnknownSessionsAre404WhicheverThreadTheyReach) {
  // Ids of the right shape naming both threads, one naming no thread, and garbage.
  for (const std::string sid : {"AAAAAAAAAAAAAAAAAAAAAAAA", "AAEAAAAAAAAAAAAAAAAAAAAA",
                                "AAcAAAAAAAAAAAAAAAAAAAAA", "<script>"}) {
    const auto recv = ask(request(port(), "GET", "/echo?wsx-poll=recv&ack=0",
                                  origin() + "Wsx-Session: " + sid + "\r\n"));
    ASSERT_TRUE(recv);
    EXPECT_EQ(recv->status, 404);
    EXPECT_EQ(recv->body, R"({"error":"unknown session"})");  // nothing reflected
    const auto send =
        ask(request(port(), "POST", "/echo?wsx-poll=send&offset=0",
                    origin() + std::string(poll_type) + "Wsx-Session: " + sid + "\r\n", "x"));
    ASSERT_TRUE(send);
    EXPECT_EQ(send->status, 404);
  }
}

TEST_F(LongPollingServer, OpenPassesTheChecksOfAnUpgrade) {
  const auto foreign = ask(request(port(), "POST", "/echo?wsx-poll=open",
                                   "Origin: http://evil.example\r\n" + std::string(poll_type)));
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403);
  const auto refused =
      ask(request(port(), "POST", "/private?wsx-poll=open", origin() + std::string(poll_type)));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(refused->body, "log in first\n");
  const auto tokenless = ask(request(port(), "POST", "/guarded?wsx-poll=open",
                                     origin() + std::string(poll_type) + "Cookie: sid=abc\r\n"));
  ASSERT_TRUE(tokenless);
  EXPECT_EQ(tokenless->status, 403);
  EXPECT_EQ(tokenless->body, "csrf token missing\n");
  const std::string forged = tokens->issue("other-session");
  const auto other = ask(request(port(), "POST", "/guarded?wsx-poll=open&csrf=" + forged,
                                 origin() + std::string(poll_type) + "Cookie: sid=abc\r\n"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403);
  const auto bad_protocols =
      ask(request(port(), "POST", "/echo?wsx-poll=open",
                  origin() + std::string(poll_type) + "Wsx-Protocol: a, a\r\n"));
  ASSERT_TRUE(bad_protocols);
  EXPECT_EQ(bad_protocols->status, 400);
  const std::vector<std::string> lines = logged.all();
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[0], "403 POST /echo?wsx-poll=open origin not allowed");
  EXPECT_EQ(lines[2], "403 POST /guarded?wsx-poll=open csrf token missing");
}

}  // namespace
}  // namespace wsx
