// The bounded queue between publishers (any thread) and the broker's loop: publishes wait here
// until the loop sends them, then count as in flight until Redis answers. Queued plus in flight
// never exceeds the bound, so a slow or stuck Redis costs bounded memory and the publishers
// hear about it (push() returns false) instead of the server growing without limit.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>

#include "wsx/export.hpp"

namespace wsx::redis {

struct PendingPublish {
  std::string topic;
  std::string envelope;
};

class WSX_API PendingPublishes {
 public:
  explicit PendingPublishes(std::size_t max) : max_(max) {}

  enum class Push { queued_first, queued, full };
  // Any thread. queued_first: the queue was empty, so the loop needs waking.
  Push push(PendingPublish publish);
  // Loop thread: everything queued, which counts as in flight from now on.
  std::deque<PendingPublish> take();
  // Loop thread: Redis answered (or the connection failed) for one in-flight publish.
  void settled();
  // Loop thread: drops what is still queued (not sent); returns how many.
  std::size_t drop_queued();

  std::size_t queued() const;
  std::size_t in_flight() const;

 private:
  mutable std::mutex mutex_;
  std::deque<PendingPublish> queue_;
  std::size_t in_flight_ = 0;
  std::size_t max_;
};

}  // namespace wsx::redis
