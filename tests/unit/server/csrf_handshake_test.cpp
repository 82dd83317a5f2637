// Behavior::csrf through a real server: 403 with the reason (body and access log; an Origin
// refusal's too), tokens in the query and in Sec-WebSocket-Protocol, csrf.* entries never echoed
// nor shown to the application.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/csrf.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RunningServer;

constexpr std::string_view cookie_name = "app_session";

std::string fetch(std::uint16_t port, std::string_view request) {
  RawWsClient client(port);
  if (!client.write_all(request)) return {};
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!client.eof() && std::chrono::steady_clock::now() < deadline) {
    const std::vector<std::uint8_t> bytes = client.read_some(100ms);
    response.append(bytes.begin(), bytes.end());
    // A 101 keeps the connection open: its head is all we need.
    if (response.starts_with("HTTP/1.1 101") && response.find("\r\n\r\n") != std::string::npos) {
      break;
    }
  }
  return response;
}

std::string upgrade(std::string_view target, std::string_view extra_headers) {
  return "GET " + std::string(target) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         std::string(extra_headers) + "\r\n";
}

std::string cookie(std::string_view session) {
  return "Cookie: theme=dark; " + std::string(cookie_name) + "=" + std::string(session) + "\r\n";
}

std::string body_of(const std::string& response) {
  const std::size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

struct Logged {
  int status = 0;
  std::string reason;
  std::string target;
};

struct Fixture {
  std::shared_ptr<CsrfTokens> tokens = std::make_shared<CsrfTokens>(CsrfTokens::generate());
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Logged> log;
  std::vector<std::vector<std::string>> offered;  // what the upgrade callback saw
  int upgrades = 0;
  std::unique_ptr<Server> server;
  std::unique_ptr<RunningServer> running;

  explicit Fixture(std::vector<std::string> route_subprotocols = {}) {
    ServerOptions options{.threads = 1};
    options.access_log = [this](const AccessRecord& record) {
      const std::lock_guard lock(mutex);
      log.push_back({record.status, std::string(record.reason), std::string(record.target)});
      changed.notify_all();
    };
    server = std::make_unique<Server>(options);
    Behavior behavior;
    behavior.csrf = CsrfCheck{tokens, std::string(cookie_name)};
    behavior.subprotocols = std::move(route_subprotocols);
    behavior.upgrade = [this](const UpgradeRequest& request) {
      const std::lock_guard lock(mutex);
      ++upgrades;
      offered.emplace_back(request.subprotocols.begin(), request.subprotocols.end());
      return UpgradeDecision::accept();
    };
    server->route("/ws", std::move(behavior));
    Behavior echo_first;  // answers with the first subprotocol offered, as naive apps do
    echo_first.upgrade = [](const UpgradeRequest& request) {
      return UpgradeDecision::accept(
          request.subprotocols.empty() ? std::string() : std::string(request.subprotocols[0]));
    };
    server->route("/open", std::move(echo_first));
    running = std::make_unique<RunningServer>(*server);
  }

  std::vector<Logged> wait_log(std::size_t count) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 10s, [&] { return log.size() >= count; });
    return log;
  }
  int upgrade_calls() {
    const std::lock_guard lock(mutex);
    return upgrades;
  }
};

TEST(CsrfHandshake, ValidTokenInTheQueryIsAccepted) {
  Fixture fixture;
  const std::string token = fixture.tokens->issue("s1");
  const std::string response =
      fetch(fixture.running->port(), upgrade("/ws?x=1&csrf=" + token, cookie("s1")));
  EXPECT_TRUE(response.starts_with("HTTP/1.1 101 ")) << response;
  EXPECT_EQ(fixture.upgrade_calls(), 1);
}

TEST(CsrfHandshake, ValidTokenAsSubprotocolIsAcceptedAndNeverEchoed) {
  Fixture fixture({"chat"});
  const std::string token = fixture.tokens->issue("s1");
  const std::string response =
      fetch(fixture.running->port(),
            upgrade("/ws", cookie("s1") + "Sec-WebSocket-Protocol: csrf." + token + ", chat\r\n"));
  EXPECT_TRUE(response.starts_with("HTTP/1.1 101 ")) << response;
  EXPECT_NE(response.find("Sec-WebSocket-Protocol: chat\r\n"), std::string::npos) << response;
  EXPECT_EQ(response.find(token), std::string::npos) << response;
  const std::lock_guard lock(fixture.mutex);
  ASSERT_EQ(fixture.offered.size(), 1u);
  EXPECT_EQ(fixture.offered[0], std::vector<std::string>{"chat"});  // the token entry is hidden
}

TEST(CsrfHandshake, TokenEntryAloneGetsNoSubprotocolInTheAnswer) {
  Fixture fixture;
  const std::string token = fixture.tokens->issue("s1");
  const std::string response =
      fetch(fixture.running->port(),
            upgrade("/ws", cookie("s1") + "Sec-WebSocket-Protocol: csrf." + token + "\r\n"));
  EXPECT_TRUE(response.starts_with("HTTP/1.1 101 ")) << response;
  EXPECT_EQ(response.find("Sec-WebSocket-Protocol"), std::string::npos) << response;
}

