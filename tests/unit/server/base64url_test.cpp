#include "server/base64url.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

namespace wsx::server {
namespace {

std::vector<std::uint8_t> bytes_of(std::string_view text) {
  return {text.begin(), text.end()};
}

TEST(Base64Url, Rfc4648Vectors) {
  // RFC 4648 §10 without padding; the url alphabet differs only in 62 and 63.
  EXPECT_EQ(base64url_encode(bytes_of("")), "");
  EXPECT_EQ(base64url_encode(bytes_of("f")), "Zg");
  EXPECT_EQ(base64url_encode(bytes_of("fo")), "Zm8");
  EXPECT_EQ(base64url_encode(bytes_of("foo")), "Zm9v");
  EXPECT_EQ(base64url_encode(bytes_of("foob")), "Zm9vYg");
  EXPECT_EQ(base64url_encode(bytes_of("fooba")), "Zm9vYmE");
  EXPECT_EQ(base64url_encode(bytes_of("foobar")), "Zm9vYmFy");
  const std::array<std::uint8_t, 3> high{0xfb, 0xff, 0xfe};
  EXPECT_EQ(base64url_encode(high), "-__-");
}

TEST(Base64Url, RoundTripsEveryLength) {
  std::mt19937 random(7);
  for (std::size_t size = 0; size < 80; ++size) {
    std::vector<std::uint8_t> bytes(size);
    for (auto& byte : bytes) byte = static_cast<std::uint8_t>(random());
    const std::string text = base64url_encode(bytes);
    std::vector<std::uint8_t> back(size);
    ASSERT_TRUE(base64url_decode(text, back)) << text;
    EXPECT_EQ(back, bytes);
  }
}

TEST(Base64Url, RefusesWhatIsNotStrictBase64Url) {
  std::array<std::uint8_t, 3> out{};
  EXPECT_FALSE(base64url_decode("Zm9", out));    // too short
  EXPECT_FALSE(base64url_decode("Zm9vY", out));  // too long
  EXPECT_FALSE(base64url_decode("Zm+v", out));   // the other alphabet
  EXPECT_FALSE(base64url_decode("Zm/v", out));
  EXPECT_FALSE(base64url_decode("Zm9=", out));  // padding
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4), out));
  EXPECT_FALSE(base64url_decode("Zm v", out));
  std::array<std::uint8_t, 1> one{};
  EXPECT_TRUE(base64url_decode("Zg", one));
  EXPECT_EQ(one[0], 'f');
  EXPECT_FALSE(base64url_decode("Zh", one));  // unused low bits set: a second spelling of "f"
}

}  // namespace
}  // namespace wsx::server
