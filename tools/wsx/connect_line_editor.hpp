// The interactive prompt of `wsx connect`: libedit (native API, in its one-key-at-a-time
// "unbuffered" mode) driven by the event loop — stdin is registered in the loop and on_input()
// takes what is readable, so incoming messages are printed above the prompt while a line is
// being typed, which libedit then draws again as it was.
//
// The bytes typed are decoded here (UTF-8, the wire's encoding) and handed to libedit as wide
// characters through EL_GETCFN; a byte that is not UTF-8 goes in as U+DC80+byte (as Python's
// surrogateescape does) and comes out as that byte again, so the line holds exactly the bytes
// typed and the session can refuse it rather than send it altered. Keys are libedit's emacs
// set (and ~/.editrc); history is libedit's. Signals stay the terminal's: Ctrl-C is SIGINT,
// which the event loop turns into a close. Ctrl-D on an empty line ends the input.
//
// libedit reads the locale's character set when it starts, so the constructor makes LC_CTYPE
// UTF-8 first (see connect_line_editor.cpp). libedit keeps its state per EditLine, but the
// terminal is one: one LineEditor at a time.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "connect_console.hpp"

struct editline;

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

  // stdin is readable: read what is there and let libedit act on it.
  void on_input();

  void out(std::string_view text) override { print(stdout, text); }
  void err(std::string_view text) override { print(stderr, text); }

 private:
  struct Library;  // libedit's handles

  void print(std::FILE* stream, std::string_view text);
  void start_line();
  int history_entry() const;  // where in the history the line comes from (-1: none)
  void wipe();                // erases the prompt and the line being typed
  void redraw();  // draws them whole again  // an empty line after the prompt, without leaving
                  // libedit's raw mode
  // Reads what stdin has now into input_; false at end of input or on an error.
  bool read_more();
  // The next character of input_ (1), nothing complete yet (0) — libedit's EL_GETCFN.
  int next_char(wchar_t* c);
  // A whole character (or an invalid byte) waits in input_.
  bool char_ready() const;
  static int get_char(editline* el, wchar_t* c);
  static const char* prompt_of(editline* el);

  std::string prompt_;
  LineHandler on_line_;
  std::unique_ptr<Library> lib_;
  std::string input_;      // bytes read and not yet given to libedit
  wchar_t last_char_ = 0;  // the last character given to libedit
  bool ended_ = false;
};

}  // namespace wsx::tool
