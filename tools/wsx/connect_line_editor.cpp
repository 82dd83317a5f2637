#include "connect_line_editor.hpp"

#include <editline/readline.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <utility>

namespace wsx::tool {
namespace {

LineEditor* active_editor = nullptr;  // libedit's line callback takes no context
bool end_of_input = false;            // stdin ended
bool fresh_line = true;               // nothing typed since the last line was entered
int pushed_key = -1;                  // a key read by on_input() for libedit to take next

constexpr int ctrl_d = 4;

int read_key(std::FILE* stream) {
  if (pushed_key >= 0) {
    const int key = pushed_key;
    pushed_key = -1;
    fresh_line = false;
    return key;
  }
  unsigned char key = 0;
  ssize_t n = 0;
  do {
    n = ::read(fileno(stream), &key, 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    end_of_input = true;
    return EOF;
  }
  fresh_line = false;
  return key;
}

}  // namespace

LineEditor::LineEditor(std::string prompt, LineHandler on_line)
    : prompt_(std::move(prompt)), on_line_(std::move(on_line)) {
  if (active_editor != nullptr) throw std::logic_error("only one LineEditor at a time");
  active_editor = this;
  // Signals are the event loop's business (it turns Ctrl-C into a close).
  rl_catch_signals = 0;
  rl_catch_sigwinch = 0;
  rl_getc_function = read_key;
  end_of_input = false;
  fresh_line = true;
  pushed_key = -1;
  rl_callback_handler_install(prompt_.c_str(), &LineEditor::line_entered);
}

LineEditor::~LineEditor() {
  rl_callback_handler_remove();
  active_editor = nullptr;
  std::fputs("\r\x1b[K", stdout);  // erase the abandoned prompt
  std::fflush(stdout);
}

void LineEditor::on_input() {
  // libedit's callback mode mishandles Ctrl-D on a fresh line: right after a line was entered
  // its buffer still holds that line (until the next key), so Ctrl-D is not seen as end of input
  // and it then blocks reading more. So the first key of a line is read here.
  if (fresh_line) {
    unsigned char key = 0;
    ssize_t n = 0;
    do {
      n = ::read(STDIN_FILENO, &key, 1);
    } while (n < 0 && errno == EINTR);
    if (n <= 0 || key == ctrl_d) {
      on_line_(std::nullopt);
      return;
    }
    pushed_key = key;
  }
  rl_callback_read_char();
  if (end_of_input) {
    end_of_input = false;
    on_line_(std::nullopt);
  }
}

void LineEditor::line_entered(char* line) {
  LineEditor* editor = active_editor;
  if (editor == nullptr) {
    std::free(line);
    return;
  }
  fresh_line = true;
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
  if (fresh_line) {
    // libedit still holds the line just entered (until the next key): a redraw would show it as
    // if it were being typed again. Nothing is typed yet, so the prompt alone is the truth.
    std::fputs(prompt_.c_str(), stdout);
    std::fflush(stdout);
  } else {
    rl_forced_update_display();
  }
}

}  // namespace wsx::tool
