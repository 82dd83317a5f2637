// The interactive prompt of `wsx connect`: libedit's readline interface in callback mode, so
// the event loop stays in charge — stdin is registered in the loop and each readable byte goes
// to on_input(). Lines printed with print() appear above the prompt and the line being typed,
// which is then redrawn as it was.
//
// libedit keeps its state in globals, so at most one LineEditor exists at a time.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "connect_console.hpp"

namespace wsx::tool {

class LineEditor final : public Console {
 public:
  // `on_line` gets each line entered (added to the history when not empty), and nullopt at
  // end of input (Ctrl-D on an empty line).
  using LineHandler = std::function<void(std::optional<std::string> line)>;

  LineEditor(std::string prompt, LineHandler on_line);
  // Restores the terminal.
  ~LineEditor() override;
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // stdin is readable: let libedit read and handle what is there.
  void on_input();

  void out(std::string_view text) override { print(stdout, text); }
  void err(std::string_view text) override { print(stderr, text); }

 private:
  void print(std::FILE* stream, std::string_view text);
  static void line_entered(char* line);

  std::string prompt_;
  LineHandler on_line_;
};

}  // namespace wsx::tool
