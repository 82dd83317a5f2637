#include "wsx/io/racing_connector.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "blackhole_listener.hpp"
#include "loop_watchdog.hpp"
#include "refused_port.hpp"
#include "wsx/io/listener.hpp"

namespace wsx::io {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

SocketAddress v4(const char* ip, std::uint16_t port) {
  return *SocketAddress::parse(ip, port);
}

// A loopback port that refuses connections for the rest of the test.
SocketAddress closed_port() {
  return SocketAddress::ipv4_loopback(test::refused_loopback_port());
}

std::size_t open_fds() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

using Blackhole = test::BlackholeListener;

// A listener that accepts and closes every connection at once.
struct Server {
  explicit Server(EventLoop& loop, const SocketAddress& bind_to = SocketAddress::ipv4_loopback(0))
      : listener(loop, [this](TcpSocket, const SocketAddress&) { ++accepted; }) {
    EXPECT_FALSE(listener.listen(bind_to));
  }
  SocketAddress address() const { return listener.local_address(); }
  Listener listener;
  int accepted = 0;
};

struct Outcome {
  std::optional<RaceResult> result;
  SteadyClock::duration elapsed{};
};

// Runs one race to its end on `loop`.
Outcome race(EventLoop& loop, std::vector<SocketAddress> addresses, const RaceOptions& options) {
  Outcome outcome;
  RacingConnector racer(loop);
  const SteadyClock::time_point start = SteadyClock::now();
  racer.connect(
      std::move(addresses),
      [&](RaceResult result) {
        outcome.elapsed = SteadyClock::now() - start;
        outcome.result = std::move(result);
        loop.stop();
      },
      options);
  loop.run();
  EXPECT_FALSE(racer.in_progress());
  EXPECT_EQ(racer.attempts_running(), 0u);
  return outcome;
}

#define SKIP_IF_LET_THROUGH(outcome, hole)                                                         \
  if ((outcome).result && (outcome).result->ok() && (outcome).result->address == (hole).address()) \
  GTEST_SKIP() << "the kernel completed a connection to a listener with a full queue"

TEST(InterleaveFamilies, AlternatesFromTheResolversFirstFamily) {
  const SocketAddress a6 = *SocketAddress::parse("::1", 1);
  const SocketAddress b6 = *SocketAddress::parse("::2", 1);
  const SocketAddress c6 = *SocketAddress::parse("::3", 1);
  const SocketAddress a4 = v4("127.0.0.1", 1);
  const SocketAddress b4 = v4("127.0.0.2", 1);
  EXPECT_EQ(interleave_families({a6, b6, c6, a4, b4}),
            (std::vector<SocketAddress>{a6, a4, b6, b4, c6}));
  EXPECT_EQ(interleave_families({a4, b4, a6}), (std::vector<SocketAddress>{a4, a6, b4}));
  EXPECT_EQ(interleave_families({a4, a6, b6, c6}), (std::vector<SocketAddress>{a4, a6, b6, c6}));
}

TEST(InterleaveFamilies, OneFamilyOrNoneIsLeftAsItIs) {
  const SocketAddress a4 = v4("127.0.0.1", 1);
  const SocketAddress b4 = v4("127.0.0.2", 2);
  EXPECT_EQ(interleave_families({b4, a4}), (std::vector<SocketAddress>{b4, a4}));
  EXPECT_TRUE(interleave_families({}).empty());
}

TEST(RacingConnector, BlackholedFirstAddressCostsOneDelayNotTheTimeout) {
  EventLoop loop;
  test::arm_watchdog(loop, 15s);
  Blackhole hole(v4("127.0.0.1", 0));
  ASSERT_TRUE(hole.ok());
  Server server(loop, v4("127.0.0.2", 0));
  RaceOptions options;
  options.attempt_delay = 100ms;
  options.timeout = 30s;
  const Outcome outcome = race(loop, {hole.address(), server.address()}, options);
  SKIP_IF_LET_THROUGH(outcome, hole);
  ASSERT_TRUE(outcome.result.has_value());
  const RaceResult& result = *outcome.result;
  ASSERT_TRUE(result.ok()) << result.error.message();
  EXPECT_EQ(result.address, server.address());
  EXPECT_EQ(result.socket.peer_address(), server.address());
  EXPECT_EQ(result.tried, (std::vector<SocketAddress>{hole.address(), server.address()}));
  EXPECT_TRUE(result.failures.empty());
  // The second attempt waited for the delay, and not for the blackhole's timeout.
  EXPECT_GE(outcome.elapsed, 100ms);
  EXPECT_LT(outcome.elapsed, 10s);
}

TEST(RacingConnector, RefusedAddressStartsTheNextAtOnce) {
  EventLoop loop;
  test::arm_watchdog(loop, 15s);
  Server server(loop);
  const SocketAddress refused = closed_port();
  RaceOptions options;
  options.attempt_delay = 60s;  // only the failure can start the second attempt in time
  options.timeout = 120s;
  const Outcome outcome = race(loop, {refused, server.address()}, options);
  ASSERT_TRUE(outcome.result.has_value());
  const RaceResult& result = *outcome.result;
  ASSERT_TRUE(result.ok()) << result.error.message();
  EXPECT_EQ(result.address, server.address());
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_EQ(result.failures[0].address, refused);
  EXPECT_EQ(result.failures[0].error, std::errc::connection_refused);
}

TEST(RacingConnector, AllBlackholedTimesOutOnceForTheWholeRace) {
  EventLoop loop;
  test::arm_watchdog(loop, 15s);
  Blackhole first(v4("127.0.0.1", 0));
  Blackhole second(v4("127.0.0.2", 0));
  Blackhole third(v4("127.0.0.3", 0));
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  RaceOptions options;
  options.attempt_delay = 50ms;
  options.timeout = 2s;
  const Outcome outcome = race(loop, {first.address(), second.address(), third.address()}, options);
  ASSERT_TRUE(outcome.result.has_value());
  const RaceResult& result = *outcome.result;
  if (result.ok()) GTEST_SKIP() << "the kernel completed a connection to a full queue";
  EXPECT_EQ(result.error, std::errc::timed_out) << result.error.message();
  EXPECT_FALSE(result.socket.valid());
  EXPECT_EQ(result.address, first.address());  // waited on longest
  EXPECT_EQ(result.tried.size(), 3u);
  // One timeout for the race: no attempt failed on a timeout of its own before it (what
  // trying them in turn would report), and all of them ended together.
  EXPECT_TRUE(result.failures.empty());
  EXPECT_GE(outcome.elapsed, options.timeout);
  // Trying them in turn would take three timeouts: below that, with two timeouts (4 s) to
  // spare for a loaded machine that wakes the loop late.
  EXPECT_LT(outcome.elapsed, 3 * options.timeout);
}

TEST(RacingConnector, ZeroDelayTriesOneAddressAtATime) {
  EventLoop loop;
  test::arm_watchdog(loop, 15s);
  Blackhole hole(v4("127.0.0.1", 0));
  ASSERT_TRUE(hole.ok());
  Server server(loop);
  RaceOptions options;
  options.attempt_delay = 0ms;
  options.timeout = 300ms;
  const Outcome blocked = race(loop, {hole.address(), server.address()}, options);
  SKIP_IF_LET_THROUGH(blocked, hole);
  ASSERT_TRUE(blocked.result.has_value());
  EXPECT_EQ(blocked.result->error, std::errc::timed_out);
  EXPECT_EQ(blocked.result->tried, std::vector<SocketAddress>{hole.address()});
  EXPECT_EQ(server.accepted, 0);

  // A failure still moves on to the next address.
  const SocketAddress refused = closed_port();
  const Outcome moved_on = race(loop, {refused, server.address()}, options);
  ASSERT_TRUE(moved_on.result.has_value());
  ASSERT_TRUE(moved_on.result->ok()) << moved_on.result->error.message();
  EXPECT_EQ(moved_on.result->address, server.address());
}

TEST(RacingConnector, EveryAddressFailingReportsTheLastFailureAndAllAttempts) {
  EventLoop loop;
  test::arm_watchdog(loop);
  const SocketAddress first = closed_port();
  const SocketAddress second = closed_port();
  const Outcome outcome = race(loop, {first, second}, {});
  ASSERT_TRUE(outcome.result.has_value());
  const RaceResult& result = *outcome.result;
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.error, std::errc::connection_refused);
  EXPECT_EQ(result.address, second);
  EXPECT_EQ(result.tried, (std::vector<SocketAddress>{first, second}));
  ASSERT_EQ(result.failures.size(), 2u);
  EXPECT_EQ(result.failures[0].address, first);
  EXPECT_EQ(result.failures[1].address, second);
}

