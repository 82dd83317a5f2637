// The URL text rules shared by every URL parser (src/client/url_text.cpp): percent-decoding to
// the letter of RFC 3986 §2.1 and the decimal numbers of ports (§3.2.3).
#include <gtest/gtest.h>

#include <string>

#include "wsx/url.hpp"

namespace wsx {
namespace {

TEST(PercentDecode, KeepsTextWithoutEscapes) {
  EXPECT_EQ(percent_decode(""), "");
  EXPECT_EQ(percent_decode("user"), "user");
  EXPECT_EQ(percent_decode("h\xc3\xa9+ x"), "h\xc3\xa9+ x");  // bytes that are not "%" stay
}

TEST(PercentDecode, DecodesEachEscapeToItsByte) {
  EXPECT_EQ(percent_decode("%40"), "@");
  EXPECT_EQ(percent_decode("p%40ss%3Aword"), "p@ss:word");
  EXPECT_EQ(percent_decode("a%20b%2Bc"), "a b+c");
  EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
  EXPECT_EQ(percent_decode("%7f%80%FF"), "\x7f\x80\xff");
}

// §2.1: "The uppercase hexadecimal digits 'A' through 'F' are equivalent to the lowercase
// digits 'a' through 'f', respectively."
TEST(PercentDecode, UppercaseAndLowercaseHexAreTheSame) {
  EXPECT_EQ(percent_decode("%2F"), "/");
  EXPECT_EQ(percent_decode("%2f"), "/");
  EXPECT_EQ(percent_decode("%aB"), "\xab");
  EXPECT_EQ(percent_decode("%Ab"), "\xab");
  EXPECT_EQ(percent_decode("%c3%A9"), "\xc3\xa9");
}

TEST(PercentDecode, DecodesOnce) {
  EXPECT_EQ(percent_decode("%2541"), "%41");
  EXPECT_EQ(percent_decode("%25"), "%");
}

TEST(PercentDecode, ABadEscapeIsAnError) {
  for (const char* bad :
       {"%G0", "%0G", "%%", "%%41", "% 4", "%-1", "%+1", "%x1", "a%zzb", "%\xc3\xa9", "ok%4g"}) {
    EXPECT_EQ(percent_decode(bad), std::nullopt) << bad;
  }
}

TEST(PercentDecode, ATruncatedEscapeIsAnError) {
  for (const char* truncated : {"%", "%4", "a%", "a%4", "%41%", "%41%4", "100%"}) {
    EXPECT_EQ(percent_decode(truncated), std::nullopt) << truncated;
  }
  // The escape's digits are read only inside the text: "%4" at the end of a view whose bytes
  // go on in memory is still truncated.
  const std::string_view cut = std::string_view("%41").substr(0, 2);
  EXPECT_EQ(percent_decode(cut), std::nullopt);
}

TEST(ParseNumber, AcceptsDigitsOnly) {
  EXPECT_EQ(parse_number("0"), 0u);
  EXPECT_EQ(parse_number("8080"), 8080u);
  EXPECT_EQ(parse_number("65535"), 65535u);
  EXPECT_EQ(parse_number("007"), 7u);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "1.0", "1e3", "12a", "\xd9\xa1"}) {
    EXPECT_EQ(parse_number(bad), std::nullopt) << bad;
  }
}

TEST(ParseNumber, RefusesWhatDoesNotFitIn64Bits) {
  EXPECT_EQ(parse_number("18446744073709551615"), 18446744073709551615u);
  EXPECT_EQ(parse_number("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_number("99999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_number("000000000000000000000000018446744073709551615"), 18446744073709551615u);
}

}  // namespace
}  // namespace wsx
