#include "number_check.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <system_error>

namespace wsx::tool {
namespace {

std::string shown(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.15g", value);  // 1000000, not 1e+06
  return text;
}

std::string whole_range(std::uint64_t min, std::uint64_t max) {
  if (max == no_upper_bound) return "of " + std::to_string(min) + " or more";
  return "from " + std::to_string(min) + " to " + std::to_string(max);
}

std::string real_range(double min, double max, bool above_min) {
  std::string text = (above_min ? "above " : "of at least ") + shown(min);
  if (std::isfinite(max)) text += " and at most " + shown(max);
  return text;
}

}  // namespace

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max) {
  const std::string wanted = " is not a whole number " + whole_range(min, max);
  return CLI::Validator(
      [min, max, wanted](std::string& input) -> std::string {
        std::uint64_t value = 0;
        const char* end = input.data() + input.size();
        const auto [last, error] = std::from_chars(input.data(), end, value);
        if (input.empty() || error != std::errc() || last != end || value < min || value > max) {
          return input + wanted;
        }
        // CLI11 then converts the string itself, with strtoull base 0: 010 would be 8 and 08 an
        // error, not the 10 and 8 checked here. A check may not change the string (CLI11 gives
        // it a copy), so the ambiguous spelling is refused.
        if (input.size() > 1 && input.front() == '0') {
          return input + " starts with 0, which would make it octal: write " +
                 std::to_string(value);
        }
        return {};
      },
      "", "WHOLE_NUMBER");
}

CLI::Validator real_number(double min, double max, bool above_min) {
  const std::string wanted = " is not a number " + real_range(min, max, above_min);
  return CLI::Validator(
      [min, max, above_min, wanted](std::string& input) -> std::string {
        double value = 0;
        const char* end = input.data() + input.size();
        const auto [last, error] = std::from_chars(input.data(), end, value);
        const bool low = above_min ? !(value > min) : !(value >= min);
        if (input.empty() || error != std::errc() || last != end || !std::isfinite(value) || low ||
            value > max) {
          return input + wanted;
        }
        return {};
      },
      "", "REAL_NUMBER");
}

}  // namespace wsx::tool
