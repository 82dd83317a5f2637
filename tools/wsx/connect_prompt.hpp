// What a line typed at the `wsx connect` prompt asks for. Plain text is sent as a text message;
// a leading "/" starts a command (write "//" to send text that starts with "/").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "connect_codecs.hpp"

namespace wsx::tool {

struct PromptAction {
  enum Kind : std::uint8_t { send_text, send_binary, ping, close, help, quit, invalid, nothing };
  Kind kind = nothing;
  std::string text;           // send_text; close: the reason; invalid: why
  Bytes data;                 // send_binary, ping
  std::uint16_t code = 1000;  // close (1005: no code)
};

PromptAction parse_prompt_line(std::string_view line);

// The /help text, one command per line.
std::string_view prompt_help();

// The close codes /close takes, for its errors.
std::string_view prompt_close_codes();

}  // namespace wsx::tool
