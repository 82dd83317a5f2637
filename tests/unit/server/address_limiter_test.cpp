// The per-address limits without a server: connections counted per client, the handshake
// bucket, exemptions, the RAII slot and forgetting idle clients.
#include "server/address_limiter.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <thread>
#include <vector>

namespace wsx::server {
namespace {

using namespace std::chrono_literals;
using Verdict = AddressLimiter::Verdict;
const AddressLimiter::Clock::time_point t0 = AddressLimiter::Clock::now();

io::SocketAddress address(std::string_view ip, std::uint16_t port = 40000) {
  return *io::SocketAddress::parse(ip, port);
}

AddressLimits limits(std::size_t connections, double rate, double burst) {
  return {.max_connections = connections,
          .handshakes_per_second = rate,
          .handshake_burst = burst,
          .exempt_loopback = true};
}

TEST(AddressLimiter, CountsConnectionsPerClientAndReleasesThemWithTheSlot) {
  AddressLimiter limiter(limits(2, 0, 0));
  AddressLimiter::Admission a = limiter.admit(address("192.0.2.1", 1), t0);
  AddressLimiter::Admission b = limiter.admit(address("192.0.2.1", 2), t0);
  EXPECT_EQ(a.verdict, Verdict::admitted);
  EXPECT_EQ(b.verdict, Verdict::admitted);
  EXPECT_TRUE(a.slot.counted());
  const AddressLimiter::Admission c = limiter.admit(address("192.0.2.1", 3), t0);
  EXPECT_EQ(c.verdict, Verdict::too_many_connections);
  EXPECT_EQ(c.retry_after, 5s);
  EXPECT_FALSE(c.slot.counted());
  // Another client is not affected.
  EXPECT_EQ(limiter.admit(address("192.0.2.2"), t0).verdict, Verdict::admitted);
  EXPECT_EQ(limiter.connections_of(address("192.0.2.1")), 2u);
  {
    AddressSlot moved = std::move(a.slot);  // moving does not count twice
    EXPECT_FALSE(a.slot.counted());
    EXPECT_EQ(limiter.connections_of(address("192.0.2.1")), 2u);
  }
  EXPECT_EQ(limiter.connections_of(address("192.0.2.1")), 1u);
  EXPECT_EQ(limiter.admit(address("192.0.2.1", 4), t0).verdict, Verdict::admitted);
  EXPECT_EQ(limiter.stats().refused_connections, 1u);
  EXPECT_EQ(limiter.stats().refused_rate, 0u);
}

TEST(AddressLimiter, HandshakeBucketRefusesWithRetryAfter) {
  AddressLimiter limiter(limits(0, 0.5, 2));  // one handshake every 2 s, 2 at once
  std::vector<AddressSlot> held;
  for (int i = 0; i < 2; ++i) {
    AddressLimiter::Admission admission = limiter.admit(address("192.0.2.1"), t0);
    ASSERT_EQ(admission.verdict, Verdict::admitted);
    held.push_back(std::move(admission.slot));
  }
  const AddressLimiter::Admission refused = limiter.admit(address("192.0.2.1"), t0 + 500ms);
  EXPECT_EQ(refused.verdict, Verdict::too_fast);
  EXPECT_EQ(refused.retry_after, 2s);  // 1.5 s to the next token, rounded up
  AddressLimiter::Admission later = limiter.admit(address("192.0.2.1"), t0 + 2s);
  EXPECT_EQ(later.verdict, Verdict::admitted);
  EXPECT_EQ(limiter.stats().refused_rate, 1u);
  // A refused handshake takes no connection.
  EXPECT_EQ(limiter.connections_of(address("192.0.2.1")), 3u);
}

TEST(AddressLimiter, TheSlowestRateWaitsADayAndSlowerRatesAreRefused) {
  // One a day: the wait is computed without leaving the clock's range and said in seconds.
  AddressLimiter limiter(limits(0, min_handshake_rate, 1));
  ASSERT_EQ(limiter.admit(address("192.0.2.1"), t0).verdict, Verdict::admitted);
  const AddressLimiter::Admission refused = limiter.admit(address("192.0.2.1"), t0);
  EXPECT_EQ(refused.verdict, Verdict::too_fast);
  EXPECT_GE(refused.retry_after, 86399s);
  EXPECT_LE(refused.retry_after, 86401s);
  for (double absurd : {1e-12, min_handshake_rate / 2, -1.0, std::nan(""), HUGE_VAL}) {
    EXPECT_THROW(AddressLimiter{limits(0, absurd, 1)}, std::invalid_argument) << absurd;
    AddressLimiter other;
    EXPECT_THROW(other.configure(limits(0, absurd, 1)), std::invalid_argument) << absurd;
  }
  EXPECT_THROW(AddressLimiter{limits(0, 1, HUGE_VAL)}, std::invalid_argument);
  EXPECT_NO_THROW(AddressLimiter{limits(0, 0, 0)});
}

TEST(AddressLimiter, LoopbackIsExemptUnlessAsked) {
  AddressLimiter exempt(limits(1, 1, 1));
  for (int i = 0; i < 10; ++i) {
    AddressLimiter::Admission admission = exempt.admit(address("127.0.0.1"), t0);
    EXPECT_EQ(admission.verdict, Verdict::admitted);
    EXPECT_FALSE(admission.slot.counted());
    EXPECT_EQ(exempt.admit(address("::1"), t0).verdict, Verdict::admitted);
  }
  EXPECT_EQ(exempt.tracked_clients(), 0u);
  AddressLimits strict = limits(1, 1, 1);
  strict.exempt_loopback = false;
  AddressLimiter limited(strict);
  const AddressLimiter::Admission first = limited.admit(address("127.0.0.1"), t0);
  EXPECT_EQ(first.verdict, Verdict::admitted);
  EXPECT_EQ(limited.admit(address("127.0.0.1"), t0).verdict, Verdict::too_many_connections);
}

TEST(AddressLimiter, NoLimitsCountNothing) {
  AddressLimiter limiter(limits(0, 0, 0));
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(limiter.admit(address("192.0.2.1"), t0).slot.counted());
  }
  EXPECT_EQ(limiter.tracked_clients(), 0u);
}

TEST(AddressLimiter, AcquireCountsWithoutTakingAHandshake) {
  AddressLimiter limiter(limits(2, 1, 1));
  AddressLimiter::Admission admission = limiter.admit(address("192.0.2.1"), t0);
  ASSERT_EQ(admission.verdict, Verdict::admitted);
  std::optional<AddressSlot> second = limiter.acquire(address("192.0.2.1"), t0);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->counted());
  EXPECT_FALSE(limiter.acquire(address("192.0.2.1"), t0));  // at the count
  second->release();
  EXPECT_FALSE(second->counted());
  EXPECT_TRUE(limiter.acquire(address("192.0.2.1"), t0));
}

