#include "wsx/io/timeout_wheel.hpp"

#include <algorithm>
#include <utility>

namespace wsx::io {

TimeoutEntry::~TimeoutEntry() {
  cancel();
}

void TimeoutEntry::cancel() noexcept {
  if (wheel_ != nullptr) wheel_->disarm(*this);
}

Timeout::Timeout(std::function<void()> on_expire)
    : TimeoutEntry(&Timeout::expire), callback_(std::move(on_expire)) {}

Timeout::~Timeout() {
  if (destroyed_ != nullptr) *destroyed_ = true;
}

void Timeout::expire(TimeoutEntry& entry) {
  auto& timeout = static_cast<Timeout&>(entry);
  // The callback may destroy the Timeout (the connection it guards closes), and with it the
  // std::function being run, so it runs from a local and is put back only if still wanted.
  std::function<void()> callback = std::move(timeout.callback_);
  if (!callback) return;
  bool destroyed = false;
  timeout.destroyed_ = &destroyed;
  callback();
  if (destroyed) return;
  timeout.destroyed_ = nullptr;
  if (!timeout.callback_) timeout.callback_ = std::move(callback);
}

TimeoutWheel::TimeoutWheel(Clock::time_point start, const TimeoutWheelOptions& options)
    : origin_(start),
      resolution_(std::max(options.resolution, Clock::duration(1))),
      slots_(std::max<std::size_t>(options.slots, 1)) {}

TimeoutWheel::~TimeoutWheel() {
  for (TimeoutLink& head : slots_) {
    while (head.next != &head) disarm(*static_cast<TimeoutEntry*>(head.next));
  }
}

std::uint64_t TimeoutWheel::floor_tick(Clock::time_point t) const noexcept {
  if (t <= origin_) return 0;
  return static_cast<std::uint64_t>((t - origin_) / resolution_);
}

std::uint64_t TimeoutWheel::ceil_tick(Clock::time_point t) const noexcept {
  if (t <= origin_) return 0;
  const auto elapsed = t - origin_;
  const auto ticks = static_cast<std::uint64_t>(elapsed / resolution_);
  return elapsed % resolution_ == Clock::duration::zero() ? ticks : ticks + 1;
}

void TimeoutWheel::unlink(TimeoutLink& link) noexcept {
  link.prev->next = link.next;
  link.next->prev = link.prev;
  link.prev = link.next = &link;
}

void TimeoutWheel::link(TimeoutEntry& timeout, std::uint64_t tick) noexcept {
  // A deadline already due goes to the next tick: processed ticks are never revisited.
  tick = std::max(tick, current_tick_ + 1);
  TimeoutLink& head = slots_[tick % slots_.size()];
  // The slot comes up within the next rotation, maybe before `tick` (a timeout further away
  // waits rounds there).
  const std::uint64_t visit = current_tick_ + 1 + (tick - current_tick_ - 1) % slots_.size();
  first_busy_tick_ = std::min(first_busy_tick_, visit);
  TimeoutLink& node = timeout;
  node.prev = head.prev;
  node.next = &head;
  head.prev->next = &node;
  head.prev = &node;
}

void TimeoutWheel::disarm(TimeoutEntry& timeout) noexcept {
  unlink(timeout);
  timeout.wheel_ = nullptr;
  --armed_;
}

void TimeoutWheel::schedule(TimeoutEntry& timeout, Clock::time_point deadline) noexcept {
  if (timeout.wheel_ == this) {
    if (deadline >= timeout.deadline_) {
      timeout.deadline_ = deadline;  // lazy: re-filed when the old slot comes up
      return;
    }
    unlink(timeout);
  } else {
    if (timeout.wheel_ != nullptr) timeout.wheel_->disarm(timeout);
    timeout.wheel_ = this;
    ++armed_;
  }
  timeout.deadline_ = deadline;
  link(timeout, ceil_tick(deadline));
}

void TimeoutWheel::advance(Clock::time_point now) {
  const std::uint64_t target = floor_tick(now);
  if (target <= current_tick_) return;
  // After a long pause every slot is visited once, not once per missed tick.
  const std::uint64_t steps = std::min<std::uint64_t>(target - current_tick_, slots_.size());
  const std::uint64_t first = current_tick_ + 1;
  current_tick_ = target;  // re-filed timeouts land after `target`
  TimeoutLink due;
  for (std::uint64_t i = 0; i < steps; ++i) {
    TimeoutLink& head = slots_[(first + i) % slots_.size()];
    if (head.next == &head) continue;
    // Splice the slot into `due` so callbacks re-arming into this slot are not seen again.
    due.next = head.next;
    due.prev = head.prev;
    due.next->prev = &due;
    due.prev->next = &due;
    head.next = head.prev = &head;
    while (due.next != &due) {
      TimeoutEntry& timeout = *static_cast<TimeoutEntry*>(due.next);
      if (timeout.deadline_ <= now) {
        disarm(timeout);
        if (timeout.on_expire_ != nullptr) timeout.on_expire_(timeout);  // may destroy it
      } else {
        unlink(timeout);
        link(timeout, ceil_tick(timeout.deadline_));
      }
    }
  }
}

std::optional<Clock::time_point> TimeoutWheel::next_check() const noexcept {
  if (armed_ == 0) return std::nullopt;
  // A slot's next visit only moves later as ticks pass, so the bound stays true until a link
  // lowers it; the slots before it need no look.
  const std::uint64_t last = current_tick_ + slots_.size();
  for (std::uint64_t tick = std::max(first_busy_tick_, current_tick_ + 1); tick <= last; ++tick) {
    const TimeoutLink& head = slots_[tick % slots_.size()];
    if (head.next != &head) {
      first_busy_tick_ = tick;
      return origin_ + resolution_ * static_cast<Clock::rep>(tick);
    }
  }
  first_busy_tick_ = current_tick_ + 1;
  return origin_ + resolution_ * static_cast<Clock::rep>(current_tick_ + 1);
}

}  // namespace wsx::io
