// A token bucket, sans clock (time is passed in): `rate` tokens a second up to `capacity`, one
// taken per event. Small (16 bytes): the server keeps one per client address.
#pragma once

#include <chrono>

namespace wsx::server {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double capacity, Clock::time_point now) noexcept : tokens_(capacity), updated_(now) {}

  // Refills for the time since the last call, then takes a token if there is one.
  bool take(double rate, double capacity, Clock::time_point now) noexcept;
  // How long until one token is there (zero when there is one already), at `rate`.
  Clock::duration time_to_token(double rate) const noexcept;
  // Full by `now`: forgetting the bucket (and starting a new full one) changes nothing.
  bool full(double rate, double capacity, Clock::time_point now) const noexcept;

 private:
  double level(double rate, double capacity, Clock::time_point now) const noexcept;

  double tokens_;
  Clock::time_point updated_;
};

}  // namespace wsx::server
