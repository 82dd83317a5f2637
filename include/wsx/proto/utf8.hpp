// Incremental UTF-8 validation (RFC 3629) for text messages and close reasons.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wsx/export.hpp"

namespace wsx::proto {

// Accepts exactly the well-formed UTF-8 of RFC 3629: no overlong forms, no surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF. Input may arrive in pieces split anywhere; feed()
// returns false as soon as a byte is seen that cannot start or continue a valid sequence, so a
// fragmented message fails at its first bad byte, not at its end.
class WSX_API Utf8Validator {
 public:
  // Returns false if the bytes so far can no longer be valid UTF-8 (and stays false).
  bool feed(const std::uint8_t* data, std::size_t size) noexcept;
  bool feed(std::string_view s) noexcept {
    return feed(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }
  // True if everything fed is valid and no multi-byte sequence is left unfinished.
  bool complete() const noexcept { return state_ == 0; }
  bool failed() const noexcept { return state_ == reject_state; }
  void reset() noexcept { state_ = 0; }

 private:
  static constexpr std::uint32_t reject_state = 6;  // see src/proto/utf8_internal.hpp
  std::uint32_t state_ = 0;
};

// Whole-buffer check: valid and complete.
WSX_API bool is_valid_utf8(const std::uint8_t* data, std::size_t size) noexcept;
inline bool is_valid_utf8(std::string_view s) noexcept {
  return is_valid_utf8(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

}  // namespace wsx::proto
