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

// A name getaddrinfo answers without asking DNS (inet_aton's short form of 127.0.0.1), so the
// tests that need the worker threads stay on the machine.
constexpr std::string_view looked_up_name = "127.1";

// RFC 6761 §6.3: localhost names are loopback, answered without a lookup — so they work where
// /etc/hosts is missing, and mean the same here as everywhere. A resolver without worker
// threads free (max_queued 0: any lookup fails at once) still answers them.
TEST(Resolver, LocalhostNamesAreLoopbackWithoutALookup) {
  Resolver resolver(ResolverOptions{1, 0});
  for (std::string_view name :
       {"localhost", "LocalHost", "localhost.", "foo.localhost", "a.b.LOCALHOST."}) {
    const auto answer = resolve_once(resolver, name, 8080);
    ASSERT_TRUE(answer.has_value()) << name;
    ASSERT_TRUE(answer->ok()) << name << ": " << answer->error;
    ASSERT_EQ(answer->addresses.size(), 2u) << name;
    EXPECT_EQ(answer->addresses[0].to_string(), "127.0.0.1:8080") << name;
    EXPECT_EQ(answer->addresses[1].to_string(), "[::1]:8080") << name;
  }
  for (std::string_view name : {"notlocalhost", "localhost.example", "localhostx", "local"}) {
    EXPECT_FALSE(is_localhost_name(name)) << name;
    const auto answer = resolve_once(resolver, name, 80);
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->error, "too many pending resolutions") << name;  // it needed a lookup
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
      resolver.resolve(loop, looked_up_name, 80, [&](ResolveResult) { called = true; });
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
    resolver.resolve(loop, looked_up_name, static_cast<std::uint16_t>(1000 + i),
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
  const auto answer = resolve_once(resolver, looked_up_name, 80);
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->ok());
  EXPECT_EQ(answer->error, "too many pending resolutions");
}

// The loop that asked may be gone when the answer comes: the answer is dropped, no crash.
TEST(Resolver, LoopDestroyedBeforeTheAnswer) {
  Resolver resolver;
  {
    EventLoop loop;
    resolver.resolve(loop, looked_up_name, 80,
                     [](ResolveResult) { ADD_FAILURE() << "delivered to a destroyed loop"; });
  }
  std::this_thread::sleep_for(50ms);
}

}  // namespace
}  // namespace wsx::io
