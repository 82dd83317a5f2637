#include "connect_prompt.hpp"

#include "wsx/url.hpp"

namespace wsx::tool {
namespace {

PromptAction invalid(std::string why) {
  PromptAction action;
  action.kind = PromptAction::invalid;
  action.text = std::move(why);
  return action;
}

std::string_view trim_left(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  return text;
}

PromptAction parse_close(std::string_view args) {
  PromptAction action;
  action.kind = PromptAction::close;
  args = trim_left(args);
  // No code: a close frame without one, as a browser's close() sends (WebSocket::close takes
  // 1005 for that). 1005 itself is never sent in a close frame (RFC 6455 7.4.1), so it is not a
  // code to type.
  if (args.empty()) {
    action.code = 1005;
    return action;
  }
  const std::string_view code_text = args.substr(0, args.find(' '));
  const std::optional<std::uint64_t> value = parse_number(code_text);
  if (!value || *value > 0xFFFF) {
    return invalid("/close takes a close code (1000, 3000-4999, ...) then an optional reason");
  }
  if (*value == 1005) {
    return invalid("cannot close with code 1005, which stands for no code and is never sent: use " +
                   std::string(prompt_close_codes()));
  }
  action.code = static_cast<std::uint16_t>(*value);
  if (code_text.size() < args.size())
    action.text = std::string(trim_left(args.substr(code_text.size())));
  return action;
}

}  // namespace

PromptAction parse_prompt_line(std::string_view line) {
  PromptAction action;
  if (line.empty()) return action;  // nothing: an empty line sends nothing
  if (line.front() != '/' || line.starts_with("//")) {
    action.kind = PromptAction::send_text;
    action.text = std::string(line.starts_with("//") ? line.substr(1) : line);
    return action;
  }
  const std::size_t space = line.find(' ');
  const std::string_view name = line.substr(1, space == std::string_view::npos ? space : space - 1);
  const std::string_view args =
      space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  if (name == "binary" || name == "hex") {
    auto bytes = decode_hex(args);
    if (!bytes) return invalid("/binary takes hexadecimal bytes, e.g. /binary 48 65 6c 6c 6f");
    action.kind = PromptAction::send_binary;
    action.data = std::move(*bytes);
  } else if (name == "base64") {
    auto bytes = decode_base64(args);
    if (!bytes) return invalid("/base64 takes base64 data, e.g. /base64 SGVsbG8=");
    action.kind = PromptAction::send_binary;
    action.data = std::move(*bytes);
  } else if (name == "ping") {
    const Bytes payload(args.begin(), args.end());
    if (payload.size() > 125) return invalid("a ping payload holds at most 125 bytes");
    action.kind = PromptAction::ping;
    action.data = payload;
  } else if (name == "close") {
    return parse_close(args);
  } else if (name == "help" || name == "?") {
    action.kind = PromptAction::help;
  } else if (name == "quit" || name == "exit" || name == "q") {
    action.kind = PromptAction::quit;
  } else {
    return invalid("unknown command /" + std::string(name) + " (try /help)");
  }
  return action;
}

std::string_view prompt_help() {
  return "text             send a text message (start it with // to send a leading /)\n"
         "/binary HEX      send a binary message given in hex (\"/binary 01 ff 7e\")\n"
         "/base64 DATA     send a binary message given in base64\n"
         "/ping [TEXT]     send a ping with an optional payload (at most 125 bytes),\n"
         "                 show its pong\n"
         "/close [CODE [REASON]]  start the closing handshake (no CODE: a close frame\n"
         "                 without one)\n"
         "/help            this list\n"
         "/quit            close with 1000 and exit (also Ctrl-D)";
}

std::string_view prompt_close_codes() {
  return "1000-1003, 1007-1014 or 3000-4999, a reason of at most 123 bytes, or none (/close "
         "alone)";
}

}  // namespace wsx::tool
