// Our SHA-1 (Sec-WebSocket-Accept) against the FIPS 180 examples and padding boundaries, and
// the base64 the handshake encodes it with (RFC 4648 §10 vectors).
#include "../../../src/proto/sha1.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../../../src/proto/handshake_text.hpp"

namespace wsx::proto {
namespace {

std::string hex_sha1(std::string_view text) {
  const Sha1Digest digest = sha1({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  std::string out;
  for (const std::uint8_t byte : digest) {
    char pair[3];
    std::snprintf(pair, sizeof pair, "%02x", byte);
    out += pair;
  }
  return out;
}

TEST(Sha1, FipsExamples) {
  EXPECT_EQ(hex_sha1(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex_sha1("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  // 56 bytes: the length no longer fits the first block, padding takes a second one.
  EXPECT_EQ(hex_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  // 112 bytes: one full block, then the tail.
  EXPECT_EQ(hex_sha1("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                     "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "a49b2446a02c645bf419f995b67091253a04a259");
  EXPECT_EQ(hex_sha1(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1, BlockBoundaries) {
  // Reference digests of 'a' repeated 55, 63, 64 and 65 times (the last length that pads in
  // one block, and around a full block).
  EXPECT_EQ(hex_sha1(std::string(55, 'a')), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  EXPECT_EQ(hex_sha1(std::string(63, 'a')), "03f09f5b158a7a8cdad920bddc29b81c18a551f5");
  EXPECT_EQ(hex_sha1(std::string(64, 'a')), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
  EXPECT_EQ(hex_sha1(std::string(65, 'a')), "11655326c708d70319be2610e8a57d9a5b959d3b");
}

// The fast path (SHA extensions, where the CPU has them) against the portable code on random
// input of every length around the block boundaries, and many handshake-sized ones.
TEST(Sha1, FastPathMatchesThePortableOne) {
  std::mt19937 random(1234);
  std::vector<std::uint8_t> data(300);
  for (std::size_t size = 0; size <= data.size(); ++size) {
    for (int round = 0; round < (size == 60 ? 200 : 3); ++round) {
      for (std::uint8_t& byte : data) byte = static_cast<std::uint8_t>(random());
      const std::span<const std::uint8_t> input(data.data(), size);
      ASSERT_EQ(sha1(input), sha1_portable(input)) << size << " bytes";
    }
  }
}

// A 60-byte message (an accept key's input) takes a precomputed schedule for its padding block
// in the portable code: known digests, so the test holds also where the fast path is absent and
// sha1() is the portable code itself.
TEST(Sha1, PortableCodeOfSixtyBytesAndItsNeighbours) {
  const auto portable_hex = [](std::string_view text) {
    const Sha1Digest digest =
        sha1_portable({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    std::string out;
    for (const std::uint8_t byte : digest) {
      char pair[3];
      std::snprintf(pair, sizeof pair, "%02x", byte);
      out += pair;
    }
    return out;
  };
  EXPECT_EQ(portable_hex(std::string(60, 'a')), "13d956033d9af449bfe2c4ef78c17c20469c4bf1");
  EXPECT_EQ(portable_hex("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
            "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
  EXPECT_EQ(portable_hex(std::string(59, 'a')), "dbc8b8f59ff85a2b1448ed873484b14bf0507246");
  EXPECT_EQ(portable_hex(std::string(61, 'a')), "aeab141db28af3353283b5ccb2a322df0b9b5f56");
}

TEST(Base64, Rfc4648Vectors) {
  const auto encode = [](std::string_view text) {
    return handshake_text::base64(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  };
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foob"), "Zm9vYg==");
  EXPECT_EQ(encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
  const std::uint8_t high[] = {0xff, 0xfe, 0xfd};
  EXPECT_EQ(handshake_text::base64(high, sizeof high), "//79");
}

}  // namespace
}  // namespace wsx::proto
