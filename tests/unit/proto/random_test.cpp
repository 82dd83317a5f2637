#include "wsx/proto/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>
#include <thread>
#include <vector>

namespace wsx::proto {
namespace {

TEST(RandomBytes, FillsTheWholeBuffer) {
  // 4096 zero bytes left untouched anywhere would be astronomically unlikely from a CSPRNG;
  // count zero bytes per position across draws instead of asserting on single bytes.
  std::vector<std::uint8_t> buffer(4096, 0);
  random_bytes(buffer.data(), buffer.size());
  const auto zeros = std::count(buffer.begin(), buffer.end(), 0);
  EXPECT_LT(zeros, 64);  // expected 16
  // The last bytes are written too (no off-by-one at the end).
  std::vector<std::uint8_t> tail_check(4096, 0);
  bool tail_written = false;
  for (int attempt = 0; attempt < 8 && !tail_written; ++attempt) {
    random_bytes(tail_check.data(), tail_check.size());
    tail_written = tail_check.back() != 0;
  }
  EXPECT_TRUE(tail_written);
}

TEST(RandomBytes, ZeroLengthIsANoOp) {
  std::uint8_t byte = 42;
  random_bytes(&byte, 0);
  EXPECT_EQ(byte, 42);
}

TEST(RandomBytes, TwoDrawsDiffer) {
  std::array<std::uint8_t, 16> a{};
  std::array<std::uint8_t, 16> b{};
  random_bytes(a.data(), a.size());
  random_bytes(b.data(), b.size());
  EXPECT_NE(a, b);
}

TEST(RandomMaskKey, KeysAreDistinctAcrossPoolRefills) {
  // 3000 keys span three refills of the 4 KiB per-thread pool; a refill that reused or skipped
  // the buffer would repeat keys. 32-bit keys collide by chance with probability ~0.1%.
  std::set<MaskKey> keys;
  constexpr int count = 3000;
  for (int i = 0; i < count; ++i) keys.insert(random_mask_key());
  EXPECT_GE(keys.size(), static_cast<std::size_t>(count - 2));
}

TEST(RandomMaskKey, ThreadsDrawFromTheirOwnPools) {
  std::vector<MaskKey> from_thread;
  std::thread worker([&] {
    for (int i = 0; i < 100; ++i) from_thread.push_back(random_mask_key());
  });
  std::vector<MaskKey> from_main;
  for (int i = 0; i < 100; ++i) from_main.push_back(random_mask_key());
  worker.join();
  std::set<MaskKey> all(from_main.begin(), from_main.end());
  all.insert(from_thread.begin(), from_thread.end());
  EXPECT_GE(all.size(), 198u);
}

TEST(RandomMaskKey, BytesLookUniform) {
  // Each of the 4 positions over 4096 keys: every bit set about half the time.
  std::array<std::array<int, 8>, 4> ones{};
  constexpr int count = 4096;
  for (int i = 0; i < count; ++i) {
    const MaskKey key = random_mask_key();
    for (int pos = 0; pos < 4; ++pos) {
      for (int bit = 0; bit < 8; ++bit) ones[pos][bit] += (key[pos] >> bit) & 1;
    }
  }
  for (const auto& position : ones) {
    for (const int n : position) {
      EXPECT_GT(n, count / 2 - 300);  // 300 is more than 9 standard deviations (32)
      EXPECT_LT(n, count / 2 + 300);
    }
  }
}

}  // namespace
}  // namespace wsx::proto
