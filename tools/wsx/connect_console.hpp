// Where `wsx connect` writes its lines: straight to stdout/stderr, or above the prompt of the
// line editor when interactive (so incoming messages never garble the line being typed).
#pragma once

#include <string_view>

namespace wsx::tool {

class Console {
 public:
  virtual ~Console() = default;
  // One line (or several joined by '\n'), without the final newline.
  virtual void out(std::string_view text) = 0;
  virtual void err(std::string_view text) = 0;
};

// Writes and flushes each line at once, so a pipe's reader sees it as it happens.
class PlainConsole final : public Console {
 public:
  void out(std::string_view text) override;
  void err(std::string_view text) override;
};

}  // namespace wsx::tool
