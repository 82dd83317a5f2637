// OriginPolicy against RFC 6454 (origins as scheme, host, port) and RFC 6455 §10.2.
#include <gtest/gtest.h>

#include "wsx/server.hpp"

namespace wsx {
namespace {

TEST(OriginPolicy, TheDefaultIsSameOrigin) {
  const OriginPolicy policy;
  EXPECT_EQ(policy.mode, OriginPolicy::Mode::same_origin);
  EXPECT_TRUE(policy.permits("http://app.example:8080", "app.example:8080"));
  EXPECT_FALSE(policy.permits("http://evil.example", "app.example"));
  EXPECT_TRUE(policy.permits(std::nullopt, "app.example"));  // not a browser
}

TEST(OriginPolicy, AllowAnyMustBeAskedFor) {
  const OriginPolicy any = OriginPolicy::allow_any();
  EXPECT_TRUE(any.permits("http://evil.example", "app.example"));
  EXPECT_TRUE(any.permits("null", "app.example"));
  EXPECT_TRUE(any.permits(std::nullopt, "app.example"));
}

TEST(OriginPolicy, SameOriginFillsInTheSchemesDefaultPort) {
  const OriginPolicy same = OriginPolicy::same_origin();
  EXPECT_TRUE(same.permits("https://app.example", "app.example:443"));
  EXPECT_TRUE(same.permits("https://app.example:443", "app.example"));
  EXPECT_TRUE(same.permits("http://app.example:80", "app.example"));
  EXPECT_TRUE(same.permits("http://app.example", "app.example:80"));
  EXPECT_TRUE(same.permits("http://app.example:8080", "app.example:8080"));
  EXPECT_FALSE(same.permits("http://app.example:8080", "app.example"));
  EXPECT_FALSE(same.permits("http://app.example", "app.example:8080"));
  EXPECT_FALSE(same.permits("https://app.example:8443", "app.example"));
  // http's default is 80, not 443: a page on http://app.example is not app.example:443.
  EXPECT_FALSE(same.permits("http://app.example", "app.example:443"));
  EXPECT_FALSE(same.permits("https://app.example", "app.example:80"));
  // Ports are numbers.
  EXPECT_TRUE(same.permits("http://app.example:08080", "app.example:8080"));
}

TEST(OriginPolicy, SameOriginIgnoresCaseOfSchemeAndHost) {
  const OriginPolicy same = OriginPolicy::same_origin();
  EXPECT_TRUE(same.permits("HTTPS://App.Example", "app.example:443"));
  EXPECT_TRUE(same.permits("https://app.example", "APP.EXAMPLE"));
  EXPECT_TRUE(same.permits("http://[::ABCD]:9000", "[::abcd]:9000"));
}

TEST(OriginPolicy, SameOriginWithIpv6Literals) {
  const OriginPolicy same = OriginPolicy::same_origin();
  EXPECT_TRUE(same.permits("http://[::1]:9000", "[::1]:9000"));
  EXPECT_TRUE(same.permits("http://[::1]", "[::1]"));
  EXPECT_TRUE(same.permits("https://[::1]", "[::1]:443"));
  EXPECT_FALSE(same.permits("http://[::1]:9000", "[::1]:9001"));
  EXPECT_FALSE(same.permits("http://[::1]:9000", "[::2]:9000"));
  // A colon inside the literal is no port separator: "[::1]" is not host "[" port ":1]".
  EXPECT_FALSE(same.permits("http://[::1]:9000", "[::1]"));
  EXPECT_FALSE(same.permits("http://[::1", "[::1"));
  EXPECT_FALSE(same.permits("http://[]:80", "[]:80"));
}

TEST(OriginPolicy, OpaqueAndMalformedOriginsMatchNothing) {
  const OriginPolicy same = OriginPolicy::same_origin();
  // Sandboxed iframes, file:// pages, data: URLs send "null" (RFC 6454 §7.3).
  EXPECT_FALSE(same.permits("null", "null"));
  EXPECT_FALSE(same.permits("null", "app.example"));
  EXPECT_FALSE(same.permits("", "app.example"));
  EXPECT_FALSE(same.permits("app.example", "app.example"));
  EXPECT_FALSE(same.permits("https://", "app.example"));
  EXPECT_FALSE(same.permits("://app.example", "app.example"));
  EXPECT_FALSE(same.permits("https://app.example/", "app.example"));
  EXPECT_FALSE(same.permits("https://app.example/path", "app.example"));
  EXPECT_FALSE(same.permits("https://app.example?x", "app.example"));
  EXPECT_FALSE(same.permits("https://user@app.example", "app.example"));
  EXPECT_FALSE(same.permits("https://evil.example@app.example", "app.example"));
  EXPECT_FALSE(same.permits("https://app.example:", "app.example"));
  EXPECT_FALSE(same.permits("https://app.example:x", "app.example"));
  EXPECT_FALSE(same.permits("https://app.example:65536", "app.example:65536"));
  EXPECT_FALSE(same.permits("https://app.example:-1", "app.example"));
  EXPECT_FALSE(same.permits("https://app.example", ""));
  EXPECT_FALSE(same.permits("https://app.example", "app.example:"));
  // Origins of other schemes (browser extensions) are never the server's own.
  EXPECT_FALSE(same.permits("chrome-extension://app.example", "app.example"));
  EXPECT_FALSE(same.permits("ftp://app.example", "app.example:80"));
}

TEST(OriginPolicy, ATrailingDotIsAnotherHost) {
  // Browsers treat "app.example." as its own origin (its own cookies), so do we.
  const OriginPolicy same = OriginPolicy::same_origin();
  EXPECT_FALSE(same.permits("https://app.example.", "app.example"));
  EXPECT_FALSE(same.permits("https://app.example", "app.example."));
  EXPECT_TRUE(same.permits("https://app.example.", "app.example."));
}

TEST(OriginPolicy, RequiredRefusesRequestsWithoutOrigin) {
  EXPECT_FALSE(OriginPolicy::same_origin(true).permits(std::nullopt, "app.example"));
  EXPECT_FALSE(OriginPolicy::allow({"https://good.example"}, true).permits(std::nullopt, "x"));
  EXPECT_TRUE(OriginPolicy::allow({"https://good.example"}).permits(std::nullopt, "x"));
}

TEST(OriginPolicy, AllowListComparesSchemeHostAndPort) {
  const OriginPolicy list = OriginPolicy::allow({"https://good.example", "http://[::1]:8000"});
  EXPECT_TRUE(list.permits("https://good.example", "app.example"));
  EXPECT_TRUE(list.permits("HTTPS://GOOD.example", "app.example"));
  EXPECT_TRUE(list.permits("https://good.example:443", "app.example"));
  EXPECT_TRUE(list.permits("http://[::1]:8000", "app.example"));
  EXPECT_FALSE(list.permits("http://good.example", "app.example"));  // another scheme
  EXPECT_FALSE(list.permits("https://good.example:444", "app.example"));
  EXPECT_FALSE(list.permits("https://good.example.evil.example", "app.example"));
  EXPECT_FALSE(list.permits("https://evil.example", "evil.example"));  // not same-origin mode
  EXPECT_FALSE(list.permits("null", "app.example"));
}

TEST(OriginPolicy, SameOriginWithMoreAllowedOrigins) {
  const OriginPolicy policy = OriginPolicy::same_origin(false, {"https://partner.example"});
  EXPECT_TRUE(policy.permits("https://partner.example", "app.example"));
  EXPECT_TRUE(policy.permits("https://app.example", "app.example"));
  EXPECT_FALSE(policy.permits("https://evil.example", "app.example"));
}

}  // namespace
}  // namespace wsx
