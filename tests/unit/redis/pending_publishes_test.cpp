#include "redis/pending_publishes.hpp"

#include <gtest/gtest.h>

namespace wsx::redis {
namespace {

TEST(PendingPublishes, QueuedAndInFlightTogetherStayUnderTheBound) {
  PendingPublishes pending(3);
  EXPECT_EQ(pending.push({"t", "1"}), PendingPublishes::Push::queued_first);
  EXPECT_EQ(pending.push({"t", "2"}), PendingPublishes::Push::queued);
  std::deque<PendingPublish> taken = pending.take();  // 2 in flight
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].envelope, "1");
  EXPECT_EQ(taken[1].envelope, "2");
  EXPECT_EQ(pending.push({"t", "3"}), PendingPublishes::Push::queued_first);
  EXPECT_EQ(pending.push({"t", "4"}), PendingPublishes::Push::full);  // 2 in flight + 1 queued
  EXPECT_EQ(pending.in_flight(), 2u);
  EXPECT_EQ(pending.queued(), 1u);
  pending.settled();  // Redis answered one
  EXPECT_EQ(pending.push({"t", "4"}), PendingPublishes::Push::queued);
  EXPECT_EQ(pending.push({"t", "5"}), PendingPublishes::Push::full);
}

TEST(PendingPublishes, DropQueuedFreesRoomButNotInFlight) {
  PendingPublishes pending(2);
  pending.push({"t", "1"});
  pending.take();
  pending.push({"t", "2"});
  EXPECT_EQ(pending.drop_queued(), 1u);
  EXPECT_EQ(pending.queued(), 0u);
  EXPECT_EQ(pending.in_flight(), 1u);
  EXPECT_EQ(pending.push({"t", "3"}), PendingPublishes::Push::queued_first);
  EXPECT_EQ(pending.push({"t", "4"}), PendingPublishes::Push::full);
}

TEST(PendingPublishes, SettledNeverGoesBelowZero) {
  PendingPublishes pending(1);
  pending.settled();
  EXPECT_EQ(pending.in_flight(), 0u);
  EXPECT_EQ(pending.push({"t", "1"}), PendingPublishes::Push::queued_first);
  EXPECT_EQ(pending.push({"t", "2"}), PendingPublishes::Push::full);
}

TEST(PendingPublishes, ZeroBoundRefusesEverything) {
  PendingPublishes pending(0);
  EXPECT_EQ(pending.push({"t", "1"}), PendingPublishes::Push::full);
}

}  // namespace
}  // namespace wsx::redis
