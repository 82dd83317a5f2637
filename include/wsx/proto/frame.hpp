// Frame header codec (RFC 6455 §5.2). No buffering, no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

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

constexpr bool is_control(Opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

using MaskKey = std::array<std::uint8_t, 4>;

struct FrameHeader {
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

struct FrameDecodeResult {
  DecodeStatus status = DecodeStatus::need_more;
  std::size_t header_size = 0;  // bytes of header consumed when status == ok
  ProtocolError error = ProtocolError::none;  // set when status == error
};

// Decodes one frame header from the start of [data, data+size). Checks the rules that need no
// connection state: reserved opcodes, control frames (FIN set, at most 125 bytes), minimal
// length encoding and the high bit of a 64-bit length. Never reads past data+size.
FrameDecodeResult decode_frame_header(const std::uint8_t* data, std::size_t size,
                                      FrameHeader& out) noexcept;

// Checks the rules that depend on the receiver: masking by role (§5.1) and reserved bits
// (RSV1 allowed only when permessage-deflate was negotiated, and then only on the first frame
// of a data message — the connection checks the "first frame" part).
ProtocolError check_frame_header(const FrameHeader& header, Role receiver,
                                 bool rsv1_negotiated) noexcept;

// Bytes the header of a frame with this payload length takes (2, 4 or 10, plus 4 if masked).
constexpr std::size_t frame_header_size(std::uint64_t payload_length, bool masked) noexcept {
  const std::size_t base = payload_length < 126 ? 2 : (payload_length <= 0xFFFF ? 4 : 10);
  return base + (masked ? 4 : 0);
}

// Writes the header with the minimal length encoding; `out` must hold max_frame_header_size
// bytes. Returns the number of bytes written.
std::size_t encode_frame_header(const FrameHeader& header, std::uint8_t* out) noexcept;

}  // namespace wsx::proto
