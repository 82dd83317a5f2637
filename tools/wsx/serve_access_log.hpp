// The access line `wsx serve` prints per answered request:
//   2025-01-31T12:00:00.123Z 127.0.0.1:51234 "GET /echo" 101 origin="-" subprotocol="-"
//   extensions="-"
#pragma once

#include <chrono>
#include <string>

#include "wsx/server.hpp"

namespace wsx::tool {

// Values are printed in quotes with control characters, quotes and backslashes escaped, so a
// hostile header cannot forge a line.
std::string format_access_line(const AccessRecord& record,
                               std::chrono::system_clock::time_point when);

}  // namespace wsx::tool