TEST(AddressLimiter, ForgetsIdleClientsSoTheTableStaysBounded) {
  AddressLimiter limiter(limits(10, 10, 5));
  for (int i = 0; i < 10000; ++i) {
    const std::string ip = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    // Each client connects once and leaves; a second later its bucket is full again.
    (void)limiter.admit(address(ip), t0 + std::chrono::seconds(i));
  }
  // Only what joined since the last sweep of each shard is left (the sweep runs when a shard's
  // table doubles): far below the 10000 clients seen.
  EXPECT_LT(limiter.tracked_clients(), 16u * 128u);
}

TEST(AddressLimiter, ThreadsShareTheCounts) {
  AddressLimiter limiter(limits(1000, 0, 0));
  std::vector<std::thread> threads;
  std::vector<std::vector<AddressSlot>> held(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        AddressLimiter::Admission admission = limiter.admit(address("192.0.2.9"));
        if (admission.verdict == Verdict::admitted) held[t].push_back(std::move(admission.slot));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::size_t admitted = 0;
  for (const auto& slots : held) admitted += slots.size();
  EXPECT_EQ(admitted, 1000u);
  EXPECT_EQ(limiter.stats().refused_connections, 1000u);
  held.clear();
  EXPECT_EQ(limiter.connections_of(address("192.0.2.9")), 0u);
}

}  // namespace
}  // namespace wsx::server
