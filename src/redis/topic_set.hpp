// The topics this node must be subscribed to on Redis (those with local subscribers), and
// which of them Redis has confirmed on the current connection. After a reconnection every
// wanted topic is subscribed again; a recovery waits for its topic's confirmation, because
// only from then on does the subscription bring every new message. Loop thread only.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "wsx/export.hpp"

namespace wsx::redis {

class WSX_API TopicSet {
 public:
  // True when the topic was not wanted before (SUBSCRIBE it now, if connected).
  bool want(std::string_view topic);
  // True when it was wanted (UNSUBSCRIBE it now, if connected). Its waiters are handed to
  // `orphans` (to fail them).
  bool unwant(std::string_view topic,
              std::vector<std::function<void(bool confirmed)>>* orphans = nullptr);
  bool wanted(std::string_view topic) const;
  std::vector<std::string> all_wanted() const;  // to subscribe again after a reconnection

  // Redis confirmed the SUBSCRIBE: returns the waiters to run (in the order they came).
  std::vector<std::function<void(bool confirmed)>> confirm(std::string_view topic);
  bool confirmed(std::string_view topic) const;
  // Keeps `waiter` until the topic is confirmed: returns false (and keeps nothing) when it is
  // confirmed already or not wanted, for the caller to decide at once.
  bool wait_for_confirmation(std::string_view topic, std::function<void(bool confirmed)> waiter);
  // The connection is gone: nothing is confirmed; the waiters are handed back (to fail them).
  std::vector<std::function<void(bool confirmed)>> connection_lost();

  std::size_t size() const noexcept { return topics_.size(); }

 private:
  struct State {
    bool confirmed = false;
    std::vector<std::function<void(bool confirmed)>> waiters;
  };
  std::unordered_map<std::string, State> topics_;
};

}  // namespace wsx::redis
