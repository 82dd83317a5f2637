#include "timer_queue.hpp"

#include <algorithm>

namespace wsx::io::detail {
namespace {

// std::*_heap build a max-heap; "later" as less-than puts the earliest deadline on top.
struct Later {
  template <typename Entry>
  bool operator()(const Entry& a, const Entry& b) const noexcept {
    return a.deadline != b.deadline ? a.deadline > b.deadline : a.id > b.id;
  }
};

}  // namespace

void TimerQueue::push(Clock::time_point deadline, TimerId id) {
  heap_.push_back({deadline, id});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

TimerId TimerQueue::add(Clock::time_point deadline, Clock::duration period,
                        std::function<void()> callback) {
  const TimerId id = next_id_++;
  timers_.emplace(id, Timer{deadline, period, std::move(callback)});
  push(deadline, id);
  return id;
}

bool TimerQueue::cancel(TimerId id) noexcept {
  return timers_.erase(id) != 0;
}

// A heap entry is stale when its timer was cancelled or rescheduled since it was pushed.
void TimerQueue::pop_stale() noexcept {
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.front();
    const auto it = timers_.find(top.id);
    if (it != timers_.end() && it->second.deadline == top.deadline) return;
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
  }
}

std::optional<Clock::time_point> TimerQueue::next_deadline() noexcept {
  pop_stale();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().deadline;
}

// A periodic timer fires again one period after its deadline. Missed periods are skipped
// rather than run in a burst.
void TimerQueue::reschedule(const HeapEntry& fired, Clock::duration period,
                            std::function<void()> callback, Clock::time_point now) {
  const auto it = timers_.find(fired.id);
  if (it == timers_.end()) return;  // cancelled by its own callback
  Clock::time_point next = fired.deadline + period;
  if (next <= now) next = now + period;
  it->second.deadline = next;
  it->second.callback = std::move(callback);
  push(next, fired.id);
}

void TimerQueue::run_due(Clock::time_point now) {
  const TimerId first_new = next_id_;
  std::vector<HeapEntry> deferred;  // created during this call: not run now
  try {
    for (pop_stale(); !heap_.empty() && heap_.front().deadline <= now; pop_stale()) {
      const HeapEntry entry = heap_.front();
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      heap_.pop_back();
      if (entry.id >= first_new) {
        deferred.push_back(entry);
        continue;
      }
      auto it = timers_.find(entry.id);
      // The callback may cancel its own timer, so it runs from a local.
      std::function<void()> callback = std::move(it->second.callback);
      const Clock::duration period = it->second.period;
      if (period == Clock::duration::zero()) {
        timers_.erase(it);
        callback();
        continue;
      }
      // A periodic timer whose callback throws stays scheduled (event_loop.hpp): without
      // this its entry would stay behind with no callback and no heap entry, never to fire.
      try {
        callback();
      } catch (...) {
        reschedule(entry, period, std::move(callback), now);
        throw;
      }
      reschedule(entry, period, std::move(callback), now);
    }
  } catch (...) {
    // The timers due and not reached yet are still in the heap; these were taken out of it.
    for (const HeapEntry& entry : deferred) push(entry.deadline, entry.id);
    throw;
  }
  for (const HeapEntry& entry : deferred) push(entry.deadline, entry.id);
}

}  // namespace wsx::io::detail
