// The interactive prompt of `wsx connect`: a small line editor driven by the event loop (stdin
// is registered in the loop and on_input() takes what is readable), so incoming messages are
// printed above the prompt while a line is being typed, which is then drawn again as it was.
//
// Written here rather than taken from libedit, whose readline emulation in callback mode fed
// each byte to the editor as a character of its own (non-ASCII was lost), showed every line
// twice and printed "^[[A" for an arrow key on a fresh line. This one takes the bytes typed as
// UTF-8 whatever the locale (a text message is UTF-8), sends exactly the bytes typed, and keeps
// the terminal's signals (Ctrl-C stays SIGINT, which the event loop turns into a close).
//
// Keys: the usual Emacs-like set — arrows, Home/End (Ctrl-A/E), Backspace, Delete, Ctrl-K/U/W,
// Ctrl-L, Up/Down (Ctrl-P/N) for history, Ctrl-D to end on an empty line. A line longer than
// the terminal scrolls sideways.
#pragma once

#include <termios.h>

#include <cstddef>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connect_console.hpp"
#include "connect_keys.hpp"

namespace wsx::tool {

class LineEditor final : public Console {
 public:
  // `on_line` gets each line entered — exactly the bytes typed, which may not be valid UTF-8 if
  // the terminal sent other bytes — and nullopt at end of input (Ctrl-D on an empty line, or
  // stdin closed).
  using LineHandler = std::function<void(std::optional<std::string> line)>;

  LineEditor(std::string prompt, LineHandler on_line);
  // Restores the terminal as it was.
  ~LineEditor() override;
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // stdin is readable: read what is there and act on it.
  void on_input();

  void out(std::string_view text) override { print(stdout, text); }
  void err(std::string_view text) override { print(stderr, text); }

 private:
  void print(std::FILE* stream, std::string_view text);
  // Returns false once the input has ended (nothing more may be handled).
  bool handle(const Key& key);
  void enter();
  void recall(std::size_t index);  // shows history entry `index` (history_.size(): the draft)
  void render(bool cursor_at_end = false);
  std::string text() const;
  std::size_t word_start() const;  // where Ctrl-W and Alt-B go from the cursor
  std::size_t word_end() const;

  std::string prompt_;
  LineHandler on_line_;
  KeyDecoder decoder_;
  std::vector<std::string> chars_;  // the line: one code point (or invalid byte) each
  std::size_t cursor_ = 0;          // index into chars_
  std::size_t first_visible_ = 0;   // the first char shown when the line scrolls sideways
  std::vector<std::string> history_;
  std::size_t history_index_ = 0;  // history_.size() while editing the draft
  std::string draft_;              // the line being typed when Up was pressed
  bool ended_ = false;
  bool terminal_saved_ = false;
  termios saved_{};
};

// Columns a code point given as UTF-8 takes on a terminal: 0 for combining marks, 2 for East
// Asian wide and emoji, 1 otherwise (and for an invalid byte, shown as U+FFFD).
std::size_t display_width(std::string_view character);

}  // namespace wsx::tool
