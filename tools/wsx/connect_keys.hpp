// The keys of the `wsx connect` prompt, decoded from the bytes a terminal sends: UTF-8
// characters (whole, however the bytes were split between reads), control keys, and the escape
// sequences of arrows, Home, End and Delete. The terminal's locale plays no part: a WebSocket
// text message is UTF-8, so the bytes typed are taken as UTF-8, and a byte that is not is
// reported as such (never dropped or replaced).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wsx::tool {

struct Key {
  enum Kind : std::uint8_t {
    character,     // `bytes`: one code point (or a tab), as typed
    invalid_byte,  // `bytes`: one byte that does not start or continue valid UTF-8
    enter,
    backspace,
    delete_forward,  // Delete
    ctrl_d,          // end of input on an empty line, Delete otherwise
    left,
    right,
    word_left,
    word_right,
    home,
    end,
    up,
    down,
    kill_to_end,    // Ctrl-K
    kill_to_start,  // Ctrl-U
    kill_word,      // Ctrl-W, Alt-Backspace
    clear_screen,   // Ctrl-L
  };
  Kind kind = character;
  std::string bytes;
};

class KeyDecoder {
 public:
  // Appends the keys completed by `input`; an incomplete sequence waits for the next call.
  void feed(std::string_view input, std::vector<Key>& keys);

 private:
  std::string pending_;
};

}  // namespace wsx::tool
