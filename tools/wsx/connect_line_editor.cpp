#include "connect_line_editor.hpp"

#include <histedit.h>
#include <langinfo.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <clocale>
#include <cstdint>
#include <cstring>
#include <cwchar>
#include <memory>
#include <stdexcept>
#include <utility>

namespace wsx::tool {
namespace {

constexpr int history_size = 1000;
constexpr wchar_t ctrl_d = 4;
// A byte that is not UTF-8 travels through libedit as a lone low surrogate, which no valid
// character decodes to, and is turned back into the byte when the line is taken.
constexpr wchar_t escaped_byte_base = 0xDC00;
// The rest of a key's escape sequence (an arrow key: ESC [ A) is written by the terminal at
// once; waiting this long for it is far longer than it ever takes and too short to notice.
constexpr int sequence_wait_ms = 200;

bool codeset_is_utf8() {
  const char* codeset = nl_langinfo(CODESET);
  return codeset != nullptr &&
         (std::strcmp(codeset, "UTF-8") == 0 || std::strcmp(codeset, "utf8") == 0);
}

// The user's character set, but UTF-8 when it is not: libedit decides when it starts whether
// multibyte input and output are UTF-8 (from LC_CTYPE), and what is typed and shown here is
// UTF-8 whatever the locale says (a WebSocket text message is UTF-8). In the C locale libedit
// would take each byte of "é" for a character of its own. Only LC_CTYPE: numbers and messages
// keep the C locale's form, as in every other mode of the tool.
void use_utf8_characters() {
  std::setlocale(LC_CTYPE, "");
  if (!codeset_is_utf8()) std::setlocale(LC_CTYPE, "C.UTF-8");
}

void append_utf8(std::string& out, wchar_t c) {
  const auto cp = static_cast<std::uint32_t>(c);
  if (cp >= escaped_byte_base + 0x80 && cp <= escaped_byte_base + 0xFF) {
    out += static_cast<char>(cp - escaped_byte_base);
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Columns libedit takes to show a character: what wcwidth says, or its escaped form.
std::size_t shown_width(wchar_t c) {
  const int width = ::wcwidth(c);
  if (width >= 0) return static_cast<std::size_t>(width);
  if (c < 0x20 || c == 0x7F) return 2;  // ^X
  return c > 0xFFFF ? 8 : 7;            // \U+XXXX (an escaped byte: \U+DCE9)
}

}  // namespace

struct LineEditor::Library {
  EditLine* el = nullptr;
  HistoryW* history = nullptr;

  Library() = default;
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  ~Library() {
    if (el != nullptr) el_end(el);  // the terminal as it was
    if (history != nullptr) history_wend(history);
  }
};

LineEditor::LineEditor(std::string prompt, LineHandler on_line)
    : prompt_(std::move(prompt)), on_line_(std::move(on_line)), lib_(std::make_unique<Library>()) {
  use_utf8_characters();
  lib_->el = el_init("wsx", stdin, stdout, stderr);
  lib_->history = history_winit();
  if (lib_->el == nullptr || lib_->history == nullptr) {
    throw std::runtime_error("cannot start the line editor (libedit)");
  }
  HistEventW event;
  history_w(lib_->history, &event, H_SETSIZE, history_size);
  history_w(lib_->history, &event, H_SETUNIQUE, 1);
  EditLine* el = lib_->el;
  el_set(el, EL_CLIENTDATA, this);
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_PROMPT, &LineEditor::prompt_of);
  el_wset(el, EL_HIST, history_w, lib_->history);
  el_set(el, EL_GETCFN, &LineEditor::get_char);
  el_source(el, nullptr);  // the user's ~/.editrc, as every libedit program reads it
  // One key per el_wgets() call, so the event loop stays in charge. Turning it on puts the
  // terminal in libedit's edit mode (no echo, keys one at a time, signals kept) and draws the
  // prompt; the terminal stays so until the destructor.
  el_set(el, EL_UNBUFFERED, 1);
}

LineEditor::~LineEditor() {
  wipe();  // the abandoned prompt; then lib_ gives the terminal back as it was
}

const char* LineEditor::prompt_of(EditLine* el) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return static_cast<LineEditor*>(self)->prompt_.c_str();
}

int LineEditor::get_char(EditLine* el, wchar_t* c) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return static_cast<LineEditor*>(self)->next_char(c);
}

bool LineEditor::char_ready() const {
  if (input_.empty()) return false;
  std::mbstate_t state{};
  wchar_t c = 0;
  return std::mbrtowc(&c, input_.data(), input_.size(), &state) != static_cast<std::size_t>(-2);
}

