#include "wsx/backoff.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace wsx {
namespace {

using std::chrono::milliseconds;

ReconnectOptions exact(std::size_t attempts) {
  ReconnectOptions options;
  options.enabled = true;
  options.max_attempts = attempts;
  options.initial_delay = milliseconds(100);
  options.max_delay = milliseconds(1000);
  options.multiplier = 2.0;
  options.jitter = 0.0;
  return options;
}

std::vector<long> drain(Backoff& backoff) {
  std::vector<long> delays;
  while (auto delay = backoff.next()) delays.push_back(static_cast<long>(delay->count()));
  return delays;
}

TEST(Backoff, DisabledGivesNoAttempt) {
  ReconnectOptions options = exact(5);
  options.enabled = false;
  Backoff backoff(options, 1);
  EXPECT_FALSE(backoff.next().has_value());
}

TEST(Backoff, ZeroAttemptsGivesNoAttempt) {
  Backoff backoff(exact(0), 1);
  EXPECT_FALSE(backoff.next().has_value());
}

TEST(Backoff, ExponentialCappedAtMaxDelayAndBoundedInAttempts) {
  Backoff backoff(exact(7), 1);
  EXPECT_EQ(drain(backoff), (std::vector<long>{100, 200, 400, 800, 1000, 1000, 1000}));
  EXPECT_EQ(backoff.attempts(), 7u);
  EXPECT_FALSE(backoff.next().has_value());  // stays exhausted
}

TEST(Backoff, ResetStartsAgainFromTheInitialDelay) {
  Backoff backoff(exact(3), 1);
  EXPECT_EQ(backoff.next()->count(), 100);
  EXPECT_EQ(backoff.next()->count(), 200);
  backoff.reset();
  EXPECT_EQ(backoff.attempts(), 0u);
  EXPECT_EQ(drain(backoff), (std::vector<long>{100, 200, 400}));
}

TEST(Backoff, JitterStaysWithinItsBandAndBelowTheCap) {
  ReconnectOptions options = exact(12);
  options.jitter = 0.5;
  Backoff backoff(options, 42);
  const std::vector<long> delays = drain(backoff);
  ASSERT_EQ(delays.size(), 12u);
  long base = 100;
  for (long delay : delays) {
    EXPECT_GE(delay, base / 2);
    EXPECT_LE(delay, base);
    base = std::min(base * 2, 1000L);
  }
}

TEST(Backoff, SameSeedSameSequenceOtherSeedOtherSequence) {
  ReconnectOptions options = exact(10);
  options.jitter = 1.0;
  Backoff a(options, 7), b(options, 7), c(options, 8);
  const auto first = drain(a);
  EXPECT_EQ(first, drain(b));
  EXPECT_NE(first, drain(c));
}

TEST(Backoff, JitterActuallyVaries) {
  ReconnectOptions options = exact(50);
  options.initial_delay = options.max_delay = milliseconds(10'000);
  options.jitter = 1.0;
  Backoff backoff(options, 3);
  const auto delays = drain(backoff);
  long low = 10'000, high = 0;
  for (long d : delays) low = std::min(low, d), high = std::max(high, d);
  EXPECT_LT(low, 3'000);  // 50 uniform draws over [0, 10000]: both ends are reached
  EXPECT_GT(high, 7'000);
}

TEST(Backoff, OutOfRangeOptionsAreClamped) {
  ReconnectOptions options = exact(4);
  options.jitter = 7.0;                  // → 1
  options.multiplier = 0.25;             // → 1: never shrinks
  options.max_delay = milliseconds(10);  // below initial → initial
  Backoff backoff(options, 5);
  EXPECT_DOUBLE_EQ(backoff.options().jitter, 1.0);
  EXPECT_DOUBLE_EQ(backoff.options().multiplier, 1.0);
  EXPECT_EQ(backoff.options().max_delay, milliseconds(100));
  for (long delay : drain(backoff)) EXPECT_LE(delay, 100);
}

TEST(Backoff, HugeAttemptCountsDoNotOverflow) {
  ReconnectOptions options = exact(2000);
  Backoff backoff(options, 9);
  const auto delays = drain(backoff);
  ASSERT_EQ(delays.size(), 2000u);
  for (std::size_t i = 4; i < delays.size(); ++i) ASSERT_EQ(delays[i], 1000) << i;
  EXPECT_EQ(backoff.attempts(), 2000u);
}

}  // namespace
}  // namespace wsx
