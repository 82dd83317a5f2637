// Close frame payloads and status-code rules (RFC 6455 §5.5.1, §7.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wsx/export.hpp"
#include "wsx/proto/errors.hpp"

namespace wsx::proto {

constexpr std::size_t max_close_reason = 123;  // 125 - 2 bytes of code

// Codes a peer may send us: 1000-1003, 1007-1014, 3000-4999.
WSX_API bool is_valid_received_close_code(std::uint16_t code) noexcept;
// Codes we may put on the wire: the same set (1004-1006 and 1015 never are).
WSX_API bool is_sendable_close_code(std::uint16_t code) noexcept;

struct WSX_API ClosePayload {
  std::uint16_t code = static_cast<std::uint16_t>(CloseCode::no_status);  // 1005 if empty
  std::string_view reason;  // view into the parsed bytes
};

// Parses a received close payload: empty (code 1005, no reason), or a valid code followed by a
// UTF-8 reason. Returns ProtocolError::none on success (and only then writes `out`);
// close_payload_too_short for 1 byte, invalid_close_code, or invalid_utf8 for the reason.
WSX_API ProtocolError parse_close_payload(const std::uint8_t* data, std::size_t size,
                                          ClosePayload& out) noexcept;

// Writes code + reason into `out` (room for 125 bytes). The reason is cut to 123 bytes at a
// UTF-8 character boundary — more exactly, to its longest prefix of at most 123 bytes that is
// well-formed UTF-8, so the peer never gets a reason it must reject. A code that may not be sent
// (1005, and any other for which is_sendable_close_code is false) writes an empty payload.
// Returns bytes written.
WSX_API std::size_t encode_close_payload(std::uint16_t code, std::string_view reason,
                                         std::uint8_t* out) noexcept;

}  // namespace wsx::proto
