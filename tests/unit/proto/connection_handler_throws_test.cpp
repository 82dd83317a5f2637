// A Connection used alone (no Session, which catches every exception of the application's
// callbacks): an exception thrown by the event handler leaves receive() with the connection
// failed (1011 queued, state failed) and no event after it, on every path an event can come
// from: the shortcut for short messages to a server, and the general frame reader (fragmented
// and longer messages, the client role, control frames, fragments, the direct receive).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../../../src/proto/buffer_pool.hpp"
#include "../../../src/proto/connection_internals.hpp"
#include "wsx/proto/connection.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A frame as the peer of a `receiver` sends it (masked towards a server), from the public
// header encoder; the payload is masked here.
Bytes peer_frame(Role receiver, Opcode opcode, std::string_view payload, bool fin = true) {
  FrameHeader header;
  header.fin = fin;
  header.opcode = opcode;
  header.payload_length = payload.size();
  header.masked = receiver == Role::server;
  header.mask_key = {0x12, 0x9a, 0x5c, 0xe7};
  Bytes frame(max_frame_header_size);
  frame.resize(encode_frame_header(header, frame.data()));
  for (std::size_t i = 0; i < payload.size(); ++i) {
    const auto mask = header.masked ? header.mask_key[i % 4] : std::uint8_t{0};
    frame.push_back(static_cast<std::uint8_t>(static_cast<std::uint8_t>(payload[i]) ^ mask));
  }
  return frame;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

struct Recorded {
  EventKind kind;
  std::string data;
};

// Records every event; throws from the one numbered `throw_at` (0: the first).
class ThrowingHandler final : public EventHandler {
 public:
  explicit ThrowingHandler(std::size_t throw_at) : throw_at_(throw_at) {}
  void on_event(const Event& event) override {
    events.push_back({event.kind, std::string(event.text())});
    if (events.size() == throw_at_ + 1) throw std::runtime_error("the application's bug");
  }
  std::vector<Recorded> events;

 private:
  std::size_t throw_at_;
};

ConnectionOptions options_for(Role role) {
  ConnectionOptions options;
  options.role = role;
  return options;
}

// The close frame a failed connection of `role` queued: 1011, "internal error".
Bytes expected_close(Role role) {
  const std::string payload = std::string("\x03\xf3", 2) + "internal error";
  FrameHeader header;
  header.opcode = Opcode::close;
  header.payload_length = payload.size();
  Bytes frame(max_frame_header_size);
  frame.resize(encode_frame_header(header, frame.data()));
  if (role == Role::client) return frame;  // masked: only its header's first byte is checked
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

// The events from `from` on, for a failure's message: "message 'text'", ...
std::string events_after(const ThrowingHandler& handler, std::size_t from) {
  static constexpr const char* names[] = {"message", "fragment", "ping", "pong", "close", "error"};
  std::string text = "events after the throw:";
  for (std::size_t i = from; i < handler.events.size(); ++i) {
    const Recorded& event = handler.events[i];
    text += std::string(" ") + names[static_cast<int>(event.kind)] + " '" +
            event.data.substr(0, 20) + "' (" + std::to_string(event.data.size()) + " B)";
  }
  return text;
}

// What must hold once the handler threw: failed, 1011 queued, and nothing more read, from the
// rest of those bytes or from the next ones.
void expect_failed_cleanly(Connection& c, ThrowingHandler& handler, std::size_t events_before) {
  EXPECT_EQ(c.state(), ConnectionState::failed);
  EXPECT_EQ(c.sent_close_code(), 1011);
  EXPECT_EQ(c.assembling_amount(), 0u);
  EXPECT_TRUE(c.direct_receive_buffer().empty());
  const std::span<const std::uint8_t> output = c.pending_output();
  const Bytes close = expected_close(c.role());
  EXPECT_GE(output.size(), close.size());
  if (c.role() == Role::server && output.size() >= close.size()) {
    // The last frame queued (a pong may come before it).
    EXPECT_EQ(Bytes(output.end() - static_cast<std::ptrdiff_t>(close.size()), output.end()), close);
  } else if (!output.empty()) {
    EXPECT_EQ(output[0], close[0]);  // FIN and the close opcode
  }
  EXPECT_EQ(handler.events.size(), events_before);

  // The peer goes on sending: a short message, a longer one, a ping.
  const Role peer_of = c.role();
  Bytes next = concat({peer_frame(peer_of, Opcode::text, "after"),
                       peer_frame(peer_of, Opcode::binary, std::string(300, 'b')),
                       peer_frame(peer_of, Opcode::ping, "p")});
  EXPECT_NO_THROW(c.receive(next, handler));
  EXPECT_EQ(handler.events.size(), events_before) << events_after(handler, events_before);
  EXPECT_EQ(c.state(), ConnectionState::failed);
  EXPECT_EQ(c.close(), SendResult::closed);
}

struct Case {
  const char* name;
  Role role;
  bool deliver_fragments;
  Bytes wire;  // given to receive() at once
  std::size_t throw_at;
  std::size_t events_before;  // events delivered up to and including the one that threw
  bool shortcut;              // the first message is read by the short-message shortcut
};

std::vector<Case> cases() {
  const Role server = Role::server;
  const Role client = Role::client;
  const std::string long_text(200, 'l');
  return {
      {"short messages to a server (shortcut)", server, false,
       concat({peer_frame(server, Opcode::text, "one"), peer_frame(server, Opcode::text, "two")}),
       0, 1, true},
      {"the second short message (shortcut)", server, false,
       concat({peer_frame(server, Opcode::text, "one"), peer_frame(server, Opcode::text, "two"),
               peer_frame(server, Opcode::text, "three")}),
       1, 2, true},
      {"a longer message to a server", server, false,
       concat(
           {peer_frame(server, Opcode::text, long_text), peer_frame(server, Opcode::text, "two")}),
       0, 1, false},
      {"a fragmented message to a server", server, false,
       concat({peer_frame(server, Opcode::text, "frag", false),
               peer_frame(server, Opcode::continuation, "ment"),
               peer_frame(server, Opcode::text, "two")}),
       0, 1, false},
      {"a short message to a client", client, false,
       concat({peer_frame(client, Opcode::text, "one"), peer_frame(client, Opcode::text, "two")}),
       0, 1, false},
      {"a ping", server, false,
       concat({peer_frame(server, Opcode::ping, "ping"), peer_frame(server, Opcode::text, "two")}),
       0, 1, false},
      {"a fragment event", server, true,
       concat({peer_frame(server, Opcode::text, "frag", false),
               peer_frame(server, Opcode::continuation, "ment"),
               peer_frame(server, Opcode::text, "two")}),
       0, 1, false},
  };
}

TEST(ConnectionHandlerThrows, TheConnectionFailsWith1011AndReadsNothingMore) {
  for (Case& c : cases()) {
    SCOPED_TRACE(c.name);
    ConnectionOptions options = options_for(c.role);
    options.deliver_fragments = c.deliver_fragments;
    Connection connection(options);
    ThrowingHandler handler(c.throw_at);
    EXPECT_THROW(connection.receive(c.wire, handler), std::runtime_error);
    EXPECT_EQ(detail::ConnectionInternals::short_messages_read(connection),
              c.shortcut ? c.events_before : 0u);
    expect_failed_cleanly(connection, handler, c.events_before);
  }
}

// The frame split across two receive() calls: the message event comes from the second, on the
// general path, with the payload assembled.
TEST(ConnectionHandlerThrows, AMessageAssembledAcrossReceives) {
  Connection connection(options_for(Role::server));
  ThrowingHandler handler(0);
  Bytes wire = peer_frame(Role::server, Opcode::binary, std::string(5000, 'x'));
  const std::span<std::uint8_t> bytes(wire);
  connection.receive(bytes.first(1000), handler);
  EXPECT_THROW(connection.receive(bytes.subspan(1000), handler), std::runtime_error);
  expect_failed_cleanly(connection, handler, 1);
}

// receive_direct(): the rest of a large frame read straight into the storage of the last large
// message, its message event thrown from.
TEST(ConnectionHandlerThrows, AMessageReadStraightIntoItsStorage) {
  detail::clear_buffer_pool();
  Connection connection(options_for(Role::server));
  ThrowingHandler handler(1);
  const std::string payload(300001, 'd');
  // The first large message, in reads of 100,000 bytes: assembled in fresh storage, which goes
  // to the thread's pool at its end.
  Bytes first = peer_frame(Role::server, Opcode::binary, payload);
  for (std::size_t pos = 0; pos < first.size(); pos += 100000) {
    connection.receive(std::span<std::uint8_t>(first).subspan(pos).first(
                           std::min<std::size_t>(100000, first.size() - pos)),
                       handler);
  }
  ASSERT_EQ(handler.events.size(), 1u);

  // The next one borrows that storage: after its header and some payload, the rest has a place.
  Bytes wire = peer_frame(Role::server, Opcode::binary, payload);
  const std::size_t head = 14 + 4097;
  connection.receive(std::span<std::uint8_t>(wire).first(head), handler);
  const std::span<std::uint8_t> room = connection.direct_receive_buffer();
  ASSERT_EQ(room.size(), wire.size() - head);
  std::memcpy(room.data(), wire.data() + head, room.size());
  EXPECT_THROW(connection.receive_direct(room.size(), handler), std::runtime_error);
  expect_failed_cleanly(connection, handler, 2);
  detail::clear_buffer_pool();
}

// An exception thrown after the connection already sent its close frame: the state still says
// failed, and no second close frame follows.
TEST(ConnectionHandlerThrows, AfterOurCloseFrameNoSecondOneFollows) {
  Connection connection(options_for(Role::server));
  ASSERT_EQ(connection.close(1000), SendResult::ok);
  const std::size_t close_frame = connection.buffered_amount();
  ThrowingHandler handler(0);
  Bytes wire = peer_frame(Role::server, Opcode::text, std::string(200, 'c'));
  EXPECT_THROW(connection.receive(wire, handler), std::runtime_error);
  EXPECT_EQ(connection.state(), ConnectionState::failed);
  EXPECT_EQ(connection.sent_close_code(), 1000);
  EXPECT_EQ(connection.buffered_amount(), close_frame);
  Bytes next = peer_frame(Role::server, Opcode::text, "after");
  connection.receive(next, handler);
  EXPECT_EQ(handler.events.size(), 1u);
}

}  // namespace
}  // namespace wsx::proto
