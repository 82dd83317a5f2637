// The pieces of the Prometheus text exposition format (0.0.4): which names are valid, how
// label values and help texts are escaped, how numbers are written.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wsx::metrics_detail {

bool valid_metric_name(std::string_view name) noexcept;  // [a-zA-Z_:][a-zA-Z0-9_:]*
// [a-zA-Z_][a-zA-Z0-9_]*, and not "__..." (reserved for Prometheus itself).
bool valid_label_name(std::string_view name) noexcept;

// Label values: backslash, double quote and line feed escaped (\\ \" \n).
void append_label_value(std::string& out, std::string_view value);
// HELP text: backslash and line feed escaped.
void append_help(std::string& out, std::string_view help);
// A sample value: integers as integers, others in the shortest form that reads back the same,
// +Inf, -Inf and NaN as the format spells them.
void append_value(std::string& out, double value);
void append_value(std::string& out, std::uint64_t value);
void append_value(std::string& out, std::int64_t value);

}  // namespace wsx::metrics_detail
