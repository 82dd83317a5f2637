// Frame header codec (RFC 6455 §5.2). No buffering, no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wsx/export.hpp"
#include "wsx/proto/errors.hpp"

namespace wsx::proto {

enum class Role : std::uint8_t { client, server };

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

constexpr bool is_control(Opcode op) noexcept {
  return (static_cast<std::uint8_t>(op) & 0x8) != 0;
}

// "cont", "text", "binary", "close", "ping", "pong" (as developer tools name them), "?" else.
WSX_API std::string_view opcode_name(Opcode op) noexcept;

using MaskKey = std::array<std::uint8_t, 4>;

struct WSX_API FrameHeader {
  bool fin = true;
  bool rsv1 = false;
  bool rsv2 = false;
  bool rsv3 = false;
  Opcode opcode = Opcode::text;
  bool masked = false;
  std::uint64_t payload_length = 0;
  MaskKey mask_key{};
};

constexpr std::size_t max_frame_header_size = 14;
constexpr std::size_t max_control_payload = 125;

enum class DecodeStatus : std::uint8_t { ok, need_more, error };

struct WSX_API FrameDecodeResult {
  DecodeStatus status = DecodeStatus::need_more;
  std::size_t header_size = 0;                // bytes of header consumed when status == ok
  ProtocolError error = ProtocolError::none;  // set when status == error
};

// Decodes one frame header from the start of [data, data+size). Checks the rules that need no
// connection state: reserved opcodes, control frames (FIN set, at most 125 bytes), minimal
// length encoding and the high bit of a 64-bit length. Never reads past data+size.
// Returns need_more until the whole header (mask key included) is present — but an error as
// soon as the bytes already present break a rule. `out` is written only when status == ok.
WSX_API FrameDecodeResult decode_frame_header(const std::uint8_t* data, std::size_t size,
                                              FrameHeader& out) noexcept;

// Checks the rules that depend on the receiver: masking by role (§5.1: a server receiving an
// unmasked frame → unmasked_client_frame, a client receiving a masked one → masked_server_frame)
// and reserved bits (RSV2/RSV3 → reserved_bits_set; RSV1 → reserved_bits_set unless
// permessage-deflate was negotiated, and then only on the first frame of a data message).
// The RSV1 rule needs no message state, so it is checked here in full: text and binary frames
// always start a message, and RSV1 on a control frame → compressed_control_frame, on a
// continuation frame → compressed_continuation (RFC 7692 §6.1).
WSX_API ProtocolError check_frame_header(const FrameHeader& header, Role receiver,
                                         bool rsv1_negotiated) noexcept;

// Bytes the header of a frame with this payload length takes (2, 4 or 10, plus 4 if masked).
constexpr std::size_t frame_header_size(std::uint64_t payload_length, bool masked) noexcept {
  const std::size_t base = payload_length < 126 ? 2 : (payload_length <= 0xFFFF ? 4 : 10);
  return base + (masked ? 4 : 0);
}

// Writes the header with the minimal length encoding, and the mask key when `masked`; `out` must
// hold max_frame_header_size bytes. Returns the number of bytes written. Does not validate the
// header: the caller builds frames that follow the rules (payload_length < 2^63).
WSX_API std::size_t encode_frame_header(const FrameHeader& header, std::uint8_t* out) noexcept;

}  // namespace wsx::proto
