#include "wsx/io/resolver.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "loop_watchdog.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;

std::optional<ResolveResult> resolve_once(Resolver& resolver, std::string_view host,
                                          std::uint16_t port) {
  EventLoop loop;
  test::arm_watchdog(loop, 10s);
  std::optional<ResolveResult> answer;
  resolver.resolve(loop, host, port, [&](ResolveResult result) {
    EXPECT_TRUE(loop.in_loop_thread());
    answer = std::move(result);
    loop.stop();
  });
  loop.run();
  return answer;
}

TEST(Resolver, LocalhostResolvesToLoopbackAddresses) {
  Resolver resolver;
  const auto answer = resolve_once(resolver, "localhost", 8080);
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->ok()) << answer->error;
  for (const SocketAddress& address : answer->addresses) {
    EXPECT_TRUE(address.is_loopback()) << address.to_string();
    EXPECT_EQ(address.port(), 8080);
  }
}

TEST(Resolver, IpLiteralsNeedNoLookup) {
  Resolver resolver;
  const auto v4 = resolve_once(resolver, "127.0.0.1", 1);
  ASSERT_TRUE(v4 && v4->ok());
  ASSERT_EQ(v4->addresses.size(), 1u);
  EXPECT_EQ(v4->addresses[0].to_string(), "127.0.0.1:1");
  const auto v6 = resolve_once(resolver, "[::1]", 2);
  ASSERT_TRUE(v6 && v6->ok());
  ASSERT_EQ(v6->addresses.size(), 1u);
  EXPECT_EQ(v6->addresses[0].to_string(), "[::1]:2");
}

TEST(Resolver, InvalidNamesFailWithAMessage) {
  Resolver resolver;
  const std::string too_long(300, 'a');
  for (std::string_view host :
       {std::string_view(""), std::string_view("a\0b", 3), std::string_view(too_long)}) {
    const auto answer = resolve_once(resolver, host, 80);
    ASSERT_TRUE(answer.has_value());
    EXPECT_FALSE(answer->ok());
    EXPECT_FALSE(answer->error.empty());
  }
}

TEST(Resolver, CancelledRequestNeverCallsBack) {
  Resolver resolver;
  EventLoop loop;
  test::arm_watchdog(loop);
  bool called = false;
  ResolveRequest literal =
      resolver.resolve(loop, "127.0.0.1", 80, [&](ResolveResult) { called = true; });
  ResolveRequest name =
      resolver.resolve(loop, "localhost", 80, [&](ResolveResult) { called = true; });
  literal.cancel();
  name.cancel();
  loop.run_after(200ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(called);
}

TEST(Resolver, ManyConcurrentRequestsAllAnswer) {
  Resolver resolver(ResolverOptions{4, 4096});
  EventLoop loop;
  test::arm_watchdog(loop, 10s);
  constexpr int requests = 50;
  int answered = 0;
  for (int i = 0; i < requests; ++i) {
    resolver.resolve(loop, "localhost", static_cast<std::uint16_t>(1000 + i),
                     [&, i](ResolveResult result) {
                       EXPECT_TRUE(result.ok()) << result.error;
                       if (!result.addresses.empty()) {
                         EXPECT_EQ(result.addresses[0].port(), 1000 + i);
                       }
                       if (++answered == requests) loop.stop();
                     });
  }
  loop.run();
  EXPECT_EQ(answered, requests);
}

TEST(Resolver, QueueLimitFailsExcessRequestsAtOnce) {
  Resolver resolver(ResolverOptions{1, 0});
  const auto answer = resolve_once(resolver, "localhost", 80);
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->ok());
  EXPECT_EQ(answer->error, "too many pending resolutions");
}

// The loop that asked may be gone when the answer comes: the answer is dropped, no crash.
TEST(Resolver, LoopDestroyedBeforeTheAnswer) {
  Resolver resolver;
  {
    EventLoop loop;
    resolver.resolve(loop, "localhost", 80,
                     [](ResolveResult) { ADD_FAILURE() << "delivered to a destroyed loop"; });
  }
  std::this_thread::sleep_for(50ms);
}

}  // namespace
}  // namespace wsx::io
