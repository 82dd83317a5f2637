// Range checks for the numeric options of `wsx`, with messages people can read. CLI11's own
// said "--connect-timeout: Value -1 not in range 0.000000 to 1797693134862315708145...", 309
// digits of the largest double, and "Value abc not in range 1 to 100000" for what is not a
// number at all. These say "--connect-timeout: -1 is not a number above 0" and
// "--connections: abc is not a whole number from 1 to 100000". No description: --help shows the
// placeholder (N, SECONDS) and the option's own text says the range.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>

namespace wsx::tool {

inline constexpr std::uint64_t no_upper_bound = std::numeric_limits<std::uint64_t>::max();

// A whole number (digits only, no leading 0) from `min` to `max`.
CLI::Validator whole_number(std::uint64_t min, std::uint64_t max = no_upper_bound);

// A number (decimals allowed) from `min` to `max`; with `above_min`, strictly greater than
// `min` (a timeout of 0 seconds is no timeout to wait for).
CLI::Validator real_number(double min, double max = std::numeric_limits<double>::infinity(),
                           bool above_min = false);

}  // namespace wsx::tool
