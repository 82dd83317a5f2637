#include <gtest/gtest.h>

#include "wsx/redis_broker.hpp"

namespace wsx {
namespace {

TEST(RedisUrl, HostAndPort) {
  const std::optional<RedisEndpoint> endpoint = parse_redis_url("redis://127.0.0.1:6380/");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->host, "127.0.0.1");
  EXPECT_EQ(endpoint->port, 6380);
  EXPECT_FALSE(endpoint->has_password);
  EXPECT_EQ(endpoint->database, 0);
  EXPECT_FALSE(endpoint->tls);
}

TEST(RedisUrl, RedissIsTlsWithTheSameParts) {
  const std::optional<RedisEndpoint> endpoint =
      parse_redis_url("rediss://:pw@redis.example:6380/2");
  ASSERT_TRUE(endpoint);
  EXPECT_TRUE(endpoint->tls);
  EXPECT_EQ(endpoint->host, "redis.example");
  EXPECT_EQ(endpoint->port, 6380);
  EXPECT_EQ(endpoint->password, "pw");
  EXPECT_EQ(endpoint->database, 2);
}

TEST(RedisUrl, DefaultPortAndNoSlash) {
  const std::optional<RedisEndpoint> endpoint = parse_redis_url("redis://cache.internal");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->host, "cache.internal");
  EXPECT_EQ(endpoint->port, 6379);
}

TEST(RedisUrl, UserPasswordAndDatabase) {
  const std::optional<RedisEndpoint> endpoint =
      parse_redis_url("redis://alice:s%40cr%3At@10.0.0.5:7000/3");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->user, "alice");
  EXPECT_EQ(endpoint->password, "s@cr:t");
  EXPECT_TRUE(endpoint->has_password);
  EXPECT_EQ(endpoint->host, "10.0.0.5");
  EXPECT_EQ(endpoint->port, 7000);
  EXPECT_EQ(endpoint->database, 3);
}

TEST(RedisUrl, PasswordOnly) {
  const std::optional<RedisEndpoint> endpoint = parse_redis_url("redis://:hunter2@localhost/");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->user, "");
  EXPECT_EQ(endpoint->password, "hunter2");
  EXPECT_TRUE(endpoint->has_password);
}

TEST(RedisUrl, PasswordWithAtSignUsesTheLastAt) {
  const std::optional<RedisEndpoint> endpoint = parse_redis_url("redis://u:p@ss@h:1/");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->password, "p@ss");
  EXPECT_EQ(endpoint->host, "h");
}

TEST(RedisUrl, Ipv6Host) {
  const std::optional<RedisEndpoint> endpoint = parse_redis_url("redis://[::1]:6390/");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->host, "::1");
  EXPECT_EQ(endpoint->port, 6390);
}

TEST(RedisUrl, RefusesWhatItCannotUse) {
  for (const char* url : {"http://127.0.0.1/", "redis+tls://127.0.0.1/",
                          "rediss:/h",         "rediss://",
                          "unix:///r.sock",    "redis://",
                          "redis://:6379/",    "redis://h:0/",
                          "redis://h:65536/",  "redis://h:-1/",
                          "redis://h:12ab/",   "redis://h:/",
                          "redis://user@h/",   "redis://u:%zz@h/",
                          "redis://u:%4@h/",   "redis://[::1/",
                          "redis://[::1]x/",   "redis://h/db",
                          "redis://h/-1",      "redis:/h"}) {
    std::string error;
    EXPECT_FALSE(parse_redis_url(url, &error)) << url;
    EXPECT_FALSE(error.empty()) << url;
  }
}

TEST(RedisUrl, MakeBrokerThrowsOnABadUrl) {
  EXPECT_THROW(make_redis_broker({.url = "redis://h:99999/"}), std::invalid_argument);
}

TEST(RedisUrl, MakeBrokerThrowsOnTlsOptionsItCannotUse) {
  // TLS options with a plaintext URL would silently do nothing.
  EXPECT_THROW(make_redis_broker({.url = "redis://h/", .tls_ca_file = "/etc/ssl/certs/x.pem"}),
               std::invalid_argument);
  EXPECT_THROW(make_redis_broker({.url = "redis://h/", .tls_insecure_skip_verify = true}),
               std::invalid_argument);
  // A CA file that is not there, or a certificate without its key.
  EXPECT_THROW(make_redis_broker({.url = "rediss://h/", .tls_ca_file = "/nonexistent/ca.pem"}),
               std::invalid_argument);
  EXPECT_THROW(make_redis_broker({.url = "rediss://h/", .tls_certificate_file = "/tmp/c.pem"}),
               std::invalid_argument);
  EXPECT_NO_THROW(make_redis_broker({.url = "rediss://h/"}));  // the system's CAs
}

}  // namespace
}  // namespace wsx
