#include "redis/pending_publishes.hpp"

namespace wsx::redis {

PendingPublishes::Push PendingPublishes::push(PendingPublish publish) {
  std::lock_guard lock(mutex_);
  if (queue_.size() + in_flight_ >= max_) return Push::full;
  const bool first = queue_.empty();
  queue_.push_back(std::move(publish));
  return first ? Push::queued_first : Push::queued;
}

std::deque<PendingPublish> PendingPublishes::take() {
  std::lock_guard lock(mutex_);
  std::deque<PendingPublish> taken;
  taken.swap(queue_);
  in_flight_ += taken.size();
  return taken;
}

void PendingPublishes::settled() {
  std::lock_guard lock(mutex_);
  if (in_flight_ > 0) --in_flight_;
}

std::size_t PendingPublishes::drop_queued() {
  std::lock_guard lock(mutex_);
  const std::size_t dropped = queue_.size();
  queue_.clear();
  return dropped;
}

std::size_t PendingPublishes::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::size_t PendingPublishes::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

}  // namespace wsx::redis
