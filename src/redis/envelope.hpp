// How a message travels through Redis: a few bytes of header before the payload, so that kind,
// origin and the publishing node survive a binary-safe string. The channel message is
// "<position>\n<envelope>" (position empty without history), the Stream entry holds the
// envelope alone.
//
//   byte 0      version (1)
//   byte 1      kind: 0 text, 1 binary
//   bytes 2-9   origin (little endian): the publishing connection, 0 for none
//   byte 10     length N of the node's instance id, then N bytes of it
//   the rest    payload
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "wsx/export.hpp"
#include "wsx/websocket.hpp"

namespace wsx::redis {

struct Envelope {
  MessageKind kind = MessageKind::binary;
  std::uintptr_t origin = 0;
  std::string_view node;
  std::span<const std::uint8_t> payload;
};

WSX_API std::string encode_envelope(MessageKind kind, std::uintptr_t origin, std::string_view node,
                                    std::span<const std::uint8_t> payload);
// nullopt when the bytes are not an envelope of this version (another program's message).
WSX_API std::optional<Envelope> decode_envelope(std::string_view bytes);

struct ChannelMessage {
  std::string_view position;
  Envelope envelope;
};
WSX_API std::optional<ChannelMessage> decode_channel_message(std::string_view bytes);

}  // namespace wsx::redis