int LineEditor::next_char(wchar_t* c) {
  if (!char_ready()) {
    // In the middle of a key's sequence: its rest is on its way.
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    if (::poll(&fd, 1, sequence_wait_ms) <= 0 || !read_more() || !char_ready()) {
      *c = 0;
      errno = EAGAIN;
      return -1;  // libedit drops the unfinished sequence; nothing else is lost
    }
  }
  std::mbstate_t state{};
  wchar_t decoded = 0;
  const std::size_t length = std::mbrtowc(&decoded, input_.data(), input_.size(), &state);
  if (length == static_cast<std::size_t>(-1)) {
    decoded = escaped_byte_base + static_cast<unsigned char>(input_[0]);
    input_.erase(0, 1);
  } else {
    input_.erase(0, length == 0 ? 1 : length);  // 0: a NUL byte
  }
  *c = decoded;
  last_char_ = decoded;
  return 1;
}

bool LineEditor::read_more() {
  std::array<char, 4096> buffer;
  ssize_t n = 0;
  do {
    n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return true;
  if (n <= 0) return false;
  input_.append(buffer.data(), static_cast<std::size_t>(n));
  return true;
}

void LineEditor::on_input() {
  if (ended_) return;
  if (!read_more()) {
    ended_ = true;
    on_line_(std::nullopt);
    return;
  }
  el_resize(lib_->el);  // the terminal may have changed size (libedit leaves SIGWINCH to us)
  while (char_ready()) {
    const int entry_before = history_entry();
    int count = 0;
    const wchar_t* line = el_wgets(lib_->el, &count);
    if (history_entry() != entry_before) redraw();
    if (line == nullptr || count <= 0) continue;
    const std::wstring_view typed(line, static_cast<std::size_t>(count));
    if (last_char_ == ctrl_d && typed.size() == 1 && typed[0] == ctrl_d) {
      // Ctrl-D on an empty line: libedit's "end of file" in unbuffered mode.
      ended_ = true;
      on_line_(std::nullopt);
      return;
    }
    if ((last_char_ != L'\r' && last_char_ != L'\n') || typed.back() != L'\n') continue;
    std::string text;
    for (wchar_t c : typed.substr(0, typed.size() - 1)) append_utf8(text, c);
    if (!text.empty()) {
      HistEventW event;
      const std::wstring entry(typed.substr(0, typed.size() - 1));
      history_w(lib_->history, &event, H_ENTER, entry.c_str());
    }
    start_line();
    on_line_(std::move(text));
    // The session may end while handling the line; it destroys the editor on a later turn.
    if (ended_) return;
  }
}

void LineEditor::start_line() {
  // Leaving unbuffered mode and entering it again is libedit's way to a fresh line (it empties
  // the buffer and draws the prompt). Leaving it would also restore the terminal's normal mode
  // for a moment, in which keys typed meanwhile would be echoed by the terminal and show twice;
  // with editing off, libedit leaves the terminal alone.
  EditLine* el = lib_->el;
  el_set(el, EL_EDITMODE, 0);
  el_set(el, EL_UNBUFFERED, 0);
  el_set(el, EL_EDITMODE, 1);
  el_set(el, EL_UNBUFFERED, 1);
}

int LineEditor::history_entry() const {
  HistEventW event;
  return history_w(lib_->history, &event, H_CURR) == 0 ? event.num : -1;
}

void LineEditor::wipe() {
  // From the cursor back to where the prompt starts (the line may wrap), then clear below.
  int columns = 0;
  if (el_get(lib_->el, EL_GETTC, "co", &columns) != 0 || columns <= 0) columns = 80;
  const LineInfoW* line = el_wline(lib_->el);
  std::size_t width = prompt_.size();
  for (const wchar_t* c = line->buffer; c < line->cursor; ++c) width += shown_width(*c);
  const std::size_t rows_up = width / static_cast<std::size_t>(columns);
  if (rows_up > 0) std::fprintf(stdout, "\x1b[%zuA", rows_up);
  std::fputs("\r\x1b[J", stdout);
  std::fflush(stdout);
}

void LineEditor::redraw() {
  // A line recalled from the history is drawn whole (libedit would patch the old one in
  // place, which reads the same on the screen but is hard to follow in a terminal's log).
  wipe();
  el_set(lib_->el, EL_REFRESH);
}

void LineEditor::print(std::FILE* stream, std::string_view text) {
  // Wipe the prompt and the partial line, print, then let libedit draw them again.
  wipe();
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fputc('\n', stream);
  std::fflush(stream);
  el_set(lib_->el, EL_REFRESH);
}

}  // namespace wsx::tool
