// Frame header codec (RFC 6455 §5.2).
//
// Division of the checks:
//   decode_frame_header  rules visible in the header bytes alone: reserved opcodes, control frames
//                        (FIN, length), minimal length encoding, the 64-bit length's top bit.
//   check_frame_header   rules that depend on who receives and what was negotiated: masking by
//                        role (§5.1), RSV1-3 (§5.2) and where RSV1 may appear (RFC 7692 §6.1).
//                        RSV1 needs no message state: data opcodes (text, binary) only ever start
//                        a message, so "RSV1 on the first frame only" is "RSV1 never on a
//                        continuation or control frame".
//   the connection       the order of frames: continuation without a message, a new message
//                        inside a fragmented one, anything after close.
#include "wsx/proto/frame.hpp"

namespace wsx::proto {
namespace {

constexpr std::uint8_t fin_bit = 0x80;
constexpr std::uint8_t rsv1_bit = 0x40;
constexpr std::uint8_t rsv2_bit = 0x20;
constexpr std::uint8_t rsv3_bit = 0x10;
constexpr std::uint8_t opcode_bits = 0x0F;
constexpr std::uint8_t mask_bit = 0x80;
constexpr std::uint8_t length_bits = 0x7F;
constexpr std::uint8_t length_16bit = 126;
constexpr std::uint8_t length_64bit = 127;

constexpr bool is_defined_opcode(std::uint8_t op) noexcept {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

FrameDecodeResult failure(ProtocolError error) noexcept {
  return {DecodeStatus::error, 0, error};
}

}  // namespace

// Errors are reported as soon as the bytes that prove them have arrived (a reserved opcode after
// one byte), so a hostile peer is failed without waiting for the rest of the header. `out` is
// written only when the whole header, mask key included, is present and valid.
FrameDecodeResult decode_frame_header(const std::uint8_t* data, std::size_t size,
                                      FrameHeader& out) noexcept {
  constexpr FrameDecodeResult need_more{DecodeStatus::need_more, 0, ProtocolError::none};
  if (size < 1) return need_more;

  FrameHeader header;
  const std::uint8_t first = data[0];
  const std::uint8_t op = first & opcode_bits;
  if (!is_defined_opcode(op)) return failure(ProtocolError::reserved_opcode);
  header.fin = (first & fin_bit) != 0;
  header.rsv1 = (first & rsv1_bit) != 0;
  header.rsv2 = (first & rsv2_bit) != 0;
  header.rsv3 = (first & rsv3_bit) != 0;
  header.opcode = static_cast<Opcode>(op);
  const bool control = is_control(header.opcode);
  if (control && !header.fin) return failure(ProtocolError::fragmented_control_frame);

  if (size < 2) return need_more;
  const std::uint8_t second = data[1];
  header.masked = (second & mask_bit) != 0;
  const std::uint8_t length7 = second & length_bits;
  const std::size_t extended_size = length7 == length_16bit ? 2 : (length7 == length_64bit ? 8 : 0);

  if (size < 2 + extended_size) return need_more;
  std::uint64_t length = length7;
  if (extended_size != 0) {
    length = 0;
    for (std::size_t i = 0; i < extended_size; ++i) length = (length << 8) | data[2 + i];
  }
  if (extended_size == 8 && (length >> 63) != 0) {
    return failure(ProtocolError::length_high_bit_set);
  }
  if ((extended_size == 2 && length < length_16bit) || (extended_size == 8 && length <= 0xFFFF)) {
    return failure(ProtocolError::non_minimal_length);
  }
  if (control && length > max_control_payload) {
    return failure(ProtocolError::control_frame_too_long);
  }
  header.payload_length = length;

  const std::size_t header_size = 2 + extended_size + (header.masked ? 4 : 0);
  if (size < header_size) return need_more;
  if (header.masked) {
    for (std::size_t i = 0; i < 4; ++i) header.mask_key[i] = data[2 + extended_size + i];
  }
  out = header;
  return {DecodeStatus::ok, header_size, ProtocolError::none};
}

ProtocolError check_frame_header(const FrameHeader& header, Role receiver,
                                 bool rsv1_negotiated) noexcept {
  // §5.1: every client-to-server frame is masked, no server-to-client frame is.
  if (receiver == Role::server && !header.masked) return ProtocolError::unmasked_client_frame;
  if (receiver == Role::client && header.masked) return ProtocolError::masked_server_frame;
  // No extension we speak defines RSV2 or RSV3.
  if (header.rsv2 || header.rsv3) return ProtocolError::reserved_bits_set;
  if (header.rsv1) {
    if (!rsv1_negotiated) return ProtocolError::reserved_bits_set;
    if (is_control(header.opcode)) return ProtocolError::compressed_control_frame;
    if (header.opcode == Opcode::continuation) return ProtocolError::compressed_continuation;
  }
  return ProtocolError::none;
}

// A length of 2^63 or more has no valid encoding; no payload that large can exist in memory,
// so it is not checked here.
std::size_t encode_frame_header(const FrameHeader& header, std::uint8_t* out) noexcept {
  out[0] = static_cast<std::uint8_t>((header.fin ? fin_bit : 0) | (header.rsv1 ? rsv1_bit : 0) |
                                     (header.rsv2 ? rsv2_bit : 0) | (header.rsv3 ? rsv3_bit : 0) |
                                     (static_cast<std::uint8_t>(header.opcode) & opcode_bits));
  const std::uint8_t mask = header.masked ? mask_bit : 0;
  const std::uint64_t length = header.payload_length;
  std::size_t size = 2;
  if (length < length_16bit) {
    out[1] = static_cast<std::uint8_t>(mask | length);
  } else if (length <= 0xFFFF) {
    out[1] = mask | length_16bit;
    out[2] = static_cast<std::uint8_t>(length >> 8);
    out[3] = static_cast<std::uint8_t>(length);
    size = 4;
  } else {
    out[1] = mask | length_64bit;
    for (std::size_t i = 0; i < 8; ++i)
      out[2 + i] = static_cast<std::uint8_t>(length >> (56 - 8 * i));
    size = 10;
  }
  if (header.masked) {
    for (std::size_t i = 0; i < 4; ++i) out[size + i] = header.mask_key[i];
    size += 4;
  }
  return size;
}

std::string_view opcode_name(Opcode op) noexcept {
  switch (op) {
    case Opcode::continuation:
      return "cont";
    case Opcode::text:
      return "text";
    case Opcode::binary:
      return "binary";
    case Opcode::close:
      return "close";
    case Opcode::ping:
      return "ping";
    case Opcode::pong:
      return "pong";
  }
  return "?";
}

}  // namespace wsx::proto