TEST(RacingConnector, EmptyListFailsAsynchronously) {
  EventLoop loop;
  test::arm_watchdog(loop);
  RacingConnector racer(loop);
  bool inside_connect = true;
  std::error_code error;
  racer.connect({}, [&](RaceResult result) {
    EXPECT_FALSE(inside_connect);
    error = result.error;
    loop.stop();
  });
  inside_connect = false;
  loop.run();
  EXPECT_EQ(error, std::errc::invalid_argument);
}

TEST(RacingConnector, LosingAttemptsAreClosed) {
  EventLoop loop;
  test::arm_watchdog(loop, 15s);
  Blackhole first(v4("127.0.0.1", 0));
  Blackhole second(v4("127.0.0.2", 0));
  ASSERT_TRUE(first.ok() && second.ok());
  Server server(loop, v4("127.0.0.3", 0));
  RaceOptions options;
  options.attempt_delay = 20ms;
  const std::size_t before = open_fds();
  std::optional<RaceResult> won;
  RacingConnector racer(loop);
  racer.connect(
      {first.address(), second.address(), server.address()},
      [&](RaceResult result) {
        won = std::move(result);
        loop.stop();
      },
      options);
  loop.run();
  ASSERT_TRUE(won.has_value());
  if (won->ok() && won->address != server.address()) GTEST_SKIP() << "a full queue accepted";
  ASSERT_TRUE(won->ok()) << won->error.message();
  // Both blackholed attempts were still running when the third one won.
  EXPECT_EQ(won->tried.size(), 3u);
  EXPECT_TRUE(won->failures.empty());
  // Only the winner's socket is left open; the accepted side is closed by the server.
  EXPECT_EQ(racer.attempts_running(), 0u);
  EXPECT_EQ(open_fds(), before + 1);
  won->socket.close();
  EXPECT_EQ(open_fds(), before);
}

