// Routing by path: exact routes beat prefixes, the longest prefix wins, a prefix covers its bare
// directory but not a longer sibling name, and each route keeps its own options.
#include "server/router.hpp"

#include <gtest/gtest.h>

namespace wsx::server {
namespace {

Behavior with_limit(std::size_t max_message_size) {
  Behavior behavior;
  behavior.max_message_size = max_message_size;
  return behavior;
}

std::string pattern_of(const Router& router, std::string_view path) {
  const Route* route = router.match(path);
  return route != nullptr ? route->pattern : "<none>";
}

TEST(Router, ExactBeatsPrefixAndLongestPrefixWins) {
  Router router;
  router.add("/*", {});
  router.add("/rooms/*", {});
  router.add("/rooms/vip/*", {});
  router.add("/rooms/lobby", {});
  EXPECT_EQ(pattern_of(router, "/rooms/lobby"), "/rooms/lobby");
  EXPECT_EQ(pattern_of(router, "/rooms/lobby/x"), "/rooms/*");
  EXPECT_EQ(pattern_of(router, "/rooms/kitchen"), "/rooms/*");
  EXPECT_EQ(pattern_of(router, "/rooms/vip/1"), "/rooms/vip/*");
  EXPECT_EQ(pattern_of(router, "/rooms/vip"), "/rooms/vip/*");  // the bare directory
  EXPECT_EQ(pattern_of(router, "/rooms"), "/rooms/*");
  EXPECT_EQ(pattern_of(router, "/roomsX"), "/*");  // not a sibling name
  EXPECT_EQ(pattern_of(router, "/"), "/*");
  EXPECT_EQ(pattern_of(router, ""), "<none>");  // no path (an unroutable target)
}

TEST(Router, WithoutCatchAllUnknownPathsHaveNoRoute) {
  Router router;
  EXPECT_TRUE(router.empty());
  router.add("/chat", {});
  router.add("/api/*", {});
  EXPECT_FALSE(router.empty());
  EXPECT_EQ(pattern_of(router, "/chat"), "/chat");
  EXPECT_EQ(pattern_of(router, "/chat/"), "<none>");  // exact means exact
  EXPECT_EQ(pattern_of(router, "/Chat"), "<none>");   // paths are case-sensitive
  EXPECT_EQ(pattern_of(router, "/apix"), "<none>");
  EXPECT_EQ(pattern_of(router, "/other"), "<none>");
}

TEST(Router, AddingTheSamePatternReplacesItsOptions) {
  Router router;
  router.add("/a", with_limit(10));
  router.add("/a", with_limit(20));
  router.add("/p/*", with_limit(30));
  router.add("/p/*", with_limit(40));
  ASSERT_NE(router.match("/a"), nullptr);
  EXPECT_EQ(router.match("/a")->config.options.max_message_size, 20u);
  EXPECT_EQ(router.match("/p/x")->config.options.max_message_size, 40u);
}

TEST(Router, EachRouteCarriesItsOwnSessionOptions) {
  Router router;
  Behavior slow;
  slow.idle_timeout = std::chrono::seconds(7);
  slow.max_backpressure = 1234;
  slow.backpressure_policy = BackpressurePolicy::close;
  proto::DeflateServerOptions deflate;
  deflate.tuning.threshold = 99;
  slow.deflate = deflate;
  router.add("/slow", slow);
  router.add("/fast", with_limit(5));
  const session::SessionConfig& config = router.match("/slow")->config;
  EXPECT_EQ(config.options.idle_timeout, std::chrono::seconds(7));
  EXPECT_EQ(config.options.max_backpressure, 1234u);
  EXPECT_EQ(config.options.backpressure_policy, BackpressurePolicy::close);
  EXPECT_EQ(config.deflate_tuning.threshold, 99u);
  EXPECT_EQ(router.match("/fast")->config.options.max_message_size, 5u);
  EXPECT_EQ(router.match("/fast")->config.options.idle_timeout, WebSocketOptions{}.idle_timeout);
}

}  // namespace
}  // namespace wsx::server
