#include "number_check.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace wsx::tool {
namespace {

// `--size TEXT` as `wsx bench` declares it; what CLI11 stored, or its error message.
struct Parsed {
  std::uint64_t value = 32;
  std::string error;
};

Parsed parse_size(const std::string& text) {
  CLI::App app;
  Parsed parsed;
  app.add_option("--size", parsed.value)->check(whole_number(0, std::uint64_t{1} << 30));
  try {
    app.parse("--size " + text, false);
  } catch (const CLI::ParseError& error) {
    parsed.error = error.what();
  }
  return parsed;
}

TEST(WholeNumber, StoresTheDecimalNumberItChecked) {
  for (const auto& [text, value] :
       {std::pair<std::string, std::uint64_t>{"0", 0}, {"10", 10}, {"1073741824", 1 << 30}}) {
    const Parsed parsed = parse_size(text);
    EXPECT_EQ(parsed.error, "") << text;
    EXPECT_EQ(parsed.value, value) << text;
  }
}

// CLI11 converts the string with strtoull base 0 after the check: 010 would be stored as 8, and
// 08 fail with "Could not convert", once the check had approved them as 10 and 8.
TEST(WholeNumber, RefusesALeadingZeroThatWouldReadAsOctal) {
  for (const auto& [text, message] :
       {std::pair<std::string, std::string>{"010",
                                            "010 starts with 0, which would make it octal: "
                                            "write 10"},
        {"08", "08 starts with 0, which would make it octal: write 8"},
        {"00", "00 starts with 0, which would make it octal: write 0"}}) {
    const Parsed parsed = parse_size(text);
    EXPECT_NE(parsed.error.find(message), std::string::npos) << text << ": " << parsed.error;
    EXPECT_EQ(parsed.value, 32u) << text;  // nothing stored
  }
  EXPECT_NE(parse_size("1073741825").error.find("is not a whole number from 0 to 1073741824"),
            std::string::npos);
}

}  // namespace
}  // namespace wsx::tool