TEST(RacingConnector, CancelClosesEveryAttemptAndSilencesTheCallback) {
  EventLoop loop;
  test::arm_watchdog(loop);
  Blackhole first(v4("127.0.0.1", 0));
  Blackhole second(v4("127.0.0.2", 0));
  ASSERT_TRUE(first.ok() && second.ok());
  const std::size_t before = open_fds();
  bool called = false;
  RacingConnector racer(loop);
  RaceOptions options;
  options.attempt_delay = 10ms;
  racer.connect(
      {first.address(), second.address()}, [&](RaceResult) { called = true; }, options);
  loop.run_after(100ms, [&] {
    EXPECT_EQ(racer.attempts_running(), 2u);
    racer.cancel();
    EXPECT_FALSE(racer.in_progress());
    EXPECT_EQ(racer.attempts_running(), 0u);
    EXPECT_EQ(open_fds(), before);
    loop.run_after(50ms, [&] { loop.stop(); });
  });
  loop.run();
  EXPECT_FALSE(called);
}

TEST(RacingConnector, TheCallbackMayDestroyTheRacer) {
  EventLoop loop;
  test::arm_watchdog(loop);
  Server server(loop);
  auto racer = std::make_unique<RacingConnector>(loop);
  bool connected = false;
  racer->connect({closed_port(), server.address(), closed_port()}, [&](RaceResult result) {
    connected = result.ok();
    racer.reset();
    loop.stop();
  });
  loop.run();
  EXPECT_TRUE(connected);
  EXPECT_EQ(racer, nullptr);
}

// A lost race may start the next one from its callback (a client retrying at once).
TEST(RacingConnector, TheCallbackMayStartAnotherRace) {
  EventLoop loop;
  test::arm_watchdog(loop);
  Server server(loop);
  RacingConnector racer(loop);
  std::vector<std::error_code> outcomes;
  RaceOptions options;
  options.attempt_delay = 10ms;
  racer.connect(
      {closed_port(), closed_port()},
      [&](RaceResult lost) {
        outcomes.push_back(lost.error);
        EXPECT_FALSE(lost.socket.valid());
        EXPECT_EQ(lost.tried.size(), 2u);
        racer.connect(
            {closed_port(), server.address()},
            [&](RaceResult won) {
              outcomes.push_back(won.error);
              EXPECT_TRUE(won.ok());
              EXPECT_EQ(won.address, server.address());
              EXPECT_EQ(won.tried.size(), 2u);  // nothing left over from the first race
              EXPECT_EQ(won.failures.size(), 1u);
              loop.stop();
            },
            options);
      },
      options);
  loop.run();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0], std::errc::connection_refused);
  EXPECT_FALSE(outcomes[1]);
  EXPECT_FALSE(racer.in_progress());
  EXPECT_EQ(racer.attempts_running(), 0u);
}

// The shape of a blackholed IPv6 route with working IPv4: the resolver lists IPv6 first.
TEST(RacingConnector, BlackholedIpv6FallsBackToIpv4AfterOneDelay) {
  EventLoop loop;
  test::arm_watchdog(loop, 15s);
  Blackhole hole6(SocketAddress::ipv6_loopback(0));
  Blackhole hole6_again(SocketAddress::ipv6_loopback(0));
  if (!hole6.ok() || !hole6_again.ok()) GTEST_SKIP() << "no IPv6 loopback";
  Server server(loop);
  RaceOptions options;
  options.attempt_delay = 100ms;
  options.timeout = 30s;
  const std::vector<SocketAddress> resolved{hole6.address(), hole6_again.address(),
                                            server.address()};
  const Outcome outcome = race(loop, interleave_families(resolved), options);
  SKIP_IF_LET_THROUGH(outcome, hole6);
  ASSERT_TRUE(outcome.result.has_value());
  ASSERT_TRUE(outcome.result->ok()) << outcome.result->error.message();
  EXPECT_EQ(outcome.result->address, server.address());
  // IPv4 came second, before the other IPv6 address.
  EXPECT_EQ(outcome.result->tried, (std::vector<SocketAddress>{hole6.address(), server.address()}));
  EXPECT_LT(outcome.elapsed, 10s);
}

}  // namespace
}  // namespace wsx::io
