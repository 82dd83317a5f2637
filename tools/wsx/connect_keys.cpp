#include "connect_keys.hpp"

#include <cstddef>
#include <optional>

namespace wsx::tool {
namespace {

struct Decoded {
  std::optional<Key> key;  // nothing: a sequence without a meaning here (ignored)
  std::size_t used = 0;    // 0: incomplete, wait for more bytes
};

Decoded control(Key::Kind kind, std::size_t used) {
  return {Key{kind, {}}, used};
}

Decoded ignored(std::size_t used) {
  return {std::nullopt, used};
}

// The length of the UTF-8 sequence starting at text[0]: 1-4, 0 when more bytes are needed, -1
// when text[0] cannot start a valid sequence there (RFC 3629 §4: no overlong forms, no
// surrogates, nothing above U+10FFFF).
int utf8_length(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  int length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return -1;
  }
  for (int i = 1; i < length; ++i) {
    if (static_cast<std::size_t>(i) >= text.size()) return 0;
    const auto byte = static_cast<unsigned char>(text[i]);
    const unsigned char min = i == 1 ? low : 0x80;
    const unsigned char max = i == 1 ? high : 0xBF;
    if (byte < min || byte > max) return -1;
  }
  return length;
}

// ESC [ ... final: arrows, Home/End, Delete, Ctrl-arrows; others are ignored whole.
Decoded csi(std::string_view text) {
  std::size_t i = 2;
  while (i < text.size() && static_cast<unsigned char>(text[i]) >= 0x20 &&
         static_cast<unsigned char>(text[i]) <= 0x3F) {
    ++i;
  }
  if (i >= text.size()) return {};
  const std::string_view parameters = text.substr(2, i - 2);
  const char final_byte = text[i];
  const std::size_t used = i + 1;
  const bool ctrl = parameters == "1;5" || parameters == "1;3";  // Ctrl or Alt with an arrow
  switch (final_byte) {
    case 'A':
      return control(Key::up, used);
    case 'B':
      return control(Key::down, used);
    case 'C':
      return control(ctrl ? Key::word_right : Key::right, used);
    case 'D':
      return control(ctrl ? Key::word_left : Key::left, used);
    case 'H':
      return control(Key::home, used);
    case 'F':
      return control(Key::end, used);
    case '~':
      if (parameters == "1" || parameters == "7") return control(Key::home, used);
      if (parameters == "4" || parameters == "8") return control(Key::end, used);
      if (parameters == "3") return control(Key::delete_forward, used);
      return ignored(used);  // Insert, Page Up/Down, bracketed paste markers, F-keys
    default:
      return ignored(used);
  }
}

Decoded decode_escape(std::string_view text) {
  if (text.size() < 2) return {};
  switch (text[1]) {
    case '[':
      return csi(text);
    case 'O':  // SS3: arrows and Home/End in "application" cursor mode
      if (text.size() < 3) return {};
      switch (text[2]) {
        case 'A':
          return control(Key::up, 3);
        case 'B':
          return control(Key::down, 3);
        case 'C':
          return control(Key::right, 3);
        case 'D':
          return control(Key::left, 3);
        case 'H':
          return control(Key::home, 3);
        case 'F':
          return control(Key::end, 3);
        default:
          return ignored(3);
      }
    case 'b':
      return control(Key::word_left, 2);
    case 'f':
      return control(Key::word_right, 2);
    case '\x7f':
      return control(Key::kill_word, 2);
    default:
      return ignored(1);  // a lone Escape: the next byte is a key of its own
  }
}

Decoded decode_one(std::string_view text) {
  const auto byte = static_cast<unsigned char>(text[0]);
  switch (byte) {
    case 0x01:
      return control(Key::home, 1);
    case 0x02:
      return control(Key::left, 1);
    case 0x04:
      return control(Key::ctrl_d, 1);
    case 0x05:
      return control(Key::end, 1);
    case 0x06:
      return control(Key::right, 1);
    case 0x08:
    case 0x7f:
      return control(Key::backspace, 1);
    case '\t':
      return {Key{Key::character, "\t"}, 1};
    case '\n':
    case '\r':
      return control(Key::enter, 1);
    case 0x0b:
      return control(Key::kill_to_end, 1);
    case 0x0c:
      return control(Key::clear_screen, 1);
    case 0x0e:
      return control(Key::down, 1);
    case 0x10:
      return control(Key::up, 1);
    case 0x15:
      return control(Key::kill_to_start, 1);
    case 0x17:
      return control(Key::kill_word, 1);
    case 0x1b:
      return decode_escape(text);
    default:
      break;
  }
  if (byte < 0x20) return ignored(1);  // other control keys mean nothing here
  const int length = utf8_length(text);
  if (length == 0) return {};
  if (length < 0) return {Key{Key::invalid_byte, std::string(text.substr(0, 1))}, 1};
  return {Key{Key::character, std::string(text.substr(0, static_cast<std::size_t>(length)))},
          static_cast<std::size_t>(length)};
}

}  // namespace

void KeyDecoder::feed(std::string_view input, std::vector<Key>& keys) {
  pending_.append(input);
  std::size_t start = 0;
  while (start < pending_.size()) {
    Decoded decoded = decode_one(std::string_view(pending_).substr(start));
    if (decoded.used == 0) break;
    if (decoded.key) keys.push_back(std::move(*decoded.key));
    start += decoded.used;
  }
  pending_.erase(0, start);
}

}  // namespace wsx::tool
