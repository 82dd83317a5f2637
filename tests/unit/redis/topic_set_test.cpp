#include "redis/topic_set.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace wsx::redis {
namespace {

std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

TEST(TopicSet, WantAndUnwantSayWhenToTalkToRedis) {
  TopicSet topics;
  EXPECT_TRUE(topics.want("a"));
  EXPECT_FALSE(topics.want("a"));
  EXPECT_TRUE(topics.want("b"));
  EXPECT_TRUE(topics.unwant("a"));
  EXPECT_FALSE(topics.unwant("a"));
  EXPECT_FALSE(topics.wanted("a"));
  EXPECT_TRUE(topics.wanted("b"));
}

TEST(TopicSet, EveryWantedTopicIsSubscribedAgainAfterAReconnection) {
  TopicSet topics;
  topics.want("a");
  topics.want("b");
  topics.want("c");
  topics.unwant("b");
  topics.confirm("a");
  topics.connection_lost();
  EXPECT_EQ(sorted(topics.all_wanted()), (std::vector<std::string>{"a", "c"}));
  EXPECT_FALSE(topics.confirmed("a"));  // not on the new connection yet
}

TEST(TopicSet, WaitersRunOnConfirmationInOrder) {
  TopicSet topics;
  topics.want("a");
  std::vector<int> ran;
  EXPECT_TRUE(topics.wait_for_confirmation("a", [&](bool ok) { ran.push_back(ok ? 1 : -1); }));
  EXPECT_TRUE(topics.wait_for_confirmation("a", [&](bool ok) { ran.push_back(ok ? 2 : -2); }));
  for (auto& waiter : topics.confirm("a")) waiter(true);
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_TRUE(topics.confirmed("a"));
  // Confirmed already, or not wanted: the caller decides at once.
  EXPECT_FALSE(topics.wait_for_confirmation("a", [](bool) {}));
  EXPECT_FALSE(topics.wait_for_confirmation("zzz", [](bool) {}));
  EXPECT_FALSE(topics.wanted("zzz"));
}

TEST(TopicSet, LostConnectionAndUnwantHandBackTheWaiters) {
  TopicSet topics;
  topics.want("a");
  topics.want("b");
  int failed = 0;
  topics.wait_for_confirmation("a", [&](bool ok) { failed += ok ? 0 : 1; });
  topics.wait_for_confirmation("b", [&](bool ok) { failed += ok ? 0 : 1; });
  for (auto& waiter : topics.connection_lost()) waiter(false);
  EXPECT_EQ(failed, 2);
  topics.wait_for_confirmation("a", [&](bool ok) { failed += ok ? 0 : 10; });
  std::vector<std::function<void(bool)>> orphans;
  EXPECT_TRUE(topics.unwant("a", &orphans));
  ASSERT_EQ(orphans.size(), 1u);
  orphans[0](false);
  EXPECT_EQ(failed, 12);
  EXPECT_TRUE(topics.confirm("a").empty());  // a late confirmation of a topic no longer wanted
  EXPECT_FALSE(topics.confirmed("a"));
}

}  // namespace
}  // namespace wsx::redis
