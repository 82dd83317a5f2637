// Error and close-code vocabulary of the sans-I/O protocol core.
#pragma once

#include <cstdint>
#include <string_view>

#include "wsx/export.hpp"

namespace wsx::proto {

// Status codes of a Close frame (RFC 6455 §7.4.1, IANA registry).
enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  // 1004 is reserved and never sent.
  no_status = 1005,  // never on the wire: the peer's close frame had no code
  abnormal = 1006,   // never on the wire: the TCP connection ended without a close frame
  invalid_payload = 1007,
  policy_violation = 1008,
  message_too_big = 1009,
  mandatory_extension = 1010,
  internal_error = 1011,
  service_restart = 1012,
  try_again_later = 1013,
  bad_gateway = 1014,
  tls_handshake = 1015,  // never on the wire
};

// One value per rule of RFC 6455 / RFC 7692 a peer can break. The connection turns each into a
// close frame with close_code_for(error); describe(error) is a message a user can act on.
enum class ProtocolError : std::uint8_t {
  none = 0,
  // Framing (RFC 6455 §5.2)
  unmasked_client_frame,     // §5.1: a server must fail on an unmasked client frame
  masked_server_frame,       // §5.1: a client must fail on a masked server frame
  reserved_bits_set,         // §5.2: RSV1-3 without a negotiated extension
  reserved_opcode,           // §5.2: opcodes 3-7 and 0xB-0xF
  fragmented_control_frame,  // §5.5: control frames must have FIN set
  control_frame_too_long,    // §5.5: control frame payload above 125 bytes
  non_minimal_length,        // §5.2: length not in the minimal number of bytes
  length_high_bit_set,       // §5.2: most significant bit of a 64-bit length must be 0
  unexpected_continuation,   // §5.4: continuation frame without a message in progress
  expected_continuation,     // §5.4: new data frame while a fragmented message is in progress
  fragments_too_small,       // local policy: too many frames for the payload they carry (1008)
  message_too_big,           // local limit on message size (1009)
  // Payload
  invalid_utf8,  // §8.1: text message or close reason is not UTF-8 (1007)
  // Closing (RFC 6455 §5.5.1, §7.4)
  close_payload_too_short,  // a close payload of exactly 1 byte
  invalid_close_code,       // a code that must not be received (1004-1006, 1015, <1000, ...)
  // permessage-deflate (RFC 7692)
  compressed_control_frame,  // §6.1: RSV1 on a control frame
  compressed_continuation,   // §6.1: RSV1 on a continuation frame
  inflate_failed,            // the compressed data is corrupt
  // State
  data_after_close,  // a frame after the peer's close frame
};

// The close code to send when the peer broke `error`'s rule (1002, 1007, 1009, ...).
WSX_API CloseCode close_code_for(ProtocolError error) noexcept;

// A sentence naming the rule, e.g. "client frame was not masked (RFC 6455 §5.1)".
WSX_API std::string_view describe(ProtocolError error) noexcept;

}  // namespace wsx::proto
