// The access line `wsx serve` prints per answered request:
//   2025-01-31T12:00:00.123Z 127.0.0.1:51234 "GET /echo" 101 origin="-" subprotocol="-"
//   extensions="-" transport=h1
// transport: h1, h2 (a stream of an HTTP/2 connection; an accepted WebSocket is "CONNECT" 200)
// or long-polling (a long-polling session's open and its requests).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "wsx/server.hpp"

namespace wsx::tool {

// Values are printed in quotes with control characters, quotes and backslashes escaped, so a
// hostile header cannot forge a line.
std::string format_access_line(const AccessRecord& record,
                               std::chrono::system_clock::time_point when);

// The request target with each csrf= query value replaced by "[redacted]": a CSRF token is a
// credential of its session for an hour, so neither the log nor /admin/connections keeps it.
std::string without_csrf_token(std::string_view target);

}  // namespace wsx::tool
