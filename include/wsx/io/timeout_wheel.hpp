// Coarse per-connection timeouts (handshake, idle, close) in a hashed timing wheel.
// Arming, re-arming and cancelling are O(1) and allocation-free: an idle timeout can be pushed
// back on every message. A timeout fires at most one resolution late and never early.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "wsx/export.hpp"

namespace wsx::io {

using Clock = std::chrono::steady_clock;

class TimeoutWheel;

// Intrusive list hook: a timeout lives inside the object it guards (a connection), so the wheel
// never allocates per timeout.
struct WSX_API TimeoutLink {
  TimeoutLink* prev = this;
  TimeoutLink* next = this;
};

// What the wheel files: a deadline and a plain function to call when it passes. 40 bytes: a
// per-connection owner derives from it and finds itself from the entry with a static_cast, so
// an idle connection does not carry a closure. Timeout below adds one, for everyone else.
class WSX_API TimeoutEntry : private TimeoutLink {
 public:
  // Called with the entry that expired (no longer armed). It may re-arm, cancel or destroy it.
  using Expiry = void (*)(TimeoutEntry&);

  explicit TimeoutEntry(Expiry on_expire) noexcept : on_expire_(on_expire) {}
  ~TimeoutEntry();
  TimeoutEntry(const TimeoutEntry&) = delete;
  TimeoutEntry& operator=(const TimeoutEntry&) = delete;

  void cancel() noexcept;
  bool armed() const noexcept { return wheel_ != nullptr; }
  Clock::time_point deadline() const noexcept { return deadline_; }

 private:
  friend class TimeoutWheel;
  TimeoutWheel* wheel_ = nullptr;
  Clock::time_point deadline_{};
  Expiry on_expire_;
};

class WSX_API Timeout : public TimeoutEntry {
 public:
  // The callback is set once (a lambda capturing `this` does not allocate), not on every arm.
  explicit Timeout(std::function<void()> on_expire = {});
  ~Timeout();

  void set_callback(std::function<void()> on_expire) { callback_ = std::move(on_expire); }

 private:
  static void expire(TimeoutEntry& entry);
  std::function<void()> callback_;
  bool* destroyed_ = nullptr;  // set while the callback runs: it may destroy its own Timeout
};

struct WSX_API TimeoutWheelOptions {
  Clock::duration resolution = std::chrono::milliseconds(100);
  std::size_t slots = 1024;  // one rotation = slots × resolution; longer timeouts wait rounds
};

class WSX_API TimeoutWheel {
 public:
  explicit TimeoutWheel(Clock::time_point start, const TimeoutWheelOptions& options = {});
  ~TimeoutWheel();  // disarms every timeout still in the wheel
  TimeoutWheel(const TimeoutWheel&) = delete;
  TimeoutWheel& operator=(const TimeoutWheel&) = delete;

  // Arms (or re-arms) `timeout` to fire at `deadline`. Moving a deadline later only stores it:
  // the timeout is re-filed lazily when its old slot comes up.
  void schedule(TimeoutEntry& timeout, Clock::time_point deadline) noexcept;

  // Fires, in no particular order within one tick, every timeout whose deadline is <= now.
  // Callbacks may arm, cancel or destroy any timeout, including their own.
  void advance(Clock::time_point now);

  // When advance() next has work to do, if any timeout is armed. May be early (a deadline that
  // was moved later), never late.
  std::optional<Clock::time_point> next_check() const noexcept;

  std::size_t size() const noexcept { return armed_; }
  Clock::duration resolution() const noexcept { return resolution_; }

 private:
  friend class TimeoutEntry;
  std::uint64_t ceil_tick(Clock::time_point t) const noexcept;
  std::uint64_t floor_tick(Clock::time_point t) const noexcept;
  void link(TimeoutEntry& timeout, std::uint64_t tick) noexcept;
  static void unlink(TimeoutLink& link) noexcept;
  void disarm(TimeoutEntry& timeout) noexcept;

  Clock::time_point origin_;
  Clock::duration resolution_;
  std::uint64_t current_tick_ = 0;  // every tick up to this one has been processed
  // No slot is visited with a timeout in it before this tick: next_check() starts its scan here
  // instead of at the next tick. Without it every loop iteration walked the empty slots up to
  // the first idle timeout (hundreds while connections are busy, 15 % of an echo server's
  // instructions for 16-byte messages).
  mutable std::uint64_t first_busy_tick_ = 0;
  std::size_t armed_ = 0;
  std::vector<TimeoutLink> slots_;
};

}  // namespace wsx::io
