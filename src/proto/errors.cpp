#include "wsx/proto/errors.hpp"

namespace wsx::proto {

CloseCode close_code_for(ProtocolError error) noexcept {
  switch (error) {
    case ProtocolError::invalid_utf8:
      return CloseCode::invalid_payload;
    case ProtocolError::message_too_big:
      return CloseCode::message_too_big;
    // RFC 6455 §7.4.1: 1009 is for a message "too big to process"; a flood of tiny fragments is
    // not big, it breaks our policy on what a frame must carry, which is what 1008 names.
    case ProtocolError::fragments_too_small:
      return CloseCode::policy_violation;
    case ProtocolError::none:
      return CloseCode::normal;
    default:
      return CloseCode::protocol_error;
  }
}

std::string_view describe(ProtocolError error) noexcept {
  switch (error) {
    case ProtocolError::none:
      return "no error";
    case ProtocolError::unmasked_client_frame:
      return "client frame was not masked (RFC 6455 §5.1)";
    case ProtocolError::masked_server_frame:
      return "server frame was masked (RFC 6455 §5.1)";
    case ProtocolError::reserved_bits_set:
      return "reserved bit set without a negotiated extension (RFC 6455 §5.2)";
    case ProtocolError::reserved_opcode:
      return "reserved opcode (RFC 6455 §5.2)";
    case ProtocolError::fragmented_control_frame:
      return "control frame without FIN (RFC 6455 §5.5)";
    case ProtocolError::control_frame_too_long:
      return "control frame payload longer than 125 bytes (RFC 6455 §5.5)";
    case ProtocolError::non_minimal_length:
      return "payload length not in minimal encoding (RFC 6455 §5.2)";
    case ProtocolError::length_high_bit_set:
      return "most significant bit of 64-bit payload length set (RFC 6455 §5.2)";
    case ProtocolError::unexpected_continuation:
      return "continuation frame without a message in progress (RFC 6455 §5.4)";
    case ProtocolError::expected_continuation:
      return "new data frame inside a fragmented message (RFC 6455 §5.4)";
    case ProtocolError::fragments_too_small:
      return "message split into too many fragments for the payload they carry";
    case ProtocolError::message_too_big:
      return "message larger than the configured maximum";
    case ProtocolError::invalid_utf8:
      return "text is not valid UTF-8 (RFC 6455 §8.1)";
    case ProtocolError::close_payload_too_short:
      return "close frame payload of 1 byte (RFC 6455 §5.5.1)";
    case ProtocolError::invalid_close_code:
      return "close code that may not be sent (RFC 6455 §7.4)";
    case ProtocolError::compressed_control_frame:
      return "RSV1 set on a control frame (RFC 7692 §6.1)";
    case ProtocolError::compressed_continuation:
      return "RSV1 set on a continuation frame (RFC 7692 §6.1)";
    case ProtocolError::inflate_failed:
      return "compressed message could not be inflated (RFC 7692 §6.2)";
    case ProtocolError::data_after_close:
      return "frame received after the peer's close frame (RFC 6455 §5.5.1)";
  }
  return "unknown protocol error";
}

}  // namespace wsx::proto
