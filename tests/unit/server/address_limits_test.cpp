// ServerOptions::address_limits through a real server: 503 at a client's connection cap, 429
// once its handshake bucket is empty, both with Retry-After, counted and logged; a closed
// connection gives its place back; loopback is exempt by default.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
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
using test::RunningServer;

const std::string request =
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// Sends the request and reads the answer's head (and, for a refusal, all until EOF).
std::string handshake(RawWsClient& client) {
  if (!client.write_all(request)) return {};
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!client.eof() && std::chrono::steady_clock::now() < deadline) {
    const std::vector<std::uint8_t> bytes = client.read_some(100ms);
    response.append(bytes.begin(), bytes.end());
    if (response.starts_with("HTTP/1.1 101") && response.find("\r\n\r\n") != std::string::npos) {
      break;
    }
  }
  return response;
}

struct LimitedServer {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<int, std::string>> log;  // status, reason
  std::unique_ptr<Server> server;
  std::unique_ptr<RunningServer> running;

  explicit LimitedServer(AddressLimits limits) {
    ServerOptions options{.threads = 2};
    options.address_limits = limits;
    options.access_log = [this](const AccessRecord& record) {
      const std::lock_guard lock(mutex);
      log.emplace_back(record.status, std::string(record.reason));
      changed.notify_all();
    };
    server = std::make_unique<Server>(options);
    server->route("/ws", {});
    running = std::make_unique<RunningServer>(*server);
  }
  std::vector<std::pair<int, std::string>> wait_log(std::size_t count) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 10s, [&] { return log.size() >= count; });
    return log;
  }
  // The server's count of connections reaching `count` (a close is seen asynchronously).
  bool wait_connections(std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (server->connections() != count) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
};

TEST(AddressLimits, ConnectionCapAnswers503WithRetryAfterAndReleasesOnClose) {
  LimitedServer limited(
      {.max_connections = 2, .handshakes_per_second = 0, .exempt_loopback = false});
  const std::uint16_t port = limited.running->port();
  auto first = std::make_unique<RawWsClient>(port);
  RawWsClient second(port);
  ASSERT_TRUE(handshake(*first).starts_with("HTTP/1.1 101 "));
  ASSERT_TRUE(handshake(second).starts_with("HTTP/1.1 101 "));
  {
    RawWsClient third(port);
    const std::string response = handshake(third);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 503 ")) << response;
    EXPECT_NE(response.find("Retry-After: 5\r\n"), std::string::npos) << response;
    EXPECT_NE(response.find("too many connections from this address"), std::string::npos);
  }
  EXPECT_EQ(limited.server->address_limit_stats().refused_connections, 1u);
  // Two threads write the access log, and a 101's line follows its response to the socket:
  // the refusal's line may come before the second 101's.
  auto log = limited.wait_log(3);
  ASSERT_EQ(log.size(), 3u);
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log[0], (std::pair<int, std::string>{101, ""}));
  EXPECT_EQ(log[1], (std::pair<int, std::string>{101, ""}));
  EXPECT_EQ(log[2], (std::pair<int, std::string>{503, "too many connections from this address"}));
  // A closed connection gives its place back.
  first.reset();
  ASSERT_TRUE(limited.wait_connections(1));
  RawWsClient fourth(port);
  EXPECT_TRUE(handshake(fourth).starts_with("HTTP/1.1 101 "));
}

TEST(AddressLimits, HandshakeRateAnswers429WithRetryAfterOnceTheBucketIsEmpty) {
  // Two at once, then one every 100 s: the third within the test is refused.
  LimitedServer limited({.max_connections = 0,
                         .handshakes_per_second = 0.01,
                         .handshake_burst = 2,
                         .exempt_loopback = false});
  const std::uint16_t port = limited.running->port();
  for (int i = 0; i < 2; ++i) {
    RawWsClient client(port);
    EXPECT_TRUE(handshake(client).starts_with("HTTP/1.1 101 ")) << i;
  }
  RawWsClient refused(port);
  const std::string response = handshake(refused);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 429 ")) << response;
  const std::size_t at = response.find("Retry-After: ");
  ASSERT_NE(at, std::string::npos) << response;
  const int seconds = std::stoi(response.substr(at + 13));
  EXPECT_GE(seconds, 90);  // about 100 s until the next token
  EXPECT_LE(seconds, 100);
  EXPECT_EQ(limited.server->address_limit_stats().refused_rate, 1u);
  auto log = limited.wait_log(3);  // in any order, as above
  ASSERT_EQ(log.size(), 3u);
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log[0], (std::pair<int, std::string>{101, ""}));
  EXPECT_EQ(log[2], (std::pair<int, std::string>{429, "handshake rate of this address exceeded"}));
}

TEST(AddressLimits, LoopbackIsExemptByDefault) {
  LimitedServer limited(
      {.max_connections = 1, .handshakes_per_second = 0.01, .handshake_burst = 1});
  std::vector<std::unique_ptr<RawWsClient>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<RawWsClient>(limited.running->port()));
    EXPECT_TRUE(handshake(*clients.back()).starts_with("HTTP/1.1 101 ")) << i;
  }
  const AddressLimitStats stats = limited.server->address_limit_stats();
  EXPECT_EQ(stats.refused_connections + stats.refused_rate, 0u);
}

TEST(AddressLimits, DefaultsAreOnForOtherAddresses) {
  const AddressLimits defaults = ServerOptions{}.address_limits;
  EXPECT_GT(defaults.max_connections, 0u);
  EXPECT_GT(defaults.handshakes_per_second, 0.0);
  EXPECT_GE(defaults.handshake_burst, 1.0);
  EXPECT_TRUE(defaults.exempt_loopback);
  EXPECT_EQ(defaults.ipv6_prefix_length, 64u);
}

}  // namespace
}  // namespace wsx
