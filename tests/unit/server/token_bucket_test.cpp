#include "server/token_bucket.hpp"

#include <gtest/gtest.h>

namespace wsx::server {
namespace {

using namespace std::chrono_literals;
const TokenBucket::Clock::time_point t0{};

TEST(TokenBucket, StartsFullTakesOneAtATimeAndRefillsAtTheRate) {
  TokenBucket bucket(3, t0);
  EXPECT_TRUE(bucket.take(2, 3, t0));
  EXPECT_TRUE(bucket.take(2, 3, t0));
  EXPECT_TRUE(bucket.take(2, 3, t0));
  EXPECT_FALSE(bucket.take(2, 3, t0));  // empty
  EXPECT_EQ(bucket.time_to_token(2), 500ms);
  EXPECT_FALSE(bucket.take(2, 3, t0 + 499ms));
  EXPECT_TRUE(bucket.take(2, 3, t0 + 500ms));  // 2 a second: one after half a second
  EXPECT_FALSE(bucket.full(2, 3, t0 + 500ms));
  EXPECT_TRUE(bucket.full(2, 3, t0 + 2s));
  // Never above its capacity, however long it rested.
  EXPECT_TRUE(bucket.take(2, 3, t0 + 1h));
  EXPECT_TRUE(bucket.take(2, 3, t0 + 1h));
  EXPECT_TRUE(bucket.take(2, 3, t0 + 1h));
  EXPECT_FALSE(bucket.take(2, 3, t0 + 1h));
}

TEST(TokenBucket, AnOlderTimeAddsNothing) {
  TokenBucket bucket(1, t0 + 10s);
  EXPECT_TRUE(bucket.take(1, 1, t0 + 10s));
  EXPECT_FALSE(bucket.take(1, 1, t0));
  EXPECT_FALSE(bucket.take(1, 1, t0 + 10s));
  EXPECT_TRUE(bucket.take(1, 1, t0 + 11s));
}

TEST(TokenBucket, AnyRateWaitsAtMostADay) {
  // 1e-12 a second is 1e12 s to a token: as nanoseconds (1e21) it is outside the clock's range,
  // which UBSan reports and which used to turn into a garbage Retry-After.
  TokenBucket bucket(1, t0);
  EXPECT_TRUE(bucket.take(1e-12, 1, t0));
  EXPECT_EQ(bucket.time_to_token(1e-12), 24h);
  EXPECT_EQ(bucket.time_to_token(1e-300), 24h);
  EXPECT_EQ(bucket.time_to_token(1), 1s);
}

}  // namespace
}  // namespace wsx::server
