// `wsx connect --json` strings (tools/wsx/connect_json.hpp): valid JSON whatever the bytes, and
// text that is UTF-8 kept as it is even when a bad byte sits beside it.
#include <gtest/gtest.h>

#include <string>

#include "connect_json.hpp"

namespace wsx::tool {
namespace {

TEST(JsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(json_string("a\"b\\c\nd\re\tf\x01g\x7f"), "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007f\"");
  EXPECT_EQ(json_string(std::string("a\0b", 3)), "\"a\\u0000b\"");
}

TEST(JsonString, KeepsWellFormedUtf8) {
  // 2-, 3- and 4-byte sequences: é, 日, U+1F600.
  EXPECT_EQ(json_string("h\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"),
            "\"h\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\"");
}

TEST(JsonString, EscapesOnlyTheBytesThatAreNotUtf8) {
  // One stray byte must not turn the valid characters around it into Latin-1 code points.
  EXPECT_EQ(json_string("h\xc3\xa9\xff\xe6\x97\xa5"), "\"h\xc3\xa9\\u00ff\xe6\x97\xa5\"");
  // A stray continuation byte, an overlong form (C0 80), a surrogate (ED A0 80) and a code
  // point beyond U+10FFFF (F4 90 80 80): each of their bytes on its own.
  EXPECT_EQ(json_string("a\x80z"), "\"a\\u0080z\"");
  EXPECT_EQ(json_string("\xc0\x80"), "\"\\u00c0\\u0080\"");
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\u00ed\\u00a0\\u0080\"");
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), "\"\\u00f4\\u0090\\u0080\\u0080\"");
}

TEST(JsonString, EscapesASequenceCutShortByteByByte) {
  // 日 without its last byte, at the end and in the middle.
  EXPECT_EQ(json_string("x\xe6\x97"), "\"x\\u00e6\\u0097\"");
  EXPECT_EQ(json_string("\xe6\x97y\xc3\xa9"), "\"\\u00e6\\u0097y\xc3\xa9\"");
}

TEST(JsonObject, BuildsOneObject) {
  JsonObject object;
  object.add("text", "h\xc3\xa9\xfe").add("size", 3).add("fin", true);
  EXPECT_EQ(object.str(), "{\"text\":\"h\xc3\xa9\\u00fe\",\"size\":3,\"fin\":true}");
}

}  // namespace
}  // namespace wsx::tool
