// A client and a server connection of wsx's sans-I/O core talking to each other in memory:
// the opening handshake with permessage-deflate, text and binary messages, a fragmented
// message, ping/pong and the closing handshake. Every frame on the "wire" is traced the way a
// browser's developer tools show it.
#include <cstdio>
#include <string>
#include <vector>

#include "wsx/proto/connection.hpp"
#include "wsx/proto/frame.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"

namespace proto = wsx::proto;

namespace {

// Prints each whole frame in `wire` (bytes as sent, before the receiver unmasks them).
void trace_frames(const char* direction, const std::vector<std::uint8_t>& wire) {
  std::size_t pos = 0;
  while (pos < wire.size()) {
    proto::FrameHeader h;
    auto r = proto::decode_frame_header(wire.data() + pos, wire.size() - pos, h);
    if (r.status != proto::DecodeStatus::ok) break;
    std::printf("  %s %-6s fin=%d rsv1=%d masked=%d len=%llu\n", direction,
                proto::opcode_name(h.opcode).data(), h.fin, h.rsv1, h.masked,
                static_cast<unsigned long long>(h.payload_length));
    pos += r.header_size + h.payload_length;
  }
}

class Printer : public proto::EventHandler {
 public:
  explicit Printer(const char* who) : who_(who) {}
  void on_event(const proto::Event& e) override {
    switch (e.kind) {
      case proto::EventKind::message:
        if (e.message_kind == proto::MessageKind::text)
          std::printf("  %s got text (%zu bytes): %.*s\n", who_, e.data.size(),
                      static_cast<int>(e.text().size()), e.text().data());
        else
          std::printf("  %s got binary (%zu bytes)\n", who_, e.data.size());
        last_message.assign(e.data.begin(), e.data.end());
        last_kind = e.message_kind;
        ++messages;
        break;
      case proto::EventKind::ping:
        std::printf("  %s got ping\n", who_);
        break;
      case proto::EventKind::pong:
        std::printf("  %s got pong\n", who_);
        break;
      case proto::EventKind::close:
        std::printf("  %s got close %u \"%.*s\"\n", who_, e.close_code,
                    static_cast<int>(e.close_reason.size()), e.close_reason.data());
        break;
      case proto::EventKind::error:
        std::printf("  %s error: %.*s\n", who_, static_cast<int>(proto::describe(e.error).size()),
                    proto::describe(e.error).data());
        break;
      case proto::EventKind::fragment:
        break;
    }
  }
  std::vector<std::uint8_t> last_message;
  proto::MessageKind last_kind = proto::MessageKind::text;
  int messages = 0;

 private:
  const char* who_;
};

// Moves everything `from` wants to send into `to`, tracing it.
void pump(proto::Connection& from, proto::Connection& to, Printer& to_handler,
          const char* direction) {
  auto out = from.pending_output();
  if (out.empty()) return;
  std::vector<std::uint8_t> wire(out.begin(), out.end());
  from.consume_output(out.size());
  trace_frames(direction, wire);
  to.receive(wire, to_handler);
}

}  // namespace

int main() {
  // 1. Opening handshake.
  proto::ClientRequestOptions request_options;
  request_options.host = "example.com";
  request_options.target = "/chat?room=1";
  request_options.origin = "https://example.com";
  request_options.subprotocols = {"chat.v2", "chat.v1"};
  request_options.deflate = proto::DeflateClientOptions{};
  proto::ClientHandshake client_handshake(request_options);
  std::printf("client → server (handshake request)\n%s", client_handshake.request().c_str());

  proto::HttpHeadParser request_parser(proto::HttpKind::request);
  const std::string& request = client_handshake.request();
  if (request_parser.parse(request.data(), request.size()) != proto::HttpParseStatus::complete) {
    std::printf("request did not parse\n");
    return 1;
  }
  auto check = proto::check_upgrade_request(request_parser.head());
  if (!check.request) {
    std::printf("server rejects: %s", proto::serialize(check.rejection).c_str());
    return 1;
  }
  proto::AcceptOptions accept_options;
  accept_options.subprotocols = {"chat.v1", "chat.v2"};
  accept_options.deflate = proto::DeflateServerOptions{};
  auto accepted = proto::accept_upgrade(*check.request, accept_options);
  std::printf("server → client (handshake response)\n%s", accepted.response.c_str());

  proto::HttpHeadParser response_parser(proto::HttpKind::response);
  response_parser.parse(accepted.response.data(), accepted.response.size());
  auto result = client_handshake.check_response(response_parser.head());
  if (result.error != proto::ClientHandshakeError::none) {
    std::printf("client rejects the response: %s\n", result.message.c_str());
    return 1;
  }
  std::printf("negotiated subprotocol %s, permessage-deflate %s\n\n",
              result.subprotocol.value_or("(none)").c_str(), result.deflate ? "on" : "off");

  // 2. Messages over the connection state machines.
  proto::ConnectionOptions client_options;
  client_options.role = proto::Role::client;
  client_options.deflate = result.deflate;
  proto::ConnectionOptions server_options;
  server_options.role = proto::Role::server;
  server_options.deflate = accepted.deflate;
  proto::Connection client(client_options);
  proto::Connection server(server_options);
  Printer client_events("client");
  Printer server_events("server");

  auto echo = [&] {
    pump(client, server, server_events, "C→S");
    if (server_events.messages > 0) {
      server.send(server_events.last_kind, server_events.last_message);
      server_events.messages = 0;
    }
    pump(server, client, client_events, "S→C");
  };

  std::printf("text message, compressed:\n");
  client.send_text("Hello, WebSocket! Hello, WebSocket! Hello, WebSocket!");
  echo();

  std::printf("binary message, not compressed (per-message opt-out):\n");
  std::vector<std::uint8_t> blob(300, 0xAB);
  client.send_binary(blob, proto::SendFlags{.compress = false});
  echo();

  std::printf("fragmented text message in three frames:\n");
  std::string parts[] = {"frag", "men", "ted"};
  for (int i = 0; i < 3; ++i) {
    auto* p = reinterpret_cast<const std::uint8_t*>(parts[i].data());
    client.send_fragment(proto::MessageKind::text, {p, parts[i].size()}, i == 2,
                         proto::SendFlags{.compress = false});
  }
  echo();

  std::printf("ping, answered automatically:\n");
  const std::uint8_t ping_payload[] = {'h', 'i'};
  client.ping(ping_payload);
  echo();

  std::printf("closing handshake:\n");
  client.close(1000, "bye");
  echo();
  std::printf("client state %s, server state %s\n",
              client.state() == proto::ConnectionState::closed ? "closed" : "not closed",
              server.state() == proto::ConnectionState::closed ? "closed" : "not closed");
  return client.state() == proto::ConnectionState::closed &&
                 server.state() == proto::ConnectionState::closed
             ? 0
             : 1;
}
