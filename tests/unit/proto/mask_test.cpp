#include "wsx/proto/mask.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../../src/proto/mask_internal.hpp"

namespace wsx::proto {
namespace {

using MaskFunction = std::size_t (*)(std::uint8_t*, std::size_t, const MaskKey&,
                                     std::size_t) noexcept;

struct Variant {
  const char* name;
  MaskFunction mask;
};

// Every implementation this CPU can run, the public dispatcher first.
std::vector<Variant> variants() {
  std::vector<Variant> v = {{"apply_mask", apply_mask}, {"words", detail::apply_mask_words}};
#if WSX_X86_64
  v.push_back({"sse2", detail::apply_mask_sse2});
  if (detail::cpu_has_avx2()) v.push_back({"avx2", detail::apply_mask_avx2});
#endif
  return v;
}

std::vector<std::uint8_t> random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

MaskKey random_key(std::mt19937_64& rng) {
  MaskKey key;
  for (auto& b : key) b = static_cast<std::uint8_t>(rng());
  return key;
}

TEST(Mask, Rfc6455MaskedHelloExample) {
  // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
  const MaskKey key = {0x37, 0xfa, 0x21, 0x3d};
  std::uint8_t payload[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
  for (const auto& v : variants()) {
    std::uint8_t data[5];
    std::memcpy(data, payload, 5);
    EXPECT_EQ(v.mask(data, 5, key, 0), 1u) << v.name;
    EXPECT_EQ(std::string(reinterpret_cast<char*>(data), 5), "Hello") << v.name;
  }
}

TEST(Mask, BytewiseFollowsTheRfcFormula) {
  // §5.3: transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4).
  const MaskKey key = {1, 2, 4, 8};
  std::uint8_t data[9] = {};
  EXPECT_EQ(apply_mask_bytewise(data, 9, key, 0), 1u);
  const std::uint8_t expected[9] = {1, 2, 4, 8, 1, 2, 4, 8, 1};
  EXPECT_EQ(std::memcmp(data, expected, 9), 0);

  std::uint8_t shifted[3] = {};
  EXPECT_EQ(apply_mask_bytewise(shifted, 3, key, 2), 1u);
  const std::uint8_t expected_shifted[3] = {4, 8, 1};
  EXPECT_EQ(std::memcmp(shifted, expected_shifted, 3), 0);
}

TEST(Mask, MaskingTwiceRestoresTheData) {
  std::mt19937_64 rng(7);
  const auto original = random_bytes(rng, 1000);
  const MaskKey key = random_key(rng);
  for (const auto& v : variants()) {
    auto data = original;
    v.mask(data.data(), data.size(), key, 3);
    EXPECT_NE(data, original) << v.name;
    v.mask(data.data(), data.size(), key, 3);
    EXPECT_EQ(data, original) << v.name;
  }
}

TEST(Mask, ZeroLengthTouchesNothingAndKeepsTheOffset) {
  const MaskKey key = {0xff, 0xff, 0xff, 0xff};
  for (const auto& v : variants()) {
    for (std::size_t offset = 0; offset < 4; ++offset) {
      EXPECT_EQ(v.mask(nullptr, 0, key, offset), offset) << v.name;
    }
  }
}

TEST(Mask, OffsetIsTakenModuloFour) {
  const MaskKey key = {1, 2, 3, 4};
  for (const auto& v : variants()) {
    std::uint8_t a[7] = {};
    std::uint8_t b[7] = {};
    EXPECT_EQ(v.mask(a, 7, key, 6), 1u) << v.name;
    EXPECT_EQ(v.mask(b, 7, key, 2), 1u) << v.name;
    EXPECT_EQ(std::memcmp(a, b, 7), 0) << v.name;
    std::uint8_t c[1] = {};
    EXPECT_EQ(v.mask(c, 1, key, SIZE_MAX), 0u) << v.name;  // SIZE_MAX % 4 == 3
    EXPECT_EQ(c[0], 4) << v.name;
  }
}

// The short-message reader's fused unmask and ASCII check (detail::unmask_short_is_ascii) must
// unmask exactly as the bytewise reference from phase 0, touch nothing outside the payload, and
// say "ASCII" exactly when no unmasked byte has its high bit set: one high byte anywhere (each
// position: the words, the 4-byte step, the last bytes) must make it false.
TEST(Mask, ShortUnmaskWithAsciiCheckMatchesBytewise) {
  std::mt19937_64 rng(99);
  constexpr std::size_t guard = 8;
  for (std::size_t n = 0; n <= 125; ++n) {
    for (std::size_t high_at = 0; high_at <= n; ++high_at) {  // n: all ASCII
      SCOPED_TRACE(testing::Message() << "length " << n << ", high byte at " << high_at);
      const MaskKey key = random_key(rng);
      std::vector<std::uint8_t> plain(n);
      for (auto& b : plain) b = static_cast<std::uint8_t>(rng() & 0x7f);
      if (high_at < n) plain[high_at] |= 0x80;
      auto buffer = random_bytes(rng, n + 2 * guard);
      if (n > 0) std::memcpy(buffer.data() + guard, plain.data(), n);
      apply_mask_bytewise(buffer.data() + guard, n, key, 0);  // the wire bytes
      const auto before = buffer;
      const bool ascii = detail::unmask_short_is_ascii(buffer.data() + guard, n, key);
      EXPECT_EQ(ascii, high_at == n);
      EXPECT_EQ(std::vector(buffer.begin() + guard, buffer.end() - guard), plain);
      EXPECT_TRUE(std::equal(buffer.begin(), buffer.begin() + guard, before.begin()));
      EXPECT_TRUE(std::equal(buffer.end() - guard, buffer.end(), before.end() - guard));
    }
  }
}

// Every length 0..300 and a few large ones, every key offset, every misalignment 0..31 (the AVX2
// code aligns its stores to 32 bytes; malloc promises only 16, so 0..15 reached half of them): each
// variant must agree byte for byte with the bytewise reference and never touch a byte outside
// the range (guard bytes on both sides).
TEST(Mask, EveryLengthOffsetAndAlignmentMatchesBytewise) {
  std::mt19937_64 rng(42);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  for (std::size_t n : {511u, 512u, 513u, 1000u, 4095u, 4096u, 65537u}) lengths.push_back(n);
  constexpr std::size_t guard = 32;
  for (const auto& v : variants()) {
    for (std::size_t n : lengths) {
      const auto original = random_bytes(rng, n + 2 * guard + 32);
      const MaskKey key = random_key(rng);
      for (std::size_t offset = 0; offset < 4; ++offset) {
        for (std::size_t misalign = 0; misalign < 32; ++misalign) {
          auto expected = original;
          auto actual = original;
          std::uint8_t* e = expected.data() + guard + misalign;
          std::uint8_t* a = actual.data() + guard + misalign;
          const std::size_t expected_next = apply_mask_bytewise(e, n, key, offset);
          ASSERT_EQ(v.mask(a, n, key, offset), expected_next)
              << v.name << " n=" << n << " offset=" << offset;
          ASSERT_EQ(expected_next, (offset + n) % 4);
          ASSERT_EQ(actual, expected)
              << v.name << " n=" << n << " offset=" << offset << " misalign=" << misalign;
        }
      }
    }
  }
}

// A payload that arrives in random pieces, unmasked piece by piece with the returned offset
// carried over, equals the payload unmasked at once.
TEST(Mask, RandomPiecesWithCarriedOffsetMatchWholeBuffer) {
  std::mt19937_64 rng(1234);
  for (const auto& v : variants()) {
    for (int round = 0; round < 200; ++round) {
      const std::size_t n = rng() % 5000;
      const auto original = random_bytes(rng, n);
      const MaskKey key = random_key(rng);
      auto expected = original;
      apply_mask_bytewise(expected.data(), n, key, 0);

      auto actual = original;
      std::size_t pos = 0;
      std::size_t offset = 0;
      while (pos < n) {
        const std::size_t piece = std::min<std::size_t>(n - pos, 1 + rng() % 300);
        offset = v.mask(actual.data() + pos, piece, key, offset);
        pos += piece;
      }
      EXPECT_EQ(offset, n % 4) << v.name;
      ASSERT_EQ(actual, expected) << v.name << " round " << round;
    }
  }
}

}  // namespace
}  // namespace wsx::proto
