// How `wsx connect --trace` and `wsx serve --trace` show a frame, as the browsers' developer
// tools do: time, direction, opcode, FIN, RSV1-3, masked, payload length and the first bytes of
// the payload.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "wsx/proto/frame.hpp"
#include "wsx/websocket.hpp"

namespace wsx::tool {

// Payload bytes shown per frame; the length field always gives the full size.
inline constexpr std::size_t trace_preview_bytes = 64;

// "12:34:56.789" in local time.
std::string clock_time(std::chrono::system_clock::time_point when);

// The first bytes of a payload, readable: quoted text when they are printable UTF-8, hex
// otherwise; "..." marks a cut. A close frame shows its code and reason.
std::string payload_preview(const proto::FrameHeader& header,
                            std::span<const std::uint8_t> payload);

// "> text fin=1 rsv=000 masked=1 len=5 "hello"" ('>' sent, '<' received).
std::string describe_frame(bool outgoing, const proto::FrameHeader& header,
                           std::span<const std::uint8_t> payload);

// The lines around a connection's frames ('=' marks what is no frame), so that a trace tells
// what each WebSocket runs on and how it ended, a reset HTTP/2 stream (1006) included:
//   = open "/echo" transport=h2 subprotocol="-" extensions="permessage-deflate"
std::string describe_open(std::string_view path, Transport transport, std::string_view subprotocol,
                          std::string_view extensions);
//   = closed code=1006 clean=0 reason="-"
std::string describe_close(const CloseInfo& info);

}  // namespace wsx::tool
