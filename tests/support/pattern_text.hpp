// Test payloads that tell a lost, repeated or reordered piece from the right one: the bytes
// follow their position (and `salt`, so that two streams' payloads differ), and the pattern
// shifts every 1000 bytes, so a piece sent twice or out of place does not match by accident.
#pragma once

#include <cstddef>
#include <string>

namespace wsx::test {

inline std::string pattern_text(std::size_t size, unsigned salt) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>(i * 13 + i / 1000 + salt);
  return text;
}

}  // namespace wsx::test