TEST(CsrfHandshake, RoutesWithoutCsrfNeverEchoATokenEntryEither) {
  Fixture fixture;
  const std::string response =
      fetch(fixture.running->port(),
            upgrade("/open", "Sec-WebSocket-Protocol: csrf.secret-token-value, v2\r\n"));
  EXPECT_TRUE(response.starts_with("HTTP/1.1 101 ")) << response;
  EXPECT_NE(response.find("Sec-WebSocket-Protocol: v2\r\n"), std::string::npos) << response;
  EXPECT_EQ(response.find("secret-token-value"), std::string::npos) << response;
}

TEST(CsrfHandshake, RefusalsAre403WithTheReasonInBodyAndAccessLog) {
  Fixture fixture;
  const CsrfTokens other = CsrfTokens::generate();
  const std::string token = fixture.tokens->issue("s1");
  const std::string expired =
      fixture.tokens->issue("s1", CsrfTokens::Clock::now() - std::chrono::hours(2));
  struct Case {
    std::string request;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {upgrade("/ws", cookie("s1")), "csrf token missing"},
      {upgrade("/ws?csrf=", cookie("s1")), "csrf token missing"},
      {upgrade("/ws?csrf=" + token, ""), "no session cookie for the csrf token"},
      {upgrade("/ws?csrf=" + token, "Cookie: app_session_x=s1\r\n"),
       "no session cookie for the csrf token"},
      {upgrade("/ws?csrf=" + token.substr(0, 95), cookie("s1")), "csrf token malformed"},
      {upgrade("/ws?csrf=" + other.issue("s1"), cookie("s1")), "csrf token forged"},
      {upgrade("/ws?csrf=" + expired, cookie("s1")), "csrf token expired"},
      {upgrade("/ws?csrf=" + token, cookie("s2")), "csrf token of another session"},
      {upgrade("/ws", cookie("s1") + "Sec-WebSocket-Protocol: csrf." + other.issue("s1") + "\r\n"),
       "csrf token forged"},
      // Checked first, with a valid token: the log tells an Origin refusal from a CSRF one.
      {upgrade("/ws?csrf=" + token, cookie("s1") + "Origin: https://evil.example\r\n"),
       "origin not allowed"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string response = fetch(fixture.running->port(), cases[i].request);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 403 ")) << i << ": " << response;
    EXPECT_EQ(body_of(response), cases[i].reason + "\n") << i;
  }
  const std::vector<Logged> log = fixture.wait_log(cases.size());
  ASSERT_EQ(log.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(log[i].status, 403) << i;
    EXPECT_EQ(log[i].reason, cases[i].reason) << i;
  }
  EXPECT_EQ(fixture.upgrade_calls(), 0);  // refused before the application's decision
}

TEST(CsrfHandshake, RotatedSecretStillAcceptsEarlierTokens) {
  Fixture fixture;
  const std::string before = fixture.tokens->issue("s1");
  fixture.tokens->rotate(std::vector<std::uint8_t>(32, 7));
  EXPECT_TRUE(fetch(fixture.running->port(), upgrade("/ws?csrf=" + before, cookie("s1")))
                  .starts_with("HTTP/1.1 101 "));
  const std::string after = fixture.tokens->issue("s1");
  EXPECT_TRUE(fetch(fixture.running->port(), upgrade("/ws?csrf=" + after, cookie("s1")))
                  .starts_with("HTTP/1.1 101 "));
}

TEST(CsrfHandshake, AsyncDecisionsSeeNoTokenEntryAndWaitForTheCheck) {
  auto tokens = std::make_shared<CsrfTokens>(CsrfTokens::generate());
  std::mutex mutex;
  std::vector<std::string> seen;
  int calls = 0;
  Server server({.threads = 1});
  Behavior behavior;
  behavior.csrf = CsrfCheck{tokens, std::string(cookie_name)};
  behavior.upgrade_async = [&](const UpgradeRequest& request, UpgradeResponder responder) {
    const std::lock_guard lock(mutex);
    ++calls;
    seen.assign(request.subprotocols.begin(), request.subprotocols.end());
    responder.accept(seen.empty() ? std::string() : seen.front());
  };
  server.route("/ws", std::move(behavior));
  RunningServer running(server);
  const std::string token = tokens->issue("s1");
  EXPECT_TRUE(fetch(running.port(), upgrade("/ws", cookie("s1") + "Sec-WebSocket-Protocol: csrf." +
                                                       token.substr(1) + "\r\n"))
                  .starts_with("HTTP/1.1 403 "));
  const std::string response =
      fetch(running.port(),
            upgrade("/ws", cookie("s1") + "Sec-WebSocket-Protocol: csrf." + token + ", v1\r\n"));
  EXPECT_TRUE(response.starts_with("HTTP/1.1 101 ")) << response;
  EXPECT_NE(response.find("Sec-WebSocket-Protocol: v1\r\n"), std::string::npos) << response;
  const std::lock_guard lock(mutex);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, std::vector<std::string>{"v1"});
}

}  // namespace
}  // namespace wsx
