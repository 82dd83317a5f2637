#include "session/position.hpp"

#include <gtest/gtest.h>

namespace wsx::session {
namespace {

TEST(Position, ParsesRedisStreamIdsAndOrdersThemNumerically) {
  const std::optional<Position> a = parse_position("1733380000000-0");
  const std::optional<Position> b = parse_position("1733380000000-12");
  const std::optional<Position> c = parse_position("1733380000001-2");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->ms, 1733380000000u);
  EXPECT_EQ(b->seq, 12u);
  EXPECT_LT(*a, *b);
  EXPECT_LT(*b, *c);
  // Numeric, not textual: "9-0" comes before "10-0".
  EXPECT_LT(*parse_position("9-0"), *parse_position("10-0"));
  EXPECT_EQ(*parse_position("18446744073709551615-18446744073709551615"),
            (Position{UINT64_MAX, UINT64_MAX}));
}

TEST(Position, RefusesAnythingElse) {
  for (const char* text : {"", "-", "1", "1-", "-1", "1--1", "+1-0", "1-+0", " 1-0", "1-0 ", "a-0",
                           "0x1-0", "18446744073709551616-0", "1-0-0", "1.5-0"}) {
    EXPECT_FALSE(parse_position(text)) << text;
  }
}

}  // namespace
}  // namespace wsx::session
