#include "session/subscriptions.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace wsx::session {
namespace {

struct Peer {
  int id = 0;
};

std::set<int> ids(std::span<Peer* const> peers) {
  std::set<int> out;
  for (const Peer* peer : peers) out.insert(peer->id);
  return out;
}

TEST(Subscriptions, AddRemoveContains) {
  Subscriptions<Peer> table;
  Peer a{1}, b{2};
  EXPECT_TRUE(table.add(a, "news"));
  EXPECT_FALSE(table.add(a, "news"));
  EXPECT_TRUE(table.add(b, "news"));
  EXPECT_TRUE(table.add(b, "sport"));
  EXPECT_EQ(ids(table.subscribers("news")), (std::set<int>{1, 2}));
  EXPECT_TRUE(table.contains(b, "sport"));
  EXPECT_FALSE(table.contains(a, "sport"));
  EXPECT_FALSE(table.contains(a, "unknown"));
  EXPECT_EQ(table.topics_of(b), 2u);
  EXPECT_TRUE(table.remove(a, "news"));
  EXPECT_FALSE(table.remove(a, "news"));
  EXPECT_FALSE(table.remove(a, "unknown"));
  EXPECT_EQ(table.topics_of(a), 0u);
  EXPECT_EQ(ids(table.subscribers("news")), (std::set<int>{2}));
  table.remove_all(b);
  EXPECT_TRUE(table.subscribers("news").empty());
  EXPECT_EQ(table.topic_count(), 0u);  // an empty topic is forgotten
  EXPECT_EQ(table.subscription_count(), 0u);
  EXPECT_TRUE(table.consistent());
}

// The case of the issue: 100,000 subscribers of one topic leave it, in the order that made
// each departure of the former linear scan walk the whole list (the most recent subscriber
// last). Every departure is a constant number of hash lookups and two swap-removals, and the
// recorded slots stay exact throughout.
TEST(Subscriptions, HundredThousandSubscribersLeaveOneTopic) {
  constexpr int count = 100'000;
  std::vector<Peer> peers(count);
  Subscriptions<Peer> table;
  for (int i = 0; i < count; ++i) {
    peers[i].id = i;
    ASSERT_TRUE(table.add(peers[i], "crowd"));
    if (i % 10 == 0) {
      ASSERT_TRUE(table.add(peers[i], "tenth"));
    }
  }
  EXPECT_EQ(table.subscribers("crowd").size(), static_cast<std::size_t>(count));
  EXPECT_TRUE(table.consistent());
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(table.remove(peers[i], "crowd")) << i;
    if (i % 25'000 == 0) {
      ASSERT_TRUE(table.consistent()) << i;
    }
  }
  EXPECT_TRUE(table.subscribers("crowd").empty());
  EXPECT_EQ(table.subscribers("tenth").size(), static_cast<std::size_t>(count / 10));
  EXPECT_EQ(table.subscription_count(), static_cast<std::size_t>(count / 10));
  EXPECT_TRUE(table.consistent());
}

// Random subscribe / unsubscribe / leave-all against a plain model: same answers, and the
// slot bookkeeping stays exact after every step.
TEST(Subscriptions, MatchesAModelUnderRandomOperations) {
  std::mt19937 random(12345);
  std::vector<Peer> peers(40);
  for (int i = 0; i < 40; ++i) peers[i].id = i;
  const std::vector<std::string> topics = {"a", "b", "c", "d", "e", "f"};
  Subscriptions<Peer> table;
  std::map<std::string, std::set<int>> model;
  for (int step = 0; step < 5000; ++step) {
    Peer& peer = peers[random() % peers.size()];
    const std::string& topic = topics[random() % topics.size()];
    switch (random() % 5) {
      case 0:
      case 1:
        EXPECT_EQ(table.add(peer, topic), model[topic].insert(peer.id).second);
        break;
      case 2:
      case 3:
        EXPECT_EQ(table.remove(peer, topic), model[topic].erase(peer.id) == 1);
        break;
      default:
        table.remove_all(peer);
        for (auto& [name, members] : model) members.erase(peer.id);
        break;
    }
    ASSERT_TRUE(table.consistent()) << step;
    for (const std::string& name : topics) {
      ASSERT_EQ(ids(table.subscribers(name)), model[name]) << step << " " << name;
      EXPECT_EQ(table.contains(peer, name), model[name].count(peer.id) == 1);
    }
  }
}

}  // namespace
}  // namespace wsx::session
