#include "redis/topic_set.hpp"

namespace wsx::redis {

bool TopicSet::want(std::string_view topic) {
  return topics_.try_emplace(std::string(topic)).second;
}

bool TopicSet::unwant(std::string_view topic,
                      std::vector<std::function<void(bool confirmed)>>* orphans) {
  const auto found = topics_.find(std::string(topic));
  if (found == topics_.end()) return false;
  if (orphans != nullptr) {
    for (auto& waiter : found->second.waiters) orphans->push_back(std::move(waiter));
  }
  topics_.erase(found);
  return true;
}

bool TopicSet::wanted(std::string_view topic) const {
  return topics_.contains(std::string(topic));
}

std::vector<std::string> TopicSet::all_wanted() const {
  std::vector<std::string> names;
  names.reserve(topics_.size());
  for (const auto& [name, state] : topics_) names.push_back(name);
  return names;
}

std::vector<std::function<void(bool confirmed)>> TopicSet::confirm(std::string_view topic) {
  const auto found = topics_.find(std::string(topic));
  if (found == topics_.end()) return {};
  found->second.confirmed = true;
  std::vector<std::function<void(bool confirmed)>> waiters;
  waiters.swap(found->second.waiters);
  return waiters;
}

bool TopicSet::confirmed(std::string_view topic) const {
  const auto found = topics_.find(std::string(topic));
  return found != topics_.end() && found->second.confirmed;
}

bool TopicSet::wait_for_confirmation(std::string_view topic,
                                     std::function<void(bool confirmed)> waiter) {
  const auto found = topics_.find(std::string(topic));
  if (found == topics_.end() || found->second.confirmed) return false;
  found->second.waiters.push_back(std::move(waiter));
  return true;
}

std::vector<std::function<void(bool confirmed)>> TopicSet::connection_lost() {
  std::vector<std::function<void(bool confirmed)>> waiters;
  for (auto& [name, state] : topics_) {
    state.confirmed = false;
    for (auto& waiter : state.waiters) waiters.push_back(std::move(waiter));
    state.waiters.clear();
  }
  return waiters;
}

}  // namespace wsx::redis
