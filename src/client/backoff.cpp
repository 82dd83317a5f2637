#include "wsx/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace wsx {

Backoff::Backoff(const ReconnectOptions& options, std::uint64_t seed) : options_(options) {
  if (seed == 0) {
    std::random_device device;
    seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }
  state_ = seed;
  options_.jitter = std::clamp(options_.jitter, 0.0, 1.0);
  options_.multiplier = std::max(options_.multiplier, 1.0);
  options_.initial_delay = std::max(options_.initial_delay, std::chrono::milliseconds(0));
  options_.max_delay = std::max(options_.max_delay, options_.initial_delay);
}

double Backoff::uniform() {
  state_ += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

std::optional<std::chrono::milliseconds> Backoff::next() {
  if (!options_.enabled || attempts_ >= options_.max_attempts) return std::nullopt;
  // initial * multiplier^attempts, computed in double and capped before converting, so a long
  // run of attempts cannot overflow.
  const double cap = static_cast<double>(options_.max_delay.count());
  const double base =
      std::min(cap, static_cast<double>(options_.initial_delay.count()) *
                        std::pow(options_.multiplier, static_cast<double>(attempts_)));
  ++attempts_;
  const double delay = base * (1.0 - options_.jitter * uniform());
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(delay)));
}

}  // namespace wsx
