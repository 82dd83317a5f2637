#include "bench_latency.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace wsx::tool {

int LatencyHistogram::bucket_of(std::uint64_t value) noexcept {
  if (value < static_cast<std::uint64_t>(exact)) return static_cast<int>(value);
  const int octave = std::bit_width(value) - 1;  // >= sub_bits
  const int shift = octave - sub_bits;
  const int sub = static_cast<int>(value >> shift) - exact;  // 0..63
  return exact + shift * exact + sub;
}

std::uint64_t LatencyHistogram::bucket_top(int bucket) noexcept {
  if (bucket < exact) return static_cast<std::uint64_t>(bucket);
  const int shift = (bucket - exact) / exact;
  const std::uint64_t sub = static_cast<std::uint64_t>((bucket - exact) % exact);
  const std::uint64_t low = (exact + sub) << shift;
  return low + ((std::uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(std::chrono::nanoseconds latency) noexcept {
  const std::uint64_t value = latency.count() > 0 ? static_cast<std::uint64_t>(latency.count()) : 0;
  ++counts_[static_cast<std::size_t>(bucket_of(value))];
  ++count_;
  sum_ += value;
  max_ = std::max(max_, value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

std::chrono::nanoseconds LatencyHistogram::percentile(double quantile) const noexcept {
  if (count_ == 0) return std::chrono::nanoseconds(0);
  const double wanted = std::ceil(std::clamp(quantile, 0.0, 1.0) * static_cast<double>(count_));
  const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::chrono::nanoseconds(std::min(bucket_top(static_cast<int>(i)), max_));
    }
  }
  return std::chrono::nanoseconds(max_);
}

}  // namespace wsx::tool
