// metrics_response() and MetricsAccess: who may read the metrics, and what they get.
#include "wsx/metrics_endpoint.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace wsx {
namespace {

HttpRequest request(std::string_view path, std::string_view remote,
                    std::string_view method = "GET") {
  HttpRequest r;
  r.method = method;
  r.target = path;
  r.path = path;
  r.remote_address = remote;
  return r;
}

std::string header(const proto::HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

TEST(MetricsAccess, DefaultIsLoopbackOnly) {
  const MetricsAccess access;
  EXPECT_TRUE(access.permits("127.0.0.1:5000"));
  EXPECT_TRUE(access.permits("127.255.0.9:5000"));
  EXPECT_TRUE(access.permits("[::1]:5000"));
  EXPECT_TRUE(access.permits("[::ffff:127.0.0.1]:5000"));  // IPv4 through an IPv6 socket
  EXPECT_FALSE(access.permits("128.0.0.1:5000"));
  EXPECT_FALSE(access.permits("10.0.0.1:5000"));
  EXPECT_FALSE(access.permits("[::2]:5000"));
  EXPECT_FALSE(access.permits("[::ffff:10.0.0.1]:5000"));
}

TEST(MetricsAccess, AnAllowListReplacesLoopback) {
  const MetricsAccess access({"10.1.0.0/16", "192.168.7.7", "fd00::/8"});
  EXPECT_TRUE(access.permits("10.1.200.3:1"));
  EXPECT_FALSE(access.permits("10.2.0.1:1"));
  EXPECT_TRUE(access.permits("192.168.7.7:1"));
  EXPECT_FALSE(access.permits("192.168.7.8:1"));
  EXPECT_TRUE(access.permits("[fd12:3456::1]:1"));
  EXPECT_FALSE(access.permits("[fe80::1]:1"));
  EXPECT_FALSE(access.permits("127.0.0.1:1"));
  EXPECT_FALSE(access.permits("[::1]:1"));
}

TEST(MetricsAccess, PrefixesThatAreNotWholeBytes) {
  const MetricsAccess access({"127.0.0.0/31", "10.0.0.0/0"});
  EXPECT_TRUE(access.permits("127.0.0.1:1"));
  EXPECT_TRUE(access.permits("10.9.9.9:1"));
  EXPECT_TRUE(access.permits("200.1.1.1:1"));  // /0: every IPv4 peer
  EXPECT_FALSE(access.permits("[::1]:1"));     // but no IPv6 one
  const MetricsAccess narrow({"127.0.0.0/31"});
  EXPECT_TRUE(narrow.permits("127.0.0.1:1"));
  EXPECT_FALSE(narrow.permits("127.0.0.2:1"));
}

TEST(MetricsAccess, RefusesWhatDoesNotParse) {
  for (const char* bad : {"", "nonsense", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "::1/129",
                          "10.0.0.0/8/8", "10.0.0.256", "10.0.0.0/-1"}) {
    EXPECT_THROW(MetricsAccess({bad}), std::invalid_argument) << bad;
  }
}

TEST(MetricsAccess, AnAddressThatDoesNotParseIsRefused) {
  const MetricsAccess access({"0.0.0.0/0"});
  EXPECT_FALSE(access.permits(""));
  EXPECT_FALSE(access.permits("garbage"));
  EXPECT_FALSE(access.permits("[::1"));
}

TEST(MetricsResponse, ServesTheScrapeToAPermittedPeer) {
  MetricsRegistry registry;
  registry.counter("x_total", "X.").add(3);
  const std::optional<proto::HttpResponse> answer =
      metrics_response(registry, request("/metrics", "127.0.0.1:4000"), MetricsAccess());
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(header(*answer, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(answer->body, registry.scrape());
  EXPECT_NE(answer->body.find("x_total 3\n"), std::string::npos);
}

TEST(MetricsResponse, RefusesOtherPeersWith403AndNothingOfTheMetrics) {
  MetricsRegistry registry;
  registry.counter("secret_total", "S.").add();
  const std::optional<proto::HttpResponse> answer =
      metrics_response(registry, request("/metrics", "10.0.0.1:4000"), MetricsAccess());
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 403);
  EXPECT_EQ(answer->body.find("secret"), std::string::npos);
}

TEST(MetricsResponse, OtherMethodsGet405WithAllow) {
  MetricsRegistry registry;
  const std::optional<proto::HttpResponse> answer =
      metrics_response(registry, request("/metrics", "127.0.0.1:4000", "POST"), MetricsAccess());
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 405);
  EXPECT_EQ(header(*answer, "Allow"), "GET, HEAD");
  EXPECT_EQ(metrics_response(registry, request("/metrics", "127.0.0.1:1", "HEAD"), MetricsAccess())
                ->status,
            200);
}

TEST(MetricsResponse, OtherPathsAreLeftToTheApplication) {
  MetricsRegistry registry;
  EXPECT_FALSE(metrics_response(registry, request("/", "127.0.0.1:1"), MetricsAccess()));
  EXPECT_FALSE(metrics_response(registry, request("/metrics/", "127.0.0.1:1"), MetricsAccess()));
  EXPECT_TRUE(
      metrics_response(registry, request("/stats", "127.0.0.1:1"), MetricsAccess(), "/stats"));
}

}  // namespace
}  // namespace wsx
