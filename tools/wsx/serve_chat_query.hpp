// What a /chat client asks for in its query string, with `wsx serve --redis --history N`:
//   ?positions        every message arrives as "<position>\n<payload>"
//   ?since=POSITION   first what the room had after POSITION (positions implied), then the
//                     notice "-\n<status>" (complete, truncated or unavailable), then live
// Other parameters are ignored; a malformed position is an error (400).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wsx::tool {

struct ChatQuery {
  bool positions = false;
  std::optional<std::string> since;
};

// nullopt when `since` is present but not "<digits>-<digits>".
std::optional<ChatQuery> parse_chat_query(std::string_view query);

}  // namespace wsx::tool
