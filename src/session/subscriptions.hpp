// Who is subscribed to which topic, on one loop. Publishing walks a topic's subscribers in a
// plain vector (the hot path stays a pointer walk); subscribing, unsubscribing, asking and
// leaving everything are O(1) per subscription (expected: hash lookups and swap-removals, no
// search anywhere), so 100,000 subscribers leaving one topic take 100,000 steps instead of the
// 5·10^9 comparisons of a linear scan per departure.
//
// How: every subscription is a membership (topic, subscriber) that records its slot in the
// topic's vector and in the subscriber's vector of topics. Removing swaps the last entry of each
// vector into the freed slot and corrects that entry's recorded slot. Memory is per
// subscription (two vector entries and one hash node); a subscriber without any subscription
// costs nothing here, so an idle connection carries no topic bookkeeping.
//
// A template so that the structure can be tested with cheap stand-ins for connections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wsx::session {

template <class Subscriber>
class Subscriptions {
 public:
  Subscriptions() = default;
  Subscriptions(const Subscriptions&) = delete;
  Subscriptions& operator=(const Subscriptions&) = delete;

  // False if already subscribed.
  bool add(Subscriber& subscriber, std::string_view topic) {
    auto found = topics_.find(topic);
    if (found == topics_.end()) {
      found = topics_.emplace(std::string(topic), Topic{}).first;
      found->second.name = &found->first;
    }
    Topic& entry = found->second;
    const auto [membership, inserted] = memberships_.try_emplace(Key{&entry, &subscriber});
    if (!inserted) return false;
    std::vector<Topic*>& mine = topics_of_[&subscriber];
    membership->second = {static_cast<std::uint32_t>(entry.subscribers.size()),
                          static_cast<std::uint32_t>(mine.size())};
    entry.subscribers.push_back(&subscriber);
    mine.push_back(&entry);
    return true;
  }

  // False if not subscribed.
  bool remove(Subscriber& subscriber, std::string_view topic) {
    const auto found = topics_.find(topic);
    if (found == topics_.end()) return false;
    const auto membership = memberships_.find(Key{&found->second, &subscriber});
    if (membership == memberships_.end()) return false;
    const auto mine = topics_of_.find(&subscriber);
    leave(membership, mine->second);
    if (mine->second.empty()) topics_of_.erase(mine);
    return true;
  }

  void remove_all(Subscriber& subscriber) {
    const auto mine = topics_of_.find(&subscriber);
    if (mine == topics_of_.end()) return;
    std::vector<Topic*>& list = mine->second;
    while (!list.empty()) leave(memberships_.find(Key{list.back(), &subscriber}), list);
    topics_of_.erase(mine);
  }

  bool contains(const Subscriber& subscriber, std::string_view topic) const {
    const auto found = topics_.find(topic);
    return found != topics_.end() && memberships_.contains(Key{&found->second, &subscriber});
  }

  // In no particular order; valid until the next add or remove.
  std::span<Subscriber* const> subscribers(std::string_view topic) const {
    const auto found = topics_.find(topic);
    if (found == topics_.end()) return {};
    return found->second.subscribers;
  }

  std::size_t topic_count() const noexcept { return topics_.size(); }
  std::size_t subscription_count() const noexcept { return memberships_.size(); }
  std::size_t topics_of(const Subscriber& subscriber) const {
    const auto mine = topics_of_.find(const_cast<Subscriber*>(&subscriber));
    return mine == topics_of_.end() ? 0 : mine->second.size();
  }
  // Calls f(topic name) for each topic `subscriber` is subscribed to.
  template <class F>
  void for_each_topic_of(const Subscriber& subscriber, F&& f) const {
    const auto mine = topics_of_.find(const_cast<Subscriber*>(&subscriber));
    if (mine == topics_of_.end()) return;
    for (const Topic* topic : mine->second) f(std::string_view(*topic->name));
  }
  // Calls f(subscriber) once for each subscriber with at least one subscription.
  template <class F>
  void for_each_subscriber(F&& f) const {
    for (const auto& [subscriber, list] : topics_of_) f(*subscriber);
  }

  // Every membership's recorded slots point at itself (for tests).
  bool consistent() const {
    std::size_t count = 0;
    for (const auto& [key, slots] : memberships_) {
      const auto mine = topics_of_.find(const_cast<Subscriber*>(key.subscriber));
      if (mine == topics_of_.end()) return false;
      if (slots.in_topic >= key.topic->subscribers.size() ||
          key.topic->subscribers[slots.in_topic] != key.subscriber ||
          slots.in_subscriber >= mine->second.size() ||
          mine->second[slots.in_subscriber] != key.topic) {
        return false;
      }
      ++count;
    }
    std::size_t listed = 0;
    for (const auto& [subscriber, list] : topics_of_) listed += list.size();
    return count == listed;
  }

 private:
  struct Topic {
    std::vector<Subscriber*> subscribers;
    const std::string* name = nullptr;  // the key of this entry in topics_
  };
  struct Key {
    const Topic* topic;
    const Subscriber* subscriber;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept {
      const std::size_t a = std::hash<const void*>{}(key.topic);
      const std::size_t b = std::hash<const void*>{}(key.subscriber);
      return a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    }
  };
  struct Slots {
    std::uint32_t in_topic = 0;       // index in Topic::subscribers
    std::uint32_t in_subscriber = 0;  // index in topics_of_[subscriber]
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using Memberships = std::unordered_map<Key, Slots, KeyHash>;

  // Removes one membership; `list` is its subscriber's vector of topics (left in topics_of_,
  // possibly empty, for the caller to erase).
  void leave(typename Memberships::iterator membership, std::vector<Topic*>& list) {
    Topic& topic = *const_cast<Topic*>(membership->first.topic);
    Subscriber* const subscriber = const_cast<Subscriber*>(membership->first.subscriber);
    const Slots slots = membership->second;
    memberships_.erase(membership);

    Subscriber* const moved = topic.subscribers.back();
    topic.subscribers[slots.in_topic] = moved;
    topic.subscribers.pop_back();
    if (moved != subscriber)
      memberships_.find(Key{&topic, moved})->second.in_topic = slots.in_topic;

    Topic* const moved_topic = list.back();
    list[slots.in_subscriber] = moved_topic;
    list.pop_back();
    if (moved_topic != &topic) {
      memberships_.find(Key{moved_topic, subscriber})->second.in_subscriber = slots.in_subscriber;
    }
    if (topic.subscribers.empty()) topics_.erase(topics_.find(std::string_view(*topic.name)));
  }

  std::unordered_map<std::string, Topic, StringHash, std::equal_to<>> topics_;
  std::unordered_map<Subscriber*, std::vector<Topic*>> topics_of_;
  Memberships memberships_;
};

}  // namespace wsx::session
