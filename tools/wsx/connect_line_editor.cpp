#include "connect_line_editor.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

namespace wsx::tool {
namespace {

constexpr std::size_t max_history = 1000;
constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD

char32_t code_point(std::string_view c) {
  const auto byte = [&](std::size_t i) { return static_cast<char32_t>(c[i]) & 0xFF; };
  switch (c.size()) {
    case 1:
      return byte(0);
    case 2:
      return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3:
      return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    default:
      return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) |
             (byte(3) & 0x3F);
  }
}

struct Range {
  char32_t first, last;
};

bool in(const Range* ranges, std::size_t count, char32_t cp) {
  for (std::size_t i = 0; i < count; ++i) {
    if (cp >= ranges[i].first && cp <= ranges[i].last) return true;
  }
  return false;
}

std::size_t terminal_columns() {
  winsize size{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

bool is_space(const std::string& c) {
  return c == " " || c == "\t";
}

}  // namespace

std::size_t display_width(std::string_view character) {
  // The common ranges, not all of Unicode's tables: enough for a prompt that must not drift.
  static constexpr Range zero[] = {{0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD},
                                   {0x0610, 0x061A}, {0x064B, 0x065F}, {0x1AB0, 0x1AFF},
                                   {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x20D0, 0x20FF},
                                   {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF}};
  static constexpr Range wide[] = {{0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},
                                   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
                                   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE30, 0xFE4F},
                                   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
                                   {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};
  if (character.size() == 1 && static_cast<unsigned char>(character[0]) >= 0x80) return 1;
  const char32_t cp = code_point(character);
  if (in(zero, std::size(zero), cp)) return 0;
  if (in(wide, std::size(wide), cp)) return 2;
  return 1;
}

LineEditor::LineEditor(std::string prompt, LineHandler on_line)
    : prompt_(std::move(prompt)), on_line_(std::move(on_line)) {
  // Keys one at a time and no echo (the editor draws the line); Ctrl-C and Ctrl-\ stay
  // signals, and output processing stays on so "\n" still returns the carriage.
  if (::tcgetattr(STDIN_FILENO, &saved_) == 0) {
    terminal_saved_ = true;
    termios raw = saved_;
    raw.c_iflag &= ~static_cast<tcflag_t>(ICRNL | INLCR | IGNCR | IXON | ISTRIP);
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | IEXTEN);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
  }
  render();
}

LineEditor::~LineEditor() {
  std::fputs("\r\x1b[K", stdout);  // erase the abandoned prompt
  std::fflush(stdout);
  if (terminal_saved_) ::tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_);
}

void LineEditor::on_input() {
  if (ended_) return;
  std::array<char, 4096> buffer;
  ssize_t n = 0;
  do {
    n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    ended_ = true;
    on_line_(std::nullopt);
    return;
  }
  std::vector<Key> keys;
  decoder_.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)), keys);
  bool drawn = true;  // enter() draws the fresh prompt itself
  for (const Key& key : keys) {
    if (!handle(key)) return;
    drawn = key.kind == Key::enter;
  }
  if (!drawn) render();
}

bool LineEditor::handle(const Key& key) {
  switch (key.kind) {
    case Key::character:
    case Key::invalid_byte:
      chars_.insert(chars_.begin() + static_cast<std::ptrdiff_t>(cursor_), key.bytes);
      ++cursor_;
      break;
    case Key::enter:
      enter();
      return !ended_;
    case Key::backspace:
      if (cursor_ > 0) chars_.erase(chars_.begin() + static_cast<std::ptrdiff_t>(--cursor_));
      break;
    case Key::ctrl_d:
      if (chars_.empty()) {
        ended_ = true;
        on_line_(std::nullopt);
        return false;
      }
      [[fallthrough]];
    case Key::delete_forward:
      if (cursor_ < chars_.size())
        chars_.erase(chars_.begin() + static_cast<std::ptrdiff_t>(cursor_));
      break;
    case Key::left:
      if (cursor_ > 0) --cursor_;
      break;
    case Key::right:
      if (cursor_ < chars_.size()) ++cursor_;
      break;
    case Key::word_left:
      cursor_ = word_start();
      break;
    case Key::word_right:
      cursor_ = word_end();
      break;
    case Key::home:
      cursor_ = 0;
      break;
    case Key::end:
      cursor_ = chars_.size();
      break;
    case Key::up:
      if (history_index_ > 0) recall(history_index_ - 1);
      break;
    case Key::down:
      if (history_index_ < history_.size()) recall(history_index_ + 1);
      break;
    case Key::kill_to_end:
      chars_.resize(cursor_);
      break;
    case Key::kill_to_start:
      chars_.erase(chars_.begin(), chars_.begin() + static_cast<std::ptrdiff_t>(cursor_));
      cursor_ = 0;
      break;
    case Key::kill_word: {
      const std::size_t start = word_start();
      chars_.erase(chars_.begin() + static_cast<std::ptrdiff_t>(start),
                   chars_.begin() + static_cast<std::ptrdiff_t>(cursor_));
      cursor_ = start;
      break;
    }
    case Key::clear_screen:
      std::fputs("\x1b[H\x1b[2J", stdout);
      break;
  }
  return true;
}

