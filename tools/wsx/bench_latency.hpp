// Latency distribution for `wsx bench`: a log-linear histogram (64 sub-buckets per power of
// two, so a reported percentile is within 1/64 ≈ 1.6% of the true one) of fixed size, whatever
// the run's length. The maximum is kept exactly.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace wsx::tool {

class LatencyHistogram {
 public:
  void record(std::chrono::nanoseconds latency) noexcept;
  void merge(const LatencyHistogram& other) noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::chrono::nanoseconds max() const noexcept { return std::chrono::nanoseconds(max_); }
  // Exact (a sum, not buckets). With K messages always in flight, mean x throughput = K
  // (Little's law): the check of the bookkeeping a reader can do; the median, well below the
  // mean when stalls make a few echoes slow, cannot be checked that way.
  std::chrono::nanoseconds mean() const noexcept {
    return std::chrono::nanoseconds(count_ > 0 ? sum_ / count_ : 0);
  }
  // The smallest recorded value v such that at least `quantile` (0..1] of the samples are <= v,
  // to the bucket's precision (never above max()). Zero when nothing was recorded.
  std::chrono::nanoseconds percentile(double quantile) const noexcept;

 private:
  static constexpr int sub_bits = 6;  // 64 sub-buckets per octave
  static constexpr int exact = 1 << sub_bits;
  static constexpr int buckets = exact + (64 - sub_bits) * exact;

  static int bucket_of(std::uint64_t value) noexcept;
  static std::uint64_t bucket_top(int bucket) noexcept;  // largest value that falls in it

  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

}  // namespace wsx::tool
