// When a busy event loop should pause before handling a wake-up (EventLoopOptions::
// coalesce_wait), and for how many wake-ups it should not try again.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace wsx::io::detail {

// A wake-up that found few ready sockets costs the same system calls as one that found many.
// Pausing a little before handling it lets more arrive, so one pass (one epoll_wait, one batch
// of sends) serves more messages. The pause only pays while sockets keep becoming ready during
// it; when the look after the pause finds fewer than twice as many as the first, or fewer than
// two more (two connections taking turns gain nothing worth a pause), the next pauses are
// skipped for a number of wake-ups that doubles with each fruitless one, so a lone connection
// or a quiet server pays for roughly one pause per 1024 wake-ups at most.
class CoalescingWait {
 public:
  // A wake-up with this many ready sockets or more is handled at once: it is a batch already.
  static constexpr int enough_ready = 16;
  static constexpr std::uint32_t max_skip = 1024;

  explicit CoalescingWait(std::chrono::microseconds pause) noexcept : pause_(pause) {}

  std::chrono::microseconds pause() const noexcept { return pause_; }

  // Whether to pause before handling a wake-up that found `ready` sockets.
  bool due(int ready) noexcept {
    if (pause_.count() <= 0 || ready <= 0 || ready >= enough_ready) return false;
    if (skip_ > 0) {
      --skip_;
      return false;
    }
    return true;
  }

  // After a pause: the look before it found `before` ready descriptors, the look after it
  // `after`.
  void paused(int before, int after) noexcept {
    // One writer (the loop thread); others may read (Server::coalescing_pauses()).
    pauses_.store(pauses_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (after >= 2 * before && after >= before + 2) {
      backoff_ = 0;
      return;
    }
    backoff_ = backoff_ == 0 ? 1 : std::min<std::uint32_t>(backoff_ * 2, max_skip);
    skip_ = backoff_;
  }

  std::uint64_t pauses() const noexcept { return pauses_.load(std::memory_order_relaxed); }

 private:
  std::chrono::microseconds pause_;
  std::uint32_t backoff_ = 0;  // the last skip, doubled by each fruitless pause
  std::uint32_t skip_ = 0;     // wake-ups left to handle at once
  std::atomic<std::uint64_t> pauses_{0};
};

}  // namespace wsx::io::detail
