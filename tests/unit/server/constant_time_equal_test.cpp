#include "server/constant_time_equal.hpp"

#include <gtest/gtest.h>

#include <array>

namespace wsx::server {
namespace {

TEST(ConstantTimeEqual, ComparesWholeSpans) {
  std::array<std::uint8_t, 32> a{};
  std::array<std::uint8_t, 32> b{};
  EXPECT_TRUE(constant_time_equal(a, b));
  b[31] = 1;  // the last byte only
  EXPECT_FALSE(constant_time_equal(a, b));
  b[31] = 0;
  b[0] = 0x80;  // the first byte only
  EXPECT_FALSE(constant_time_equal(a, b));
  EXPECT_FALSE(constant_time_equal(std::span(a).first(31), b));  // sizes differ
  EXPECT_TRUE(constant_time_equal({}, {}));
}

}  // namespace
}  // namespace wsx::server
