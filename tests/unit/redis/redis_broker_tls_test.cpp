// How the Redis broker reaches Redis: rediss:// against a real redis-server with TLS (started
// by the test with a throw-away PKI), certificate and host name checked by default with an
// explicit opt-out, and host names resolved by wsx rather than by hiredis.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "raw_ws_client.hpp"
#include "redis_node.hpp"
#include "redis_process.hpp"
#include "test_certs.hpp"
#include "wsx/redis_broker.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::LogLines;
using test::RawWsClient;
using test::RedisProcess;
using test::RunningServer;
using test::text_of;

// One server thread is enough here: these tests are about the broker's connection to Redis.
struct Node : test::RedisNode {
  explicit Node(std::shared_ptr<RedisBroker> b) : RedisNode(std::move(b), 1) {}
};

constexpr const char* channel = "wsx:room";

// redis-server with a TLS port besides its plaintext one (which the fixture uses to check it
// is up and to ask it things). Client certificates are required (Redis's default) and must
// come from the test CA.
struct TlsRedis {
  explicit TlsRedis(bool other_ca_server = false)
      : redis(test::RedisProcessOptions{
            .tls = {
                "--tls-cert-file",
                other_ca_server ? test::test_pki().other_server_chain
                                : test::test_pki().server_chain,
                "--tls-key-file",
                other_ca_server ? test::test_pki().other_server_key : test::test_pki().server_key,
                "--tls-ca-cert-file", test::test_pki().ca_certificate}}) {}
  std::string url(const std::string& host = "127.0.0.1") const {
    return "rediss://" + host + ":" + std::to_string(redis.tls_port()) + "/";
  }
  RedisProcess redis;
};

RedisBrokerOptions tls_options(const std::string& url, LogLines& log) {
  RedisBrokerOptions options;
  options.url = url;
  options.log = log.sink();
  options.tls_ca_file = test::test_pki().ca_certificate;
  options.tls_certificate_file = test::test_pki().client_chain;
  options.tls_key_file = test::test_pki().client_key;
  return options;
}

TEST(RedisBrokerTls, TwoNodesShareATopicOverVerifiedTls) {
  TlsRedis tls;
  ASSERT_TRUE(tls.redis.ok());
  LogLines log_a, log_b;
  // One by address, one by name: the certificate names both.
  Node a(make_redis_broker(tls_options(tls.url("127.0.0.1"), log_a)));
  Node b(make_redis_broker(tls_options(tls.url("localhost"), log_b)));
  auto near = a.client();
  auto far = b.client();
  ASSERT_TRUE(eventually([&] { return tls.redis.subscribers(channel) == 2; }))
      << log_a.all() << log_b.all();
  EXPECT_TRUE(a.server.publish("room", "over tls"));
  for (RawWsClient* client : {near.get(), far.get()}) {
    EXPECT_EQ(text_of(client->next_message()), "over tls");
  }
  // Order holds per publisher only: the other node publishes once the first one arrived.
  const std::vector<std::uint8_t> binary = {0, 255, '\r', '\n', 7};
  EXPECT_TRUE(b.server.publish("room", binary, MessageKind::binary));
  for (RawWsClient* client : {near.get(), far.get()}) {
    std::optional<test::RecordedEvent> second = client->next_message();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->data, binary);
  }
  EXPECT_EQ(a.broker->publish_failures(), 0u);
  EXPECT_EQ(b.broker->received(), 2u);
}

