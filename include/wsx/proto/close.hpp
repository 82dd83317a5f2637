// Close frame payloads and status-code rules (RFC 6455 §5.5.1, §7.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wsx/proto/errors.hpp"

namespace wsx::proto {

constexpr std::size_t max_close_reason = 123;  // 125 - 2 bytes of code

// Codes a peer may send us: 1000-1003, 1007-1014, 3000-4999.
bool is_valid_received_close_code(std::uint16_t code) noexcept;
// Codes we may put on the wire: the same set (1004-1006 and 1015 never are).
bool is_sendable_close_code(std::uint16_t code) noexcept;

struct ClosePayload {
  std::uint16_t code = static_cast<std::uint16_t>(CloseCode::no_status);  // 1005 if empty
  std::string_view reason;  // view into the parsed bytes
};

// Parses a received close payload: empty, or a valid code followed by a UTF-8 reason.
// Returns ProtocolError::none on success.
ProtocolError parse_close_payload(const std::uint8_t* data, std::size_t size,
                                  ClosePayload& out) noexcept;

// Writes code + reason into `out` (room for 125 bytes). The reason is cut to 123 bytes at a
// UTF-8 character boundary. A code of 1005 writes an empty payload. Returns bytes written.
std::size_t encode_close_payload(std::uint16_t code, std::string_view reason,
                                 std::uint8_t* out) noexcept;

}  // namespace wsx::proto
