// What a /chat client asks for in its query string, with `wsx serve --redis --history N`:
//   ?positions        every message arrives as "<position>\n<payload>"
//   ?since=POSITION   first what the room had after POSITION (positions implied), then the
//                     notice "-\n<status>" (complete, truncated or unavailable), then live
// Other parameters are ignored; a malformed position is an error (400).
// A message the room could not take (Redis unreachable, too many waiting) is answered to its
// sender alone with the text "!\nnot delivered: <reason>", and the connection stays open: no
// position starts with "!" or "-", so a client with positions cannot mistake it for a message.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "wsx/broker.hpp"

namespace wsx::tool {

struct ChatQuery {
  bool positions = false;
  std::optional<std::string> since;
};

// nullopt when `since` is present but not "<digits>-<digits>".
std::optional<ChatQuery> parse_chat_query(std::string_view query);

// The notice for a message Server::publish refused; `broker` null without --redis.
std::string chat_not_delivered_notice(const Broker* broker);

}  // namespace wsx::tool