void LineEditor::enter() {
  std::string line = text();
  render(true);  // the whole end of the line stays on screen, as typed
  std::fputs("\n", stdout);
  chars_.clear();
  cursor_ = 0;
  first_visible_ = 0;
  draft_.clear();
  if (!line.empty() && (history_.empty() || history_.back() != line)) {
    history_.push_back(line);
    if (history_.size() > max_history) history_.erase(history_.begin());
  }
  history_index_ = history_.size();
  render();
  on_line_(std::move(line));
}

void LineEditor::recall(std::size_t index) {
  if (history_index_ == history_.size()) draft_ = text();
  history_index_ = index;
  const std::string& line = index == history_.size() ? draft_ : history_[index];
  chars_.clear();
  KeyDecoder splitter;  // the same split into characters as when it was typed
  std::vector<Key> keys;
  splitter.feed(line, keys);
  for (Key& key : keys) chars_.push_back(std::move(key.bytes));
  cursor_ = chars_.size();
  first_visible_ = 0;
}

std::string LineEditor::text() const {
  std::string line;
  for (const std::string& c : chars_) line += c;
  return line;
}

std::size_t LineEditor::word_start() const {
  std::size_t i = cursor_;
  while (i > 0 && is_space(chars_[i - 1])) --i;
  while (i > 0 && !is_space(chars_[i - 1])) --i;
  return i;
}

std::size_t LineEditor::word_end() const {
  std::size_t i = cursor_;
  while (i < chars_.size() && is_space(chars_[i])) ++i;
  while (i < chars_.size() && !is_space(chars_[i])) ++i;
  return i;
}

void LineEditor::render(bool cursor_at_end) {
  const std::size_t cursor = cursor_at_end ? chars_.size() : cursor_;
  std::size_t prompt_width = 0;
  {
    KeyDecoder splitter;
    std::vector<Key> keys;
    splitter.feed(prompt_, keys);
    for (const Key& key : keys) prompt_width += display_width(key.bytes);
  }
  const std::size_t columns = terminal_columns();
  // The last column stays free: writing there makes some terminals wrap early.
  const std::size_t room = columns > prompt_width + 2 ? columns - prompt_width - 1 : 1;
  auto width_between = [this](std::size_t from, std::size_t to) {
    std::size_t width = 0;
    for (std::size_t i = from; i < to; ++i) width += display_width(chars_[i]);
    return width;
  };
  if (first_visible_ > cursor) first_visible_ = cursor;
  while (first_visible_ < cursor && width_between(first_visible_, cursor) >= room) {
    ++first_visible_;
  }
  std::string out = "\r" + prompt_;
  std::size_t used = 0;
  for (std::size_t i = first_visible_; i < chars_.size(); ++i) {
    const std::size_t width = display_width(chars_[i]);
    if (used + width > room) break;
    used += width;
    if (chars_[i] == "\t") {
      out += ' ';  // a tab is sent as typed, shown as one column
    } else if (chars_[i].size() == 1 && static_cast<unsigned char>(chars_[i][0]) >= 0x80) {
      out += replacement_character;
    } else {
      out += chars_[i];
    }
  }
  out += "\x1b[K\r";
  const std::size_t column = prompt_width + width_between(first_visible_, cursor);
  if (column > 0) out += "\x1b[" + std::to_string(column) + "C";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

void LineEditor::print(std::FILE* stream, std::string_view text) {
  // Wipe the prompt and the partial line, print, then draw them again.
  std::fputs("\r\x1b[K", stdout);
  std::fflush(stdout);
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fputc('\n', stream);
  std::fflush(stream);
  render();
}

}  // namespace wsx::tool
