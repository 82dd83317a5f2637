#include <gtest/gtest.h>

#include "wsx/proto/http_head.hpp"

namespace wsx::proto {
namespace {

TEST(ParseExtensions, Rfc7692Offers) {
  const auto offers = parse_extensions(
      "permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
      "permessage-deflate; client_max_window_bits");
  ASSERT_TRUE(offers.has_value());
  ASSERT_EQ(offers->size(), 2u);
  const ExtensionOffer& first = (*offers)[0];
  EXPECT_EQ(first.name, "permessage-deflate");
  ASSERT_EQ(first.params.size(), 2u);
  EXPECT_EQ(first.params[0].name, "client_max_window_bits");
  EXPECT_FALSE(first.params[0].value.has_value());
  EXPECT_EQ(first.params[1].name, "server_max_window_bits");
  EXPECT_EQ(first.params[1].value, "10");
  ASSERT_EQ((*offers)[1].params.size(), 1u);
}

TEST(ParseExtensions, WhitespaceAroundSeparatorsIsAllowed) {
  const auto offers = parse_extensions(" foo ;\tbar = 1 ; baz ,qux;a=b ");
  ASSERT_TRUE(offers.has_value());
  ASSERT_EQ(offers->size(), 2u);
  EXPECT_EQ((*offers)[0].name, "foo");
  EXPECT_EQ((*offers)[0].params[0].value, "1");
  EXPECT_EQ((*offers)[0].params[1].name, "baz");
  EXPECT_EQ((*offers)[1].params[0].value, "b");
}

TEST(ParseExtensions, QuotedValuesAreUnquotedAndUnescaped) {
  const auto offers = parse_extensions("x; a=\"10\"; b=\"1\\0\"; c=\"\\a\\-b\"");
  ASSERT_TRUE(offers.has_value());
  EXPECT_EQ((*offers)[0].params[0].value, "10");
  EXPECT_EQ((*offers)[0].params[1].value, "10");
  EXPECT_EQ((*offers)[0].params[2].value, "a-b");
}

TEST(ParseExtensions, QuotedValueMustBeATokenOnceUnquoted) {
  EXPECT_FALSE(parse_extensions("x; a=\"a b\""));
  EXPECT_FALSE(parse_extensions("x; a=\"\""));
  EXPECT_FALSE(parse_extensions("x; a=\"a,b\""));
  EXPECT_FALSE(parse_extensions("x; a=\"\\\"\""));
  EXPECT_FALSE(parse_extensions("x; a=\"\xC3\xA9\""));
}

TEST(ParseExtensions, MalformedQuotedStrings) {
  EXPECT_FALSE(parse_extensions("x; a=\"10"));
  EXPECT_FALSE(parse_extensions("x; a=\"10\\"));
  EXPECT_FALSE(parse_extensions("x; a=\"1\x01\""));
  EXPECT_FALSE(parse_extensions("x; a=\"1\\\x01\""));
  EXPECT_FALSE(parse_extensions("x; a=\"10\"z"));
}

TEST(ParseExtensions, EmptyElementsAreSkipped) {
  EXPECT_EQ(parse_extensions("")->size(), 0u);
  EXPECT_EQ(parse_extensions(" , ,")->size(), 0u);
  EXPECT_EQ(parse_extensions(", a,, b ,")->size(), 2u);
}

TEST(ParseExtensions, SyntaxErrors) {
  for (const char* bad :
       {"a;", "a; ", "a;;b", "a; =1", "a; b=", "a; b= ;c", "a b", "a; b c", ";a", "a; b=1=2",
        "a; b==1", "a/b", "a; b/c", "a; b=1/2", "\"a\"", "a; b=\x7F", "a\x01"}) {
    EXPECT_FALSE(parse_extensions(bad).has_value()) << bad;
  }
}

TEST(FormatExtension, WritesTokensPlainly) {
  ExtensionOffer ext{
      "permessage-deflate",
      {{"server_no_context_takeover", std::nullopt}, {"client_max_window_bits", "10"}}};
  EXPECT_EQ(format_extension(ext),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  EXPECT_EQ(format_extension({"x", {}}), "x");
}

TEST(FormatExtension, RoundTripsThroughTheParser) {
  const std::string text = "a; b; c=1, d; e=f";
  const auto offers = parse_extensions(text);
  ASSERT_TRUE(offers.has_value());
  EXPECT_EQ(format_extension((*offers)[0]) + ", " + format_extension((*offers)[1]), text);
}

TEST(FormatExtension, NonTokenValuesAreQuotedAndCannotInject) {
  EXPECT_EQ(format_extension({"x", {{"p", "a b\"c\\"}}}), "x; p=\"a b\\\"c\\\\\"");
  const std::string out = format_extension({"x\r\nEvil: 1", {{"p\r\n", "v\r\nSet-Cookie: a"}}});
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out, "xEvil1; p=\"vSet-Cookie: a\"");
}

}  // namespace
}  // namespace wsx::proto
