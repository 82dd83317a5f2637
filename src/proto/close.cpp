// Close frame payloads (RFC 6455 §5.5.1) and status codes (§7.4).
#include "wsx/proto/close.hpp"

#include <cstring>

#include "utf8_internal.hpp"
#include "wsx/proto/utf8.hpp"

namespace wsx::proto {

// §7.4.1 defines 1000-1015; 1004 is reserved, and 1005, 1006 and 1015 stand for conditions
// that are never sent. 1016-2999 are for future RFCs and extensions (none defined for
// WebSocket), 3000-3999 are registered with IANA, 4000-4999 private. 0-999 and 5000+ are not
// used (§7.4.2).
bool is_valid_received_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

bool is_sendable_close_code(std::uint16_t code) noexcept {
  return is_valid_received_close_code(code);
}

ProtocolError parse_close_payload(const std::uint8_t* data, std::size_t size,
                                  ClosePayload& out) noexcept {
  if (size == 0) {
    out = ClosePayload{};
    return ProtocolError::none;
  }
  if (size == 1) return ProtocolError::close_payload_too_short;
  const auto code = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
  if (!is_valid_received_close_code(code)) return ProtocolError::invalid_close_code;
  const std::uint8_t* reason = data + 2;
  if (!is_valid_utf8(reason, size - 2)) return ProtocolError::invalid_utf8;
  out.code = code;
  out.reason = std::string_view(reinterpret_cast<const char*>(reason), size - 2);
  return ProtocolError::none;
}

namespace {

// The longest prefix of `reason` that is at most `limit` bytes and ends at the end of a
// well-formed character.
std::size_t utf8_prefix_length(std::string_view reason, std::size_t limit) noexcept {
  const std::size_t n = reason.size() < limit ? reason.size() : limit;
  std::uint32_t state = detail::utf8_accept;
  std::size_t boundary = 0;
  for (std::size_t i = 0; i < n; ++i) {
    state = detail::utf8_step(state, static_cast<std::uint8_t>(reason[i]));
    if (state == detail::utf8_reject) break;
    if (state == detail::utf8_accept) boundary = i + 1;
  }
  return boundary;
}

}  // namespace

std::size_t encode_close_payload(std::uint16_t code, std::string_view reason,
                                 std::uint8_t* out) noexcept {
  if (!is_sendable_close_code(code)) return 0;
  out[0] = static_cast<std::uint8_t>(code >> 8);
  out[1] = static_cast<std::uint8_t>(code);
  const std::size_t length = utf8_prefix_length(reason, max_close_reason);
  if (length > 0) std::memcpy(out + 2, reason.data(), length);
  return 2 + length;
}

}  // namespace wsx::proto
