// Precise one-shot and periodic timers of an event loop: a binary heap with lazy cancellation.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "wsx/io/event_loop.hpp"

namespace wsx::io::detail {

class TimerQueue {
 public:
  // period zero: one-shot.
  TimerId add(Clock::time_point deadline, Clock::duration period, std::function<void()> callback);
  bool cancel(TimerId id) noexcept;
  std::optional<Clock::time_point> next_deadline() noexcept;
  // Runs every timer due at `now`, earliest first, ties in creation order. Timers created by
  // the callbacks wait for the next call, so a zero-delay timer chain cannot spin here.
  // An exception from a callback leaves at once; the queue stays whole: a periodic timer that
  // threw is rescheduled, and the timers not run yet run in the next call.
  void run_due(Clock::time_point now);
  std::size_t size() const noexcept { return timers_.size(); }

 private:
  struct HeapEntry {
    Clock::time_point deadline;
    TimerId id;
  };
  struct Timer {
    Clock::time_point deadline;
    Clock::duration period;
    std::function<void()> callback;
  };
  void push(Clock::time_point deadline, TimerId id);
  void pop_stale() noexcept;
  void reschedule(const HeapEntry& fired, Clock::duration period, std::function<void()> callback,
                  Clock::time_point now);

  std::vector<HeapEntry> heap_;
  std::unordered_map<TimerId, Timer> timers_;
  TimerId next_id_ = 1;
};

}  // namespace wsx::io::detail
