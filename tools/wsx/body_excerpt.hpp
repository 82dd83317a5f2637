// What a person sees of an HTTP body the server sent instead of the WebSocket handshake (a 404
// page, a proxy's refusal): the start only, safe for a terminal. A full HTML page on stderr
// buried the status line; bytes a terminal interprets (ESC, other controls) could rewrite it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wsx::tool {

// At most `limit` bytes and `max_lines` lines of `body`, each byte outside printable ASCII (but
// newline and tab) written as \xNN, "\r\n" as "\n"; then, when bytes were left out, a line saying
// how many of `total` (the body's length as announced, or body.size() when larger or unknown).
std::string body_excerpt(std::string_view body, std::size_t total, std::size_t limit = 300,
                         std::size_t max_lines = 8);

}  // namespace wsx::tool
