#include "server/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace wsx::server {

double TokenBucket::level(double rate, double capacity, Clock::time_point now) const noexcept {
  // A clock that went back (it cannot: steady) or a call with an older `now` adds nothing.
  const double elapsed = std::max(0.0, std::chrono::duration<double>(now - updated_).count());
  return std::min(capacity, tokens_ + elapsed * rate);
}

bool TokenBucket::take(double rate, double capacity, Clock::time_point now) noexcept {
  tokens_ = level(rate, capacity, now);
  updated_ = std::max(updated_, now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

TokenBucket::Clock::duration TokenBucket::time_to_token(double rate) const noexcept {
  if (tokens_ >= 1.0) return Clock::duration::zero();
  // Capped before the conversion: a tiny rate (1e-12 a second) would make a wait of 1e21 ns,
  // which does not fit the clock's integer count (undefined behaviour, not just a big number).
  constexpr double max_wait_seconds = 24 * 3600;
  if (rate <= 0) return std::chrono::hours(24);
  const double wait = std::min(max_wait_seconds, (1.0 - tokens_) / rate);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
}

bool TokenBucket::full(double rate, double capacity, Clock::time_point now) const noexcept {
  return level(rate, capacity, now) >= capacity;
}

}  // namespace wsx::server
