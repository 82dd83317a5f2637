// Reconnect delays: exponential backoff with jitter, bounded in attempts and in delay. Jitter
// spreads the reconnects of many clients that lost the same server, so they do not all return
// in the same instant; a seed makes the sequence reproducible in tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "wsx/export.hpp"

namespace wsx {

struct WSX_API ReconnectOptions {
  bool enabled = false;
  // Attempts after a connection is lost or fails, before giving up; the count starts again once
  // a connection opens. 0 means no attempt (the same as disabled).
  std::size_t max_attempts = 10;
  std::chrono::milliseconds initial_delay{500};
  std::chrono::milliseconds max_delay{30'000};
  double multiplier = 2.0;  // >= 1
  // Each delay is drawn uniformly from [base * (1 - jitter), base], base being the exponential
  // delay capped at max_delay; 0 gives the exact sequence, 1 "full jitter". Clamped to [0, 1].
  double jitter = 0.5;
};

class WSX_API Backoff {
 public:
  // seed 0 draws a random seed.
  explicit Backoff(const ReconnectOptions& options, std::uint64_t seed = 0);

  // The delay before the next attempt, or nullopt once max_attempts have been used (or when
  // reconnecting is disabled).
  std::optional<std::chrono::milliseconds> next();
  // A connection opened: the next failure starts again from initial_delay.
  void reset() noexcept { attempts_ = 0; }
  std::size_t attempts() const noexcept { return attempts_; }
  const ReconnectOptions& options() const noexcept { return options_; }

 private:
  double uniform();  // [0, 1)

  ReconnectOptions options_;
  std::uint64_t state_;  // splitmix64: tiny, seedable, good enough for jitter
  std::size_t attempts_ = 0;
};

}  // namespace wsx
