#include "connect_line_editor.hpp"

#include <editline/readline.h>

#include <cstdlib>
#include <stdexcept>
#include <utility>

namespace wsx::tool {
namespace {

LineEditor* active_editor = nullptr;  // libedit's line callback takes no context

}  // namespace

LineEditor::LineEditor(std::string prompt, LineHandler on_line)
    : prompt_(std::move(prompt)), on_line_(std::move(on_line)) {
  if (active_editor != nullptr) throw std::logic_error("only one LineEditor at a time");
  active_editor = this;
  // Signals are the event loop's business (it turns Ctrl-C into a close).
  rl_catch_signals = 0;
  rl_catch_sigwinch = 0;
  rl_callback_handler_install(prompt_.c_str(), &LineEditor::line_entered);
}

LineEditor::~LineEditor() {
  rl_callback_handler_remove();
  active_editor = nullptr;
  std::fputs("\r\x1b[K", stdout);  // erase the abandoned prompt
  std::fflush(stdout);
}

void LineEditor::on_input() {
  rl_callback_read_char();
}

void LineEditor::line_entered(char* line) {
  LineEditor* editor = active_editor;
  if (editor == nullptr) {
    std::free(line);
    return;
  }
  std::optional<std::string> text;
  if (line != nullptr) {
    text.emplace(line);
    if (!text->empty()) add_history(line);
    std::free(line);
  }
  editor->on_line_(std::move(text));
}

void LineEditor::print(std::FILE* stream, std::string_view text) {
  // Wipe the prompt and the partial line ("\r" then erase to the end of the line), print, then
  // let libedit draw the prompt and the partial line again with the cursor where it was.
  std::fputs("\r\x1b[K", stdout);
  std::fflush(stdout);
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fputc('\n', stream);
  std::fflush(stream);
  rl_forced_update_display();
}

}  // namespace wsx::tool
