// What `wsx connect` reports, in one of two forms:
// - for people: received messages as "< text", status lines, and on a terminal some colour;
//   messages go to stdout, status and traces to stderr (unless interactive, where everything
//   appears above the prompt), so a pipe carries only the messages;
// - with --raw: as for people, but a message is its payload alone, binary as it is;
// - with --json: one JSON object per line on stdout for every event (see docs of each call).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>

#include "connect_console.hpp"
#include "wsx/client.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::tool {

struct PrinterStyle {
  bool json = false;
  bool color = false;        // ANSI colours (a terminal, and NO_COLOR unset)
  bool interactive = false;  // status lines go to stdout, above the prompt
  bool raw = false;          // messages: the payload alone (binary as it is), then "\n"
};

class EventPrinter {
 public:
  EventPrinter(Console& console, PrinterStyle style) : console_(console), style_(style) {}

  // {"event":"open","url":..,"subprotocol":..,"extensions":..}
  void opened(std::string_view url, std::string_view subprotocol, std::string_view extensions);
  // {"event":"message","type":"text","data":..} or {..,"type":"binary","base64":..}
  void message(MessageKind kind, std::span<const std::uint8_t> data);
  // {"event":"ping"|"pong","direction":"in"|"out","data":..|"base64":..}
  void control(bool outgoing, proto::Opcode opcode, std::span<const std::uint8_t> payload);
  // {"event":"close","code":..,"reason":..,"clean":..}
  void closed(std::uint16_t code, std::string_view reason, bool clean);
  // {"event":"error","kind":..,"message":..[,"status":..,"reason":..,"headers":[[n,v],..],
  //  "body":..][,"socks_reply":..]}
  void failed(const ClientError& error);
  // {"event":"frame","direction":..,"opcode":..,"fin":..,"rsv1":..,"rsv2":..,"rsv3":..,
  //  "masked":..,"length":..,"preview":..}
  void frame(bool outgoing, const proto::FrameHeader& header,
             std::span<const std::uint8_t> payload);
  // {"event":"handshake","direction":"out"|"in","head":..}
  // The request and response heads; over HTTP/2 their header lists, one field a line.
  void handshake(bool outgoing, std::string_view head);
  // --http2 was not used, and why.
  void http2_fallback(std::string_view summary);
  // With --trace: a redirect followed, {"event":"redirect","status":..,"url":..}, and the tunnel
  // through a proxy, {"event":"proxy","tunnel":..}.
  void redirect(int status, std::string_view url);
  void tunnel(std::string_view summary);
  // Status for people (connected, help, a mistyped command); not part of the JSON stream.
  void notice(std::string_view text);
  void problem(std::string_view text);  // a local error, in red on a terminal

 private:
  void status(std::string_view text, const char* color);
  void emit_json(std::string json);

  Console& console_;
  PrinterStyle style_;
};

}  // namespace wsx::tool