TEST(RedisBrokerTls, LargePublishesCrossTheRelayBothWays) {
  // 3 MiB each: more than the relay's 1 MiB bound and the socket pair's buffers, so both
  // directions stop and resume on the way.
  TlsRedis tls;
  ASSERT_TRUE(tls.redis.ok());
  LogLines log;
  Node a(make_redis_broker(tls_options(tls.url(), log)));
  auto client = a.client();
  // The subscription can be in place before the broker counts itself connected: publish()
  // refuses until it does (CI under TSan at load ~10: refused 1 of 468).
  ASSERT_TRUE(eventually([&] {
    return tls.redis.subscribers(channel) == 1 && a.broker->state() == BrokerState::connected;
  })) << log.all();
  std::string big(3 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(a.server.publish("room", big));
  ASSERT_TRUE(a.server.publish("room", "after"));
  // 3 MiB through TLS twice under AddressSanitizer took over 10 s at load 28.
  std::optional<test::RecordedEvent> first = client->next_message(60s);
  ASSERT_TRUE(first);
  EXPECT_TRUE(std::string(first->data.begin(), first->data.end()) == big);
  EXPECT_EQ(text_of(client->next_message(30s)), "after");
}

TEST(RedisBrokerTls, CertificateFromAnotherCaIsRefusedByDefault) {
  TlsRedis tls(/*other_ca_server=*/true);
  ASSERT_TRUE(tls.redis.ok());
  LogLines log;
  Node a(make_redis_broker(tls_options(tls.url(), log)));
  ASSERT_TRUE(eventually([&] { return log.contains("certificate verify failed"); })) << log.all();
  EXPECT_NE(a.broker->state(), BrokerState::connected);
  EXPECT_FALSE(a.server.publish("room", "not over an unverified connection"));
  EXPECT_EQ(tls.redis.subscribers(channel), 0);
}

TEST(RedisBrokerTls, HostNameMustMatchTheCertificate) {
  // A name that reaches the same Redis (every *.localhost name is loopback) but that its
  // certificate (localhost, 127.0.0.1, ::1) does not name.
  TlsRedis tls;
  ASSERT_TRUE(tls.redis.ok());
  LogLines log;
  Node a(make_redis_broker(tls_options(tls.url("redis.localhost"), log)));
  ASSERT_TRUE(eventually([&] { return log.contains("certificate verify failed"); })) << log.all();
  EXPECT_TRUE(log.contains("mismatch")) << log.all();
  EXPECT_NE(a.broker->state(), BrokerState::connected);
}

TEST(RedisBrokerTls, InsecureOptOutConnectsWithoutChecks) {
  TlsRedis tls(/*other_ca_server=*/true);
  ASSERT_TRUE(tls.redis.ok());
  LogLines log;
  RedisBrokerOptions options = tls_options(tls.url("redis.localhost"), log);
  options.tls_ca_file.clear();
  options.tls_insecure_skip_verify = true;
  Node a(make_redis_broker(options));
  auto client = a.client();
  // The subscription can be in place before the broker counts itself connected: publish()
  // refuses until it does (CI under TSan at load ~10: refused 1 of 468).
  ASSERT_TRUE(eventually([&] {
    return tls.redis.subscribers(channel) == 1 && a.broker->state() == BrokerState::connected;
  })) << log.all();
  EXPECT_TRUE(a.server.publish("room", "unchecked"));
  EXPECT_EQ(text_of(client->next_message()), "unchecked");
}

TEST(RedisBrokerTls, PlaintextRedisOnARedissUrlFailsClearly) {
  RedisProcess redis;
  ASSERT_TRUE(redis.ok());
  LogLines log;
  RedisBrokerOptions options;
  options.url = "rediss://127.0.0.1:" + std::to_string(redis.port()) + "/";
  options.log = log.sink();
  options.tls_ca_file = test::test_pki().ca_certificate;
  options.connect_timeout = 1s;
  Node a(make_redis_broker(options));
  ASSERT_TRUE(eventually([&] { return log.contains("cannot reach"); })) << log.all();
  EXPECT_TRUE(log.contains("TLS") || log.contains("connect timeout")) << log.all();
  EXPECT_NE(a.broker->state(), BrokerState::connected);
}

TEST(RedisBrokerResolution, HiredisIsGivenASocketNotAName) {
  // "broker.localhost" is loopback to wsx's resolver (RFC 6761) and unknown to this system's
  // getaddrinfo (no such line in /etc/hosts): hiredis resolving it itself would fail.
  RedisProcess redis;
  ASSERT_TRUE(redis.ok());
  LogLines log;
  RedisBrokerOptions options;
  options.url = "redis://broker.localhost:" + std::to_string(redis.port()) + "/";
  options.log = log.sink();
  Node a(make_redis_broker(options));
  auto client = a.client();
  ASSERT_TRUE(eventually([&] {
    return redis.subscribers(channel) == 1 && a.broker->state() == BrokerState::connected;
  })) << log.all();
  EXPECT_TRUE(a.server.publish("room", "resolved by wsx"));
  EXPECT_EQ(text_of(client->next_message()), "resolved by wsx");
}

TEST(RedisBrokerResolution, UnknownHostIsReportedAndTheNodeKeepsServing) {
  LogLines log;
  RedisBrokerOptions options;
  options.url = "redis://no-such-host.invalid:6379/";  // RFC 6761: never resolves
  options.log = log.sink();
  Node a(make_redis_broker(options));
  ASSERT_TRUE(eventually([&] { return log.contains("cannot resolve no-such-host.invalid"); }))
      << log.all();
  EXPECT_FALSE(a.server.publish("room", "x"));
  auto client = a.client();  // the server still accepts
  EXPECT_FALSE(client->next_message(100ms));
}

}  // namespace
}  // namespace wsx
