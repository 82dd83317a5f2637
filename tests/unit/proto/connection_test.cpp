#include "wsx/proto/connection.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../../src/proto/buffer_pool.hpp"
#include "../../../src/proto/connection_internals.hpp"
#include "acting_recorder.hpp"

// Counts heap allocations, to check that the zero-copy receive path makes none, and records the
// largest, to check that limits bound what is allocated.
namespace {
std::size_t allocation_count = 0;
std::size_t largest_allocation = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++allocation_count;
  if (size > largest_allocation) largest_allocation = size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

// ---------------------------------------------------------------- helpers independent of the
// library's own frame codec, so the connection is checked against a second implementation.

struct Recorded {
  EventKind kind = EventKind::message;
  MessageKind message_kind = MessageKind::text;
  std::string data;
  bool first = false;
  bool last = false;
  std::uint16_t close_code = 0;
  std::string close_reason;
  ProtocolError error = ProtocolError::none;
  bool operator==(const Recorded&) const = default;
};

class Recorder : public EventHandler {
 public:
  void on_event(const Event& event) override {
    events.push_back({event.kind, event.message_kind, std::string(event.text()), event.first,
                      event.last, event.close_code, std::string(event.close_reason), event.error});
  }
  std::vector<Recorded> events;
};

struct FrameSpec {
  bool fin = true;
  bool rsv1 = false;
  bool rsv2 = false;
  bool rsv3 = false;
  bool masked = false;
  MaskKey key{0x37, 0xfa, 0x21, 0x3d};
};

Bytes make_frame(std::uint8_t opcode, std::string_view payload, FrameSpec spec = {}) {
  Bytes out;
  out.push_back(static_cast<std::uint8_t>((spec.fin ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) |
                                          (spec.rsv2 ? 0x20 : 0) | (spec.rsv3 ? 0x10 : 0) |
                                          opcode));
  const std::uint8_t mask_bit = spec.masked ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<std::uint8_t>(n >> shift));
  }
  if (spec.masked) out.insert(out.end(), spec.key.begin(), spec.key.end());
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out.push_back(static_cast<std::uint8_t>(payload[i]) ^ (spec.masked ? spec.key[i % 4] : 0));
  }
  return out;
}

// A frame as the peer of `receiver` must send it: masked towards a server.
Bytes peer_frame(Role receiver, std::uint8_t opcode, std::string_view payload,
                 FrameSpec spec = {}) {
  spec.masked = receiver == Role::server;
  return make_frame(opcode, payload, spec);
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string s;
  s.push_back(static_cast<char>(code >> 8));
  s.push_back(static_cast<char>(code & 0xFF));
  s.append(reason);
  return s;
}

struct WireFrame {
  bool fin = false;
  bool rsv1 = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::string payload;
  std::uint16_t close_code() const {
    return payload.size() < 2
               ? 1005
               : static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                            static_cast<std::uint8_t>(payload[1]));
  }
};

std::vector<WireFrame> parse_frames(const Bytes& bytes) {
  std::vector<WireFrame> frames;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    WireFrame f;
    EXPECT_LE(pos + 2, bytes.size());
    f.fin = bytes[pos] & 0x80;
    f.rsv1 = bytes[pos] & 0x40;
    EXPECT_EQ(bytes[pos] & 0x30, 0);
    f.opcode = bytes[pos] & 0x0F;
    f.masked = bytes[pos + 1] & 0x80;
    std::uint64_t n = bytes[pos + 1] & 0x7F;
    pos += 2;
    const int extra = n == 126 ? 2 : (n == 127 ? 8 : 0);
    if (extra) {
      n = 0;
      for (int i = 0; i < extra; ++i) n = (n << 8) | bytes[pos++];
    }
    MaskKey key{};
    if (f.masked) {
      std::memcpy(key.data(), &bytes[pos], 4);
      pos += 4;
    }
    EXPECT_LE(pos + n, bytes.size());
    for (std::uint64_t i = 0; i < n; ++i) {
      f.payload.push_back(static_cast<char>(bytes[pos + i] ^ (f.masked ? key[i % 4] : 0)));
    }
    pos += n;
    frames.push_back(std::move(f));
  }
  return frames;
}

Bytes drain(Connection& c) {
  const auto out = c.pending_output();
  Bytes bytes(out.begin(), out.end());
  c.consume_output(bytes.size());
  return bytes;
}

std::vector<Recorded> feed(Connection& c, Bytes bytes) {
  Recorder r;
  c.receive(bytes, r);
  return r.events;
}

std::vector<Recorded> feed_in_pieces(Connection& c, const Bytes& bytes, std::size_t piece) {
  Recorder r;
  for (std::size_t pos = 0; pos < bytes.size(); pos += piece) {
    Bytes part(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
               bytes.begin() + static_cast<std::ptrdiff_t>(std::min(bytes.size(), pos + piece)));
    c.receive(part, r);
  }
  return r.events;
}

// Moves everything `from` wrote into `to`.
std::vector<Recorded> pipe(Connection& from, Connection& to) {
  return feed(to, drain(from));
}

ConnectionOptions options_for(Role role) {
  ConnectionOptions o;
  o.role = role;
  return o;
}

Recorded message(std::string data, MessageKind kind = MessageKind::text) {
  Recorded r;
  r.kind = EventKind::message;
  r.message_kind = kind;
  r.data = std::move(data);
  return r;
}

Recorded fragment(std::string data, bool first, bool last, MessageKind kind = MessageKind::text) {
  Recorded r = message(std::move(data), kind);
  r.kind = EventKind::fragment;
  r.first = first;
  r.last = last;
  return r;
}

Recorded control(EventKind kind, std::string data) {
  Recorded r;
  r.kind = kind;
  r.data = std::move(data);
  return r;
}

std::string pattern(std::size_t size, std::uint32_t seed = 1) {
  // Compressible but not trivial: words from a small vocabulary.
  static const char* words[] = {"alpha ", "beta ", "gamma ", "delta ", "x", "yz ", "\n"};
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < size) s += words[rng() % 7];
  s.resize(size);
  return s;
}

std::string random_bytes_string(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Checks the connection failed with `error` and queued exactly one close frame with `code`.
void expect_failed(Connection& c, const std::vector<Recorded>& events, ProtocolError error,
                   std::uint16_t code) {
  EXPECT_EQ(c.state(), ConnectionState::failed);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, EventKind::error);
  EXPECT_EQ(events.back().error, error);
  EXPECT_EQ(events.back().close_code, code);
  const auto frames = parse_frames(drain(c));
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().opcode, 0x8);
  EXPECT_EQ(frames.back().close_code(), code);
  EXPECT_EQ(frames.back().payload.substr(2), std::string(describe(error)).substr(0, 123));
  EXPECT_TRUE(c.finished());
}

// ---------------------------------------------------------------- RFC 6455 §5.7 examples

TEST(ConnectionRfcExamples, SingleFrameUnmaskedTextToClient) {
  Connection client(options_for(Role::client));
  EXPECT_EQ(feed(client, {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}),
            std::vector<Recorded>{message("Hello")});
  EXPECT_EQ(client.buffered_amount(), 0u);
}

TEST(ConnectionRfcExamples, SingleFrameMaskedTextToServer) {
  Connection server(options_for(Role::server));
  EXPECT_EQ(feed(server, {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
            std::vector<Recorded>{message("Hello")});
}

TEST(ConnectionRfcExamples, MaskedTextToClientFails) {
  Connection client(options_for(Role::client));
  const auto events =
      feed(client, {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  expect_failed(client, events, ProtocolError::masked_server_frame, 1002);
}

TEST(ConnectionRfcExamples, FragmentedUnmaskedTextToClient) {
  Connection client(options_for(Role::client));
  EXPECT_EQ(feed(client, {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}),
            std::vector<Recorded>{message("Hello")});
}

TEST(ConnectionRfcExamples, UnmaskedPingToClientIsAnsweredWithMaskedPong) {
  Connection client(options_for(Role::client));
  EXPECT_EQ(feed(client, {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}),
            std::vector<Recorded>{control(EventKind::ping, "Hello")});
  const auto frames = parse_frames(drain(client));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].opcode, 0xA);
  EXPECT_TRUE(frames[0].masked);
  EXPECT_EQ(frames[0].payload, "Hello");
}

TEST(ConnectionRfcExamples, MaskedPongToServer) {
  Connection server(options_for(Role::server));
  EXPECT_EQ(feed(server, {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
            std::vector<Recorded>{control(EventKind::pong, "Hello")});
  EXPECT_EQ(server.buffered_amount(), 0u);
}

TEST(ConnectionRfcExamples, BinaryWith16And64BitLengthsToClient) {
  Connection client(options_for(Role::client));
  const std::string b256 = random_bytes_string(256, 7);
  Bytes f256 = {0x82, 0x7E, 0x01, 0x00};
  f256.insert(f256.end(), b256.begin(), b256.end());
  const std::string b64k = random_bytes_string(65536, 8);
  Bytes f64k = {0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
  f64k.insert(f64k.end(), b64k.begin(), b64k.end());
  EXPECT_EQ(feed(client, concat({f256, f64k})),
            (std::vector<Recorded>{message(b256, MessageKind::binary),
                                   message(b64k, MessageKind::binary)}));
}

// ---------------------------------------------------------------- zero copy

class PointerCheck : public EventHandler {
 public:
  void on_event(const Event& event) override {
    ++count;
    const auto* begin = event.data.data();
    inside = begin >= input.data() && begin + event.data.size() <= input.data() + input.size();
    text = std::string(event.text());
  }
  std::span<const std::uint8_t> input;
  int count = 0;
  bool inside = false;
  std::string text;
};

TEST(ConnectionZeroCopy, WholeMessageIsAViewIntoTheInput) {
  for (Role role : {Role::server, Role::client}) {
    Connection c(options_for(role));
    Bytes bytes = concat({peer_frame(role, 0x1, "in place"), peer_frame(role, 0x2, pattern(300))});
    PointerCheck check;
    check.input = bytes;
    c.receive(std::span<std::uint8_t>(bytes.data(), bytes.size() - 300), check);
    EXPECT_EQ(check.count, 1);
    EXPECT_TRUE(check.inside);
    EXPECT_EQ(check.text, "in place");
  }
}

class CountingHandler : public EventHandler {
 public:
  void on_event(const Event& event) override {
    ++events;
    bytes += event.data.size();
  }
  std::size_t events = 0;
  std::size_t bytes = 0;
};

TEST(ConnectionZeroCopy, WholeMessagesInTheInputAllocateNothing) {
  // With permessage-deflate negotiated too: no inflater is made until a compressed message.
  for (bool deflate : {false, true}) {
    for (Role role : {Role::server, Role::client}) {
      ConnectionOptions options = options_for(role);
      if (deflate) options.deflate = DeflateParams{};
      Connection c(options);
      Bytes bytes;
      for (int i = 0; i < 100; ++i) {
        const Bytes f = i % 2
                            ? peer_frame(role, 0x1, "caf\xC3\xA9 text")
                            : peer_frame(role, 0x2, std::string(static_cast<std::size_t>(i), 'b'));
        bytes.insert(bytes.end(), f.begin(), f.end());
      }
      const Bytes pong = peer_frame(role, 0xA, "pong");
      bytes.insert(bytes.end(), pong.begin(), pong.end());
      CountingHandler handler;
      const std::size_t before = allocation_count;
      c.receive(bytes, handler);
      EXPECT_EQ(allocation_count, before);
      EXPECT_EQ(handler.events, 101u);
    }
  }
}

TEST(ConnectionZeroCopy, PayloadArrivingAfterASplitHeaderIsStillAView) {
  Connection c(options_for(Role::server));
  Bytes bytes = peer_frame(Role::server, 0x1, "header came in two reads");
  PointerCheck check;
  c.receive(std::span<std::uint8_t>(bytes.data(), 3), check);
  EXPECT_EQ(check.count, 0);
  check.input = std::span<const std::uint8_t>(bytes).subspan(3);
  c.receive(std::span<std::uint8_t>(bytes).subspan(3), check);
  EXPECT_EQ(check.count, 1);
  EXPECT_TRUE(check.inside);
  EXPECT_EQ(check.text, "header came in two reads");
}

TEST(ConnectionZeroCopy, FragmentedMessageIsAssembledOutsideTheInput) {
  Connection c(options_for(Role::client));
  Bytes bytes = concat({make_frame(0x1, "ab", {.fin = false}), make_frame(0x0, "cd")});
  PointerCheck check;
  check.input = bytes;
  c.receive(bytes, check);
  EXPECT_EQ(check.count, 1);
  EXPECT_FALSE(check.inside);
  EXPECT_EQ(check.text, "abcd");
}

// Takes the storage of each message it is given, as a server echoing a large message does when
// the socket did not take it all.
class TakingHandler : public EventHandler {
 public:
  explicit TakingHandler(Connection& connection) : c(connection) {}
  void on_event(const Event& event) override {
    if (event.kind != EventKind::message) return;
    taken = c.take_received_message(event.data);
    view = event.data;
    // The view stays valid after the take: its bytes are where they were.
    text.assign(event.data.begin(), event.data.end());
    second_take = c.take_received_message(event.data).size();
  }
  Connection& c;
  std::vector<std::uint8_t> taken;
  std::span<const std::uint8_t> view;
  std::string text;
  std::size_t second_take = 0;
};

TEST(ConnectionZeroCopy, AnAssembledMessageHandsOverItsStorage) {
  Connection c(options_for(Role::server));
  const std::string payload = pattern(300000, 5);
  Bytes bytes = peer_frame(Role::server, 0x2, payload);
  TakingHandler handler(c);
  // In two reads: the payload is assembled outside the input.
  c.receive(std::span<std::uint8_t>(bytes).first(100000), handler);
  EXPECT_EQ(c.assembling_amount(), 100000u - 4u - 10u);
  c.receive(std::span<std::uint8_t>(bytes).subspan(100000), handler);
  EXPECT_EQ(handler.text, payload);
  ASSERT_EQ(handler.taken.size(), payload.size());
  EXPECT_EQ(handler.taken.data(), handler.view.data());  // moved, not copied
  EXPECT_EQ(std::string(handler.taken.begin(), handler.taken.end()), payload);
  EXPECT_EQ(handler.second_take, 0u);  // handed over once
  EXPECT_EQ(c.assembling_amount(), 0u);

  // The connection goes on receiving into new storage, the taken bytes untouched.
  Bytes next = peer_frame(Role::server, 0x1, "next");
  const std::vector<std::uint8_t> kept = handler.taken;
  handler.taken.clear();
  c.receive(std::span<std::uint8_t>(next).first(5), handler);
  c.receive(std::span<std::uint8_t>(next).subspan(5), handler);
  EXPECT_EQ(handler.text, "next");
  EXPECT_EQ(kept, std::vector<std::uint8_t>(payload.begin(), payload.end()));
  recycle_buffer(handler.taken);
  EXPECT_EQ(handler.taken.capacity(), 0u);
}

TEST(ConnectionZeroCopy, AMessageInTheInputOrOutsideAnEventHandsOverNothing) {
  Connection c(options_for(Role::server));
  Bytes bytes = peer_frame(Role::server, 0x2, pattern(1000, 6));
  TakingHandler handler(c);
  c.receive(bytes, handler);  // one read: a view into the input, nothing to hand over
  EXPECT_EQ(handler.text, pattern(1000, 6));
  EXPECT_TRUE(handler.taken.empty());

  // Between events: a message half assembled is not handed over.
  Bytes split = peer_frame(Role::server, 0x2, pattern(1000, 7));
  c.receive(std::span<std::uint8_t>(split).first(600), handler);
  EXPECT_TRUE(c.take_received_message(std::span<const std::uint8_t>(split).subspan(8, 10)).empty());
  EXPECT_GT(c.assembling_amount(), 0u);
}

// ---------------------------------------------------------------- direct receive

// What a transport does with direct_receive_buffer(): reads the next wire bytes straight into
// it (at most `limit` of them) and reports them. Returns the bytes placed, 0 when no place was
// offered.
std::size_t place_direct(Connection& c, const Bytes& wire, std::size_t& pos, EventHandler& handler,
                         std::size_t limit = SIZE_MAX) {
  const std::span<std::uint8_t> room = c.direct_receive_buffer();
  const std::size_t n = std::min({room.size(), wire.size() - pos, limit});
  if (n == 0) return 0;
  std::memcpy(room.data(), wire.data() + pos, n);
  pos += n;
  c.receive_direct(n, handler);
  return n;
}

// Feeds `wire` as a socket transport does, reads of at most `read_size` bytes: into the place
// the connection offers when there is one, else through receive(). Returns the bytes placed.
std::size_t feed_like_a_transport(Connection& c, Bytes wire, EventHandler& handler,
                                  std::size_t read_size) {
  std::size_t pos = 0;
  std::size_t placed = 0;
  while (pos < wire.size()) {
    const std::size_t n = place_direct(c, wire, pos, handler, read_size);
    placed += n;
    if (n > 0) continue;
    const std::size_t take = std::min(read_size, wire.size() - pos);
    c.receive(std::span<std::uint8_t>(wire).subspan(pos, take), handler);
    pos += take;
  }
  return placed;
}

TEST(ConnectionDirectReceive, TheRestOfALargeFrameIsReadStraightIntoTheStorageOfTheLastOne) {
  detail::clear_buffer_pool();
  Connection c(options_for(Role::server));
  const std::string payload = random_bytes_string(300001, 11);
  TakingHandler handler(c);
  // The first large message fills fresh storage by copying: no place is offered for it, as
  // that storage would have to be zeroed first.
  EXPECT_EQ(feed_like_a_transport(c, peer_frame(Role::server, 0x2, payload), handler, 100000), 0u);
  EXPECT_EQ(handler.text, payload);
  recycle_buffer(handler.taken);  // sent: back to the thread's pool, its bytes initialised
  handler.text.clear();

  // The next one borrows that storage: after the header and an odd number of payload bytes
  // (the direct part starts inside the mask key's period), the whole rest has its place.
  Bytes wire = peer_frame(Role::server, 0x2, payload);
  std::size_t pos = 14 + 4097;
  c.receive(std::span<std::uint8_t>(wire).first(pos), handler);
  const std::span<std::uint8_t> room = c.direct_receive_buffer();
  ASSERT_EQ(room.size(), payload.size() - 4097);
  EXPECT_EQ(c.assembling_amount(), 4097u);
  // In pieces, as reads of a socket bring them.
  EXPECT_EQ(place_direct(c, wire, pos, handler, 100003), 100003u);
  EXPECT_EQ(c.assembling_amount(), 4097u + 100003u);
  EXPECT_TRUE(handler.text.empty());
  EXPECT_EQ(c.direct_receive_buffer().data(), room.data() + 100003);  // right after what came
  while (place_direct(c, wire, pos, handler) > 0) {
  }
  EXPECT_EQ(pos, wire.size());
  EXPECT_EQ(handler.text, payload);
  // Delivered from the storage the bytes were read into, and that storage handed over whole.
  EXPECT_EQ(handler.view.data() + 4097, room.data());
  EXPECT_EQ(handler.taken.size(), payload.size());
  EXPECT_EQ(c.assembling_amount(), 0u);
  EXPECT_TRUE(c.direct_receive_buffer().empty());  // between frames
  recycle_buffer(handler.taken);
}

TEST(ConnectionDirectReceive, FragmentsAndWhatFollowsTheFrameGoOnAsUsual) {
  detail::clear_buffer_pool();
  Connection c(options_for(Role::client));
  const std::string first = pattern(100000, 12);
  const std::string second = pattern(70000, 13);
  const Bytes wire = concat({make_frame(0x1, first, {.fin = false}), make_frame(0x9, "ping"),
                             make_frame(0x0, second), make_frame(0x1, "after")});
  const std::vector<Recorded> expected = {control(EventKind::ping, "ping"), message(first + second),
                                          message("after")};
  for (int round = 0; round < 2; ++round) {
    Recorder r;
    const std::size_t placed = feed_like_a_transport(c, wire, r, 30000);
    EXPECT_EQ(r.events, expected) << round;
    // The second time the storage the first one left in the pool takes the frames' rests.
    if (round == 0) {
      EXPECT_EQ(placed, 0u);
    }
    if (round == 1) {
      EXPECT_GT(placed, 100000u);
    }
  }
}

TEST(ConnectionDirectReceive, InvalidUtf8ReadStraightIntoTheMessageFails) {
  detail::clear_buffer_pool();
  Connection c(options_for(Role::server));
  std::string payload = pattern(200000, 14);
  Recorder r;
  feed_like_a_transport(c, peer_frame(Role::server, 0x1, payload), r, 50000);
  ASSERT_EQ(r.events, std::vector<Recorded>{message(payload)});
  payload[150000] = static_cast<char>(0xC0);  // never valid in UTF-8
  EXPECT_GT(feed_like_a_transport(c, peer_frame(Role::server, 0x1, payload), r, 50000), 0u);
  expect_failed(c, r.events, ProtocolError::invalid_utf8, 1007);
  EXPECT_EQ(r.events.size(), 2u);
  EXPECT_TRUE(c.direct_receive_buffer().empty());  // reads nothing more
  EXPECT_EQ(c.assembling_amount(), 0u);
}

TEST(ConnectionDirectReceive, NoPlaceForSmallRestsControlFramesOrCompressedOrStreamedMessages) {
  for (const std::size_t first_read : {5000, 3000}) {  // a rest under 16 KiB is cheaper to copy
    Connection c(options_for(Role::server));
    Recorder r;
    feed_like_a_transport(c, peer_frame(Role::server, 0x2, pattern(20000, 15)), r, 10000);
    Bytes wire = peer_frame(Role::server, 0x2, pattern(20000, 15));
    c.receive(std::span<std::uint8_t>(wire).first(first_read), r);
    const std::size_t rest = wire.size() - first_read;
    EXPECT_EQ(c.direct_receive_buffer().size(), rest >= 16 * 1024 ? rest : 0u) << first_read;
  }
  {  // a split control frame
    Connection c(options_for(Role::server));
    Bytes wire = peer_frame(Role::server, 0x9, pattern(100, 16));
    Recorder r;
    c.receive(std::span<std::uint8_t>(wire).first(10), r);
    EXPECT_TRUE(c.direct_receive_buffer().empty());
  }
  {  // a compressed message is inflated from its wire bytes: a stored deflate block here
    ConnectionOptions options = options_for(Role::server);
    options.deflate = DeflateParams{};
    Connection c(options);
    std::string deflated = {0x00, static_cast<char>(0x20), static_cast<char>(0x4e),
                            static_cast<char>(0xdf), static_cast<char>(0xb1)};  // 20000 bytes
    deflated += pattern(20000, 17);
    Recorder r;
    feed_like_a_transport(c, peer_frame(Role::server, 0x2, pattern(30000, 17)), r, 10000);
    Bytes wire = peer_frame(Role::server, 0x2, deflated, {.rsv1 = true});
    c.receive(std::span<std::uint8_t>(wire).first(100), r);
    EXPECT_EQ(c.state(), ConnectionState::open);
    EXPECT_TRUE(c.direct_receive_buffer().empty());
  }
  {  // deliver_fragments keeps nothing of a message
    ConnectionOptions options = options_for(Role::server);
    options.deliver_fragments = true;
    Connection c(options);
    Bytes wire = peer_frame(Role::server, 0x2, pattern(100000, 18));
    Recorder r;
    c.receive(std::span<std::uint8_t>(wire).first(100), r);
    EXPECT_TRUE(c.direct_receive_buffer().empty());
  }
}

TEST(ConnectionDirectReceive, ADeclaredLengthAloneNeverMakesRoom) {
  // A peer that announces a 4 MiB frame and sends 30 KB of it gets no place of 4 MiB, nor of
  // 1 MiB: the offer is made of storage that exists already, never allocated for it.
  detail::clear_buffer_pool();
  Connection c(options_for(Role::server));
  Bytes wire = peer_frame(Role::server, 0x2, pattern(4 * 1024 * 1024, 19));
  Recorder r;
  largest_allocation = 0;
  c.receive(std::span<std::uint8_t>(wire).first(30000), r);
  EXPECT_TRUE(c.direct_receive_buffer().empty());
  EXPECT_LT(largest_allocation, 64u * 1024);
}

// ---------------------------------------------------------------- split input

Bytes mixed_stream(Role receiver) {
  const std::string big = pattern(70000, 3);
  return concat({
      peer_frame(receiver, 0x1, "first"),
      peer_frame(receiver, 0x2, ""),
      peer_frame(receiver, 0x1, "frag", {.fin = false}),
      peer_frame(receiver, 0x9, "between"),
      peer_frame(receiver, 0x0, "mented", {.fin = false}),
      peer_frame(receiver, 0xA, ""),
      peer_frame(receiver, 0x0, " \xE2\x82", {.fin = false}),  // "€" split across frames
      peer_frame(receiver, 0x0, "\xAC"),
      peer_frame(receiver, 0x2, big),
      peer_frame(receiver, 0x1, pattern(300, 4)),
      peer_frame(receiver, 0x8, close_payload(1000, "bye")),
      peer_frame(receiver, 0x1, "ignored after close"),
  });
}

TEST(ConnectionSplitInput, ByteByByteGivesTheSameEventsAsOneShot) {
  for (Role role : {Role::server, Role::client}) {
    Connection whole(options_for(role));
    const auto expected = feed(whole, mixed_stream(role));
    ASSERT_EQ(expected.size(), 8u);
    EXPECT_EQ(expected[4], message("fragmented \xE2\x82\xAC"));
    EXPECT_EQ(expected.back().kind, EventKind::close);
    const Bytes whole_output = drain(whole);
    for (std::size_t piece : {1u, 2u, 3u, 7u, 13u, 4096u}) {
      Connection split(options_for(role));
      EXPECT_EQ(feed_in_pieces(split, mixed_stream(role), piece), expected) << piece;
      EXPECT_EQ(parse_frames(drain(split)).size(), parse_frames(whole_output).size());
      EXPECT_EQ(split.state(), ConnectionState::closed);
    }
  }
}

TEST(ConnectionSplitInput, ErrorInsideASplitStreamIsFoundAtTheSameEvent) {
  for (std::size_t piece : {1u, 5u, 1000u}) {
    Connection c(options_for(Role::server));
    const Bytes bytes = concat({peer_frame(Role::server, 0x1, "ok"),
                                peer_frame(Role::server, 0x1, "bad \xC0\xAF utf8"),
                                peer_frame(Role::server, 0x1, "never seen")});
    const auto events = feed_in_pieces(c, bytes, piece);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0], message("ok"));
    expect_failed(c, events, ProtocolError::invalid_utf8, 1007);
  }
}

// ---------------------------------------------------------------- role rules (mirrored)

TEST(ConnectionRoleRules, ServerRequiresMaskedFrames) {
  Connection server(options_for(Role::server));
  expect_failed(server, feed(server, make_frame(0x1, "plain")),
                ProtocolError::unmasked_client_frame, 1002);
}

TEST(ConnectionRoleRules, ClientRequiresUnmaskedFrames) {
  Connection client(options_for(Role::client));
  expect_failed(client, feed(client, make_frame(0x1, "hidden", {.masked = true})),
                ProtocolError::masked_server_frame, 1002);
}

TEST(ConnectionRoleRules, ServerAcceptsMaskedAndClientAcceptsUnmasked) {
  Connection server(options_for(Role::server));
  EXPECT_EQ(feed(server, make_frame(0x2, "m", {.masked = true})),
            std::vector<Recorded>{message("m", MessageKind::binary)});
  Connection client(options_for(Role::client));
  EXPECT_EQ(feed(client, make_frame(0x2, "u")),
            std::vector<Recorded>{message("u", MessageKind::binary)});
}

TEST(ConnectionRoleRules, ServerSendsUnmaskedAndClientSendsMasked) {
  Connection server(options_for(Role::server));
  Connection client(options_for(Role::client));
  ASSERT_EQ(server.send_text("down"), SendResult::ok);
  ASSERT_EQ(client.send_text("up"), SendResult::ok);
  const Bytes down = drain(server);
  const Bytes up = drain(client);
  EXPECT_EQ(down, make_frame(0x1, "down"));
  const auto up_frames = parse_frames(up);
  ASSERT_EQ(up_frames.size(), 1u);
  EXPECT_TRUE(up_frames[0].masked);
  EXPECT_EQ(up_frames[0].payload, "up");
  EXPECT_EQ(feed(client, down), std::vector<Recorded>{message("down")});
  EXPECT_EQ(feed(server, up), std::vector<Recorded>{message("up")});
}

TEST(ConnectionRoleRules, MaskKeysDifferBetweenFrames) {
  Connection client(options_for(Role::client));
  for (int i = 0; i < 8; ++i) client.send_text("same");
  const Bytes out = drain(client);
  std::set<std::string> keys;
  for (std::size_t pos = 0; pos < out.size(); pos += 10) {
    keys.insert(std::string(out.begin() + static_cast<std::ptrdiff_t>(pos + 2),
                            out.begin() + static_cast<std::ptrdiff_t>(pos + 6)));
  }
  EXPECT_GT(keys.size(), 1u);
}

// Every frame a client writes, whatever wrote it (a send, an automatic pong, the echo of a close,
// the close of a failure), is masked with a key of its own from the CSPRNG; a server masks none.
TEST(ConnectionRoleRules, EveryClientFrameIsMaskedWithAFreshKey) {
  for (Role role : {Role::client, Role::server}) {
    Connection c(options_for(role));
    const std::uint8_t data[3] = {1, 2, 3};
    for (int i = 0; i < 16; ++i) {
      c.send_text("same");
      c.send_binary(data);
      c.send_fragment(MessageKind::binary, data, false);
      c.ping(data);
      c.send_fragment(MessageKind::binary, {}, true);
      c.pong();
      feed(c, peer_frame(role, 0x9, "auto"));
    }
    feed(c, peer_frame(role, 0x1, "\xFF"));  // fails: a close frame with 1007
    const Bytes out = drain(c);
    std::set<std::string> keys;
    std::size_t frames = 0;
    for (std::size_t pos = 0; pos < out.size(); ++frames) {
      const bool masked = out[pos + 1] & 0x80;
      const std::size_t length = out[pos + 1] & 0x7F;
      ASSERT_LT(length, 126u);
      EXPECT_EQ(masked, role == Role::client);
      if (masked) {
        keys.insert(std::string(out.begin() + static_cast<std::ptrdiff_t>(pos + 2),
                                out.begin() + static_cast<std::ptrdiff_t>(pos + 6)));
      }
      pos += 2 + (masked ? 4 : 0) + length;
    }
    EXPECT_EQ(frames, 16u * 7 + 1);
    // 113 keys of 32 random bits collide with probability below 2^-18.
    if (role == Role::client) {
      EXPECT_EQ(keys.size(), frames);
    }
    EXPECT_EQ(parse_frames(out).back().close_code(), 1007);
  }
}

class ConnectionBothRoles : public ::testing::TestWithParam<Role> {
 protected:
  Role role() const { return GetParam(); }
  Bytes frame(std::uint8_t opcode, std::string_view payload, FrameSpec spec = {}) const {
    return peer_frame(role(), opcode, payload, spec);
  }
  Connection make(ConnectionOptions o = {}) const {
    o.role = role();
    return Connection(o);
  }
};

INSTANTIATE_TEST_SUITE_P(Roles, ConnectionBothRoles, ::testing::Values(Role::server, Role::client),
                         [](const auto& param_info) {
                           return param_info.param == Role::server ? "Server" : "Client";
                         });

TEST_P(ConnectionBothRoles, ReservedBitsWithoutDeflateFail) {
  for (FrameSpec spec :
       {FrameSpec{.rsv1 = true}, FrameSpec{.rsv2 = true}, FrameSpec{.rsv3 = true}}) {
    Connection c = make();
    expect_failed(c, feed(c, frame(0x1, "x", spec)), ProtocolError::reserved_bits_set, 1002);
  }
}

TEST_P(ConnectionBothRoles, Rsv2AndRsv3FailEvenWithDeflate) {
  for (FrameSpec spec : {FrameSpec{.rsv2 = true}, FrameSpec{.rsv3 = true}}) {
    Connection c = make({.deflate = DeflateParams{}});
    expect_failed(c, feed(c, frame(0x1, "x", spec)), ProtocolError::reserved_bits_set, 1002);
  }
}

TEST_P(ConnectionBothRoles, Rsv1OnContinuationFails) {
  Connection c = make({.deflate = DeflateParams{}});
  const auto events =
      feed(c, concat({frame(0x1, "a", {.fin = false}), frame(0x0, "b", {.rsv1 = true})}));
  expect_failed(c, events, ProtocolError::compressed_continuation, 1002);
}

TEST_P(ConnectionBothRoles, Rsv1OnControlFrameFails) {
  Connection c = make({.deflate = DeflateParams{}});
  const auto events = feed(c, frame(0x9, "", {.rsv1 = true}));
  EXPECT_EQ(c.state(), ConnectionState::failed);
  ASSERT_EQ(events.size(), 1u);
  // Either the frame codec or the connection names the rule; both are 1002.
  EXPECT_TRUE(events[0].error == ProtocolError::compressed_control_frame ||
              events[0].error == ProtocolError::reserved_bits_set);
  EXPECT_EQ(parse_frames(drain(c)).back().close_code(), 1002);
}

TEST_P(ConnectionBothRoles, ContinuationWithoutMessageFails) {
  Connection c = make();
  expect_failed(c, feed(c, frame(0x0, "orphan")), ProtocolError::unexpected_continuation, 1002);
}

TEST_P(ConnectionBothRoles, NewDataFrameInsideFragmentedMessageFails) {
  for (std::uint8_t opcode : {0x1, 0x2}) {
    Connection c = make();
    const auto events = feed(c, concat({frame(0x1, "a", {.fin = false}), frame(opcode, "b")}));
    expect_failed(c, events, ProtocolError::expected_continuation, 1002);
  }
}

TEST_P(ConnectionBothRoles, ReservedOpcodesFail) {
  for (std::uint8_t opcode : {0x3, 0x7, 0xB, 0xF}) {
    Connection c = make();
    expect_failed(c, feed(c, frame(opcode, "")), ProtocolError::reserved_opcode, 1002);
  }
}

TEST_P(ConnectionBothRoles, FragmentedControlFrameFails) {
  Connection c = make();
  expect_failed(c, feed(c, frame(0x9, "p", {.fin = false})),
                ProtocolError::fragmented_control_frame, 1002);
}

TEST_P(ConnectionBothRoles, ControlFrameOf125BytesIsAcceptedAnd126Fails) {
  Connection ok = make();
  EXPECT_EQ(feed(ok, frame(0x9, std::string(125, 'p'))),
            std::vector<Recorded>{control(EventKind::ping, std::string(125, 'p'))});
  Connection bad = make();
  expect_failed(bad, feed(bad, frame(0x9, std::string(126, 'p'))),
                ProtocolError::control_frame_too_long, 1002);
}

TEST_P(ConnectionBothRoles, NonMinimalLengthFails) {
  Bytes bytes = {0x82, static_cast<std::uint8_t>((role() == Role::server ? 0x80 : 0) | 126), 0, 5};
  if (role() == Role::server) bytes.insert(bytes.end(), {0, 0, 0, 0});
  bytes.insert(bytes.end(), 5, 'x');
  Connection c = make();
  expect_failed(c, feed(c, bytes), ProtocolError::non_minimal_length, 1002);
}

TEST_P(ConnectionBothRoles, ControlFramesBetweenFragmentsAreDelivered) {
  Connection c = make();
  const auto events =
      feed(c, concat({frame(0x2, "one ", {.fin = false}), frame(0x9, "p1"),
                      frame(0x0, "two ", {.fin = false}), frame(0xA, "p2"), frame(0x0, "three")}));
  EXPECT_EQ(events,
            (std::vector<Recorded>{control(EventKind::ping, "p1"), control(EventKind::pong, "p2"),
                                   message("one two three", MessageKind::binary)}));
  const auto out = parse_frames(drain(c));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, 0xA);
  EXPECT_EQ(out[0].payload, "p1");
}

// ---------------------------------------------------------------- UTF-8

TEST_P(ConnectionBothRoles, InvalidUtf8FailsAtTheFragmentWhereItAppears) {
  Connection c = make();
  // The bad byte is in the first fragment: the failure must come before the message ends.
  const auto events = feed(c, frame(0x1, "ok \xFF", {.fin = false}));
  expect_failed(c, events, ProtocolError::invalid_utf8, 1007);
}

TEST_P(ConnectionBothRoles, InvalidUtf8FailsInsideASplitFrame) {
  Connection c = make();
  Bytes bytes = frame(0x1, std::string(100, 'a') + "\xED\xA0\x80" + std::string(100, 'b'));
  bytes.resize(bytes.size() - 50);  // the surrogate is in, the end is not
  expect_failed(c, feed(c, bytes), ProtocolError::invalid_utf8, 1007);
}

TEST_P(ConnectionBothRoles, TruncatedCharacterAtMessageEndFails) {
  Connection c = make();
  expect_failed(c, feed(c, frame(0x1, "euro \xE2\x82")), ProtocolError::invalid_utf8, 1007);
  Connection f = make();
  expect_failed(f, feed(f, concat({frame(0x1, "\xE2", {.fin = false}), frame(0x0, "\x82")})),
                ProtocolError::invalid_utf8, 1007);
}

TEST_P(ConnectionBothRoles, BinaryIsNotValidated) {
  Connection c = make();
  EXPECT_EQ(feed(c, frame(0x2, "\xFF\xC0")),
            std::vector<Recorded>{message("\xFF\xC0", MessageKind::binary)});
}

// ---------------------------------------------------------------- limits

TEST_P(ConnectionBothRoles, MessageExactlyAtTheLimitIsAcceptedOneOverFails) {
  Connection at = make({.max_message_size = 1000});
  EXPECT_EQ(feed(at, frame(0x2, std::string(1000, 'a'))),
            std::vector<Recorded>{message(std::string(1000, 'a'), MessageKind::binary)});
  Connection over = make({.max_message_size = 1000});
  expect_failed(over, feed(over, frame(0x2, std::string(1001, 'a'))),
                ProtocolError::message_too_big, 1009);
}

TEST_P(ConnectionBothRoles, FragmentedMessageLimitCountsAllFragments) {
  Connection at = make({.max_message_size = 10});
  EXPECT_EQ(feed(at, concat({frame(0x1, "12345", {.fin = false}), frame(0x0, "67890")})),
            std::vector<Recorded>{message("1234567890")});
  Connection over = make({.max_message_size = 10});
  const auto events =
      feed(over, concat({frame(0x1, "12345", {.fin = false}), frame(0x0, "678901")}));
  expect_failed(over, events, ProtocolError::message_too_big, 1009);
}

TEST_P(ConnectionBothRoles, HugeDeclaredLengthFailsOnTheHeaderAlone) {
  Bytes header = {0x82, static_cast<std::uint8_t>((role() == Role::server ? 0x80 : 0) | 127),
                  0x40, 0,
                  0,    0,
                  0,    0,
                  0,    0};
  if (role() == Role::server) header.insert(header.end(), {1, 2, 3, 4});
  Connection c = make();
  expect_failed(c, feed(c, header), ProtocolError::message_too_big, 1009);
}

// A message of `frames` fragments of `size` bytes each (the last one with FIN).
Bytes fragmented(Role role, std::size_t frames, std::size_t size, std::uint8_t opcode = 0x2) {
  const std::string piece(size, 'f');
  Bytes bytes;
  for (std::size_t i = 0; i < frames; ++i) {
    const Bytes one = peer_frame(role, i == 0 ? opcode : 0x0, piece, {.fin = i + 1 == frames});
    bytes.insert(bytes.end(), one.begin(), one.end());
  }
  return bytes;
}

// Issue 8: 4 MiB in 64- or 256-byte fragments (65,536 / 16,384 frames) is what a conformant
// peer may send; the former limit of 4096 frames refused it with 1009.
TEST_P(ConnectionBothRoles, SmallFragmentsThatCarryPayloadPassAtTheDefaults) {
  for (const std::size_t size : {64u, 256u}) {
    Connection c = make({.max_message_size = 32 * 1024 * 1024});
    const std::vector<Recorded> events = feed(c, fragmented(role(), (4u << 20) / size, size));
    ASSERT_EQ(events.size(), 1u) << size;
    EXPECT_EQ(events[0].kind, EventKind::message);
    EXPECT_EQ(events[0].data.size(), 4u << 20);
    EXPECT_EQ(c.state(), ConnectionState::open);
  }
  Connection at_default_size = make();  // 16 MiB
  EXPECT_EQ(feed(at_default_size, fragmented(role(), 16384, 256, 0x1)).size(), 1u);
}

// An endless stream of empty fragments is cut off after the free allowance: 1008, since the
// message is not big, its fragmentation breaks the policy (RFC 6455 §7.4.1).
TEST_P(ConnectionBothRoles, EmptyFragmentsBeyondTheAllowanceFailWith1008) {
  Connection at = make({.free_fragments = 3});
  EXPECT_EQ(feed(at, concat({frame(0x1, "", {.fin = false}), frame(0x0, "", {.fin = false}),
                             frame(0x0, "x")})),
            std::vector<Recorded>{message("x")});
  Connection over = make({.free_fragments = 3});
  const auto events =
      feed(over, concat({frame(0x1, "", {.fin = false}), frame(0x0, "", {.fin = false}),
                         frame(0x0, "", {.fin = false}), frame(0x0, "")}));
  expect_failed(over, events, ProtocolError::fragments_too_small, 1008);
  // At the defaults: frame 4097 of empty fragments, before its payload.
  Connection flood = make();
  const std::vector<Recorded> flooded = feed(flood, fragmented(role(), 100'000, 0));
  expect_failed(flood, flooded, ProtocolError::fragments_too_small, 1008);
}

// The exact bound at the defaults for 1-byte fragments: frame k passes while k - 4096 <= k / 16,
// so 4369 frames pass and the 4370th fails.
TEST_P(ConnectionBothRoles, OneByteFragmentsPassUpToTheAverageBound) {
  Connection at = make();
  const std::vector<Recorded> passed = feed(at, fragmented(role(), 4369, 1, 0x1));
  ASSERT_EQ(passed.size(), 1u);
  EXPECT_EQ(passed[0].data, std::string(4369, 'f'));
  Connection over = make();
  expect_failed(over, feed(over, fragmented(role(), 4370, 1, 0x1)),
                ProtocolError::fragments_too_small, 1008);
  Connection unbounded = make({.min_fragment_average = 0});
  EXPECT_EQ(feed(unbounded, fragmented(role(), 10'000, 0)).size(), 1u);
}

TEST_P(ConnectionBothRoles, FragmentAllowanceRestartsWithEachMessage) {
  Connection c = make({.free_fragments = 2});
  const Bytes two = concat({frame(0x1, "", {.fin = false}), frame(0x0, "")});
  EXPECT_EQ(feed(c, concat({two, two, two})),
            (std::vector<Recorded>{message(""), message(""), message("")}));
}

// ---------------------------------------------------------------- fragment delivery

TEST_P(ConnectionBothRoles, DeliverFragmentsFollowsFramesAndMarksFirstAndLast) {
  Connection c = make({.deliver_fragments = true});
  const auto events =
      feed(c, concat({frame(0x1, "ab", {.fin = false}), frame(0x9, "p"),
                      frame(0x0, "", {.fin = false}), frame(0x0, "cd"), frame(0x2, "whole"),
                      frame(0x1, "x", {.fin = false}), frame(0x0, "")}));
  EXPECT_EQ(events,
            (std::vector<Recorded>{fragment("ab", true, false), control(EventKind::ping, "p"),
                                   fragment("cd", false, true),
                                   fragment("whole", true, true, MessageKind::binary),
                                   fragment("x", true, false), fragment("", false, true)}));
}

TEST_P(ConnectionBothRoles, DeliverFragmentsStreamsAPayloadAsItArrives) {
  const std::string big = pattern(5000, 9);
  const Bytes bytes =
      concat({frame(0x1, big.substr(0, 3000), {.fin = false}), frame(0x0, big.substr(3000))});
  for (std::size_t piece : {1u, 100u, 1024u}) {
    Connection c = make({.deliver_fragments = true});
    const auto events = feed_in_pieces(c, bytes, piece);
    std::string joined;
    int firsts = 0;
    int lasts = 0;
    for (const auto& e : events) {
      ASSERT_EQ(e.kind, EventKind::fragment);
      joined += e.data;
      firsts += e.first;
      lasts += e.last;
    }
    EXPECT_EQ(joined, big);
    EXPECT_EQ(firsts, 1);
    EXPECT_EQ(lasts, 1);
    EXPECT_TRUE(events.front().first);
    EXPECT_TRUE(events.back().last);
    if (piece == 100) {  // pieces, not one buffered message
      EXPECT_GT(events.size(), 40u);
    }
  }
}

TEST_P(ConnectionBothRoles, DeliverFragmentsStillEnforcesLimitsAndUtf8) {
  Connection big = make({.max_message_size = 4, .deliver_fragments = true});
  const auto e1 = feed(big, concat({frame(0x2, "abc", {.fin = false}), frame(0x0, "de")}));
  ASSERT_EQ(e1.size(), 2u);
  EXPECT_EQ(e1[0], fragment("abc", true, false, MessageKind::binary));
  expect_failed(big, e1, ProtocolError::message_too_big, 1009);

  Connection bad = make({.deliver_fragments = true});
  const auto e2 = feed(bad, concat({frame(0x1, "ok", {.fin = false}), frame(0x0, "\xF8")}));
  ASSERT_EQ(e2.size(), 2u);
  expect_failed(bad, e2, ProtocolError::invalid_utf8, 1007);
}

// ---------------------------------------------------------------- pings

TEST_P(ConnectionBothRoles, AutoPongEchoesThePayload) {
  Connection c = make();
  EXPECT_EQ(feed(c, frame(0x9, "echo me")),
            std::vector<Recorded>{control(EventKind::ping, "echo me")});
  const auto out = parse_frames(drain(c));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, 0xA);
  EXPECT_EQ(out[0].payload, "echo me");
  EXPECT_EQ(out[0].masked, role() == Role::client);
}

TEST_P(ConnectionBothRoles, WithoutAutoPongPingIsOnlyReported) {
  Connection c = make({.auto_pong = false});
  EXPECT_EQ(feed(c, frame(0x9, "x")), std::vector<Recorded>{control(EventKind::ping, "x")});
  EXPECT_EQ(c.buffered_amount(), 0u);
}

TEST_P(ConnectionBothRoles, UnsolicitedPongWithAnyPayloadIsAccepted) {
  Connection c = make();
  EXPECT_EQ(
      feed(c, concat({frame(0xA, ""), frame(0xA, std::string("\xFF\x00 anything", 11))})),
      (std::vector<Recorded>{control(EventKind::pong, ""),
                             control(EventKind::pong, std::string("\xFF\x00 anything", 11))}));
  EXPECT_EQ(c.state(), ConnectionState::open);
}

TEST_P(ConnectionBothRoles, SplitPingPayloadIsReassembled) {
  Connection c = make();
  EXPECT_EQ(feed_in_pieces(c, frame(0x9, std::string(125, 'q')), 3),
            std::vector<Recorded>{control(EventKind::ping, std::string(125, 'q'))});
  EXPECT_EQ(parse_frames(drain(c))[0].payload, std::string(125, 'q'));
}

// ---------------------------------------------------------------- closing

TEST_P(ConnectionBothRoles, PeerCloseIsReportedAndItsCodeEchoed) {
  Connection c = make();
  const auto events = feed(c, frame(0x8, close_payload(1001, "going")));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, EventKind::close);
  EXPECT_EQ(events[0].close_code, 1001);
  EXPECT_EQ(events[0].close_reason, "going");
  EXPECT_EQ(c.state(), ConnectionState::closed);
  EXPECT_FALSE(c.finished());  // the echo is still queued
  const auto out = parse_frames(drain(c));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, 0x8);
  EXPECT_EQ(out[0].payload, close_payload(1001));
  EXPECT_TRUE(c.finished());
}

TEST_P(ConnectionBothRoles, EmptyCloseIsReportedAs1005AndAnsweredEmpty) {
  Connection c = make();
  const auto events = feed(c, frame(0x8, ""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].close_code, 1005);
  EXPECT_EQ(events[0].close_reason, "");
  const auto out = parse_frames(drain(c));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, 0x8);
  EXPECT_EQ(out[0].payload, "");
}

TEST_P(ConnectionBothRoles, EveryValidReceivedCodeIsEchoed) {
  for (std::uint16_t code : {1000, 1002, 1003, 1007, 1011, 1014, 3000, 4999}) {
    Connection c = make();
    const auto events = feed(c, frame(0x8, close_payload(code)));
    ASSERT_EQ(events.size(), 1u) << code;
    EXPECT_EQ(events[0].close_code, code);
    EXPECT_EQ(parse_frames(drain(c))[0].close_code(), code);
  }
}

TEST_P(ConnectionBothRoles, InvalidClosePayloadsFail) {
  struct Case {
    std::string payload;
    ProtocolError error;
    std::uint16_t code;
  };
  const std::vector<Case> cases = {
      {std::string(1, '\x03'), ProtocolError::close_payload_too_short, 1002},
      {close_payload(999), ProtocolError::invalid_close_code, 1002},
      {close_payload(1004), ProtocolError::invalid_close_code, 1002},
      {close_payload(1005), ProtocolError::invalid_close_code, 1002},
      {close_payload(1006), ProtocolError::invalid_close_code, 1002},
      {close_payload(1015), ProtocolError::invalid_close_code, 1002},
      {close_payload(1016), ProtocolError::invalid_close_code, 1002},
      {close_payload(2999), ProtocolError::invalid_close_code, 1002},
      {close_payload(5000), ProtocolError::invalid_close_code, 1002},
      {close_payload(1000, "bad \xC3\x28"), ProtocolError::invalid_utf8, 1007},
  };
  for (const Case& k : cases) {
    Connection c = make();
    expect_failed(c, feed(c, frame(0x8, k.payload)), k.error, k.code);
  }
  Connection too_long = make();
  expect_failed(too_long, feed(too_long, frame(0x8, close_payload(1000, std::string(124, 'r')))),
                ProtocolError::control_frame_too_long, 1002);
}

TEST_P(ConnectionBothRoles, CloseReasonOf123BytesIsAccepted) {
  Connection c = make();
  const auto events = feed(c, frame(0x8, close_payload(1000, std::string(123, 'r'))));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].close_reason, std::string(123, 'r'));
}

TEST_P(ConnectionBothRoles, WeCloseFirstThenPeerClosesWithoutAnEcho) {
  Connection c = make();
  ASSERT_EQ(c.close(4000, "done"), SendResult::ok);
  EXPECT_EQ(c.state(), ConnectionState::closing);
  const auto out = parse_frames(drain(c));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, close_payload(4000, "done"));
  // Data still arrives while closing.
  const auto events = feed(
      c, concat({frame(0x1, "late"), frame(0x9, "no pong now"), frame(0x8, close_payload(4000))}));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], message("late"));
  EXPECT_EQ(events[2].close_code, 4000);
  EXPECT_EQ(c.state(), ConnectionState::closed);
  EXPECT_EQ(c.buffered_amount(), 0u);  // no pong and no second close after our close
  EXPECT_TRUE(c.finished());
}

TEST_P(ConnectionBothRoles, NothingIsSentAfterAClose) {
  Connection c = make();
  ASSERT_EQ(c.close(), SendResult::ok);
  const std::uint8_t b[1] = {1};
  EXPECT_EQ(c.send_text("x"), SendResult::closed);
  EXPECT_EQ(c.send_binary(b), SendResult::closed);
  EXPECT_EQ(c.send_fragment(MessageKind::text, b, false), SendResult::closed);
  EXPECT_EQ(c.ping(), SendResult::closed);
  EXPECT_EQ(c.pong(), SendResult::closed);
  EXPECT_EQ(c.close(), SendResult::closed);
  EXPECT_EQ(parse_frames(drain(c)).size(), 1u);
}

TEST_P(ConnectionBothRoles, FramesAfterThePeersCloseAreIgnored) {
  Connection c = make();
  const auto events = feed(
      c, concat({frame(0x8, ""), frame(0x1, "after"), frame(0x9, "x"), Bytes{0xFF, 0xFF, 0xFF}}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, EventKind::close);
  EXPECT_TRUE(feed(c, frame(0x1, "later")).empty());
  EXPECT_EQ(parse_frames(drain(c)).size(), 1u);
  EXPECT_EQ(c.send_text("x"), SendResult::closed);
}

// A peer that stops sending at its close frame, as RFC 6455 §5.5.1 wants, leaves nothing
// unread behind it; one that goes on is told apart, in the same read or in a later one.
TEST_P(ConnectionBothRoles, InputAfterThePeersCloseIsNoted) {
  Connection alone = make();
  ASSERT_EQ(feed(alone, frame(0x8, close_payload(1000))).size(), 1u);
  EXPECT_FALSE(alone.input_after_close());
  feed(alone, frame(0x1, "later"));
  EXPECT_TRUE(alone.input_after_close());

  Connection followed = make();
  feed(followed, concat({frame(0x8, close_payload(1000)), Bytes{0x81}}));
  EXPECT_TRUE(followed.input_after_close());

  // Our close first, then the peer's reply with nothing behind it.
  Connection replied = make();
  ASSERT_EQ(replied.close(), SendResult::ok);
  feed(replied, concat({frame(0x1, "late"), frame(0x8, close_payload(1000))}));
  EXPECT_EQ(replied.state(), ConnectionState::closed);
  EXPECT_FALSE(replied.input_after_close());
}

TEST_P(ConnectionBothRoles, AfterAFailureInputIsIgnoredAndNothingMoreIsSent) {
  Connection c = make();
  const auto events = feed(c, concat({frame(0x0, "bad"), frame(0x1, "after")}));
  expect_failed(c, events, ProtocolError::unexpected_continuation, 1002);
  EXPECT_TRUE(feed(c, frame(0x1, "more")).empty());
  EXPECT_EQ(c.send_text("x"), SendResult::closed);
  EXPECT_EQ(c.close(), SendResult::closed);
  EXPECT_EQ(c.buffered_amount(), 0u);
}

TEST_P(ConnectionBothRoles, FailureWhileClosingSendsNoSecondClose) {
  Connection c = make();
  ASSERT_EQ(c.close(1001), SendResult::ok);
  drain(c);
  const auto events = feed(c, frame(0x1, "\xFF"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].error, ProtocolError::invalid_utf8);
  EXPECT_EQ(c.state(), ConnectionState::failed);
  EXPECT_EQ(c.buffered_amount(), 0u);
  EXPECT_TRUE(c.finished());
}

TEST_P(ConnectionBothRoles, CloseHandshakeBetweenTwoConnections) {
  Connection a = make();
  Connection b(options_for(role() == Role::server ? Role::client : Role::server));
  ASSERT_EQ(a.close(1000, "bye"), SendResult::ok);
  const auto at_b = pipe(a, b);
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(at_b[0].close_code, 1000);
  EXPECT_EQ(at_b[0].close_reason, "bye");
  EXPECT_EQ(b.state(), ConnectionState::closed);
  const auto at_a = pipe(b, a);
  ASSERT_EQ(at_a.size(), 1u);
  EXPECT_EQ(at_a[0].close_code, 1000);
  EXPECT_EQ(a.state(), ConnectionState::closed);
  EXPECT_TRUE(a.finished());
  EXPECT_TRUE(b.finished());
}

// ---------------------------------------------------------------- sending

TEST_P(ConnectionBothRoles, SendFragmentTracksTheMessageInProgress) {
  Connection c = make();
  const auto piece = [](std::string_view s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  ASSERT_EQ(c.send_fragment(MessageKind::binary, piece("one"), false), SendResult::ok);
  EXPECT_EQ(c.send_text("interleaved"), SendResult::invalid);
  ASSERT_EQ(c.ping(piece("between")), SendResult::ok);
  // `kind` of later pieces is ignored: the first piece set it.
  ASSERT_EQ(c.send_fragment(MessageKind::text, piece("two"), false), SendResult::ok);
  ASSERT_EQ(c.send_fragment(MessageKind::binary, piece("three"), true), SendResult::ok);
  ASSERT_EQ(c.send_text("next"), SendResult::ok);
  const auto out = parse_frames(drain(c));
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].opcode, 0x2);
  EXPECT_FALSE(out[0].fin);
  EXPECT_EQ(out[1].opcode, 0x9);
  EXPECT_EQ(out[2].opcode, 0x0);
  EXPECT_FALSE(out[2].fin);
  EXPECT_EQ(out[3].opcode, 0x0);
  EXPECT_TRUE(out[3].fin);
  EXPECT_EQ(out[4].opcode, 0x1);
  for (const auto& f : out) EXPECT_EQ(f.masked, role() == Role::client);
}

TEST_P(ConnectionBothRoles, ControlPayloadLimitsAreEnforcedOnSend) {
  Connection c = make();
  const std::string p125(125, 'x');
  const std::string p126(126, 'x');
  const auto span = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(c.ping(span(p125)), SendResult::ok);
  EXPECT_EQ(c.pong(span(p125)), SendResult::ok);
  EXPECT_EQ(c.ping(span(p126)), SendResult::invalid);
  EXPECT_EQ(c.pong(span(p126)), SendResult::invalid);
  EXPECT_EQ(parse_frames(drain(c)).size(), 2u);
}

TEST_P(ConnectionBothRoles, CloseArgumentsAreChecked) {
  for (std::uint16_t code : {0, 999, 1004, 1006, 1015, 1016, 2999, 5000}) {
    Connection c = make();
    EXPECT_EQ(c.close(code), SendResult::invalid) << code;
    EXPECT_EQ(c.state(), ConnectionState::open);
  }
  Connection reason_too_long = make();
  EXPECT_EQ(reason_too_long.close(1000, std::string(124, 'r')), SendResult::invalid);
  Connection bad_utf8 = make();
  EXPECT_EQ(bad_utf8.close(1000, "\xFF"), SendResult::invalid);
  Connection reason_without_code = make();
  EXPECT_EQ(reason_without_code.close(1005, "why"), SendResult::invalid);
  EXPECT_EQ(reason_without_code.buffered_amount(), 0u);

  Connection longest = make();
  EXPECT_EQ(longest.close(3999, std::string(123, 'r')), SendResult::ok);
  EXPECT_EQ(parse_frames(drain(longest))[0].payload, close_payload(3999, std::string(123, 'r')));
  Connection empty = make();
  EXPECT_EQ(empty.close(1005), SendResult::ok);
  EXPECT_EQ(parse_frames(drain(empty))[0].payload, "");
}

TEST_P(ConnectionBothRoles, OutputIsPulledInPieces) {
  Connection c = make();
  ASSERT_EQ(c.send_text("0123456789"), SendResult::ok);
  const std::size_t frame_size = c.buffered_amount();
  EXPECT_EQ(frame_size, role() == Role::client ? 16u : 12u);
  Bytes collected;
  auto out = c.pending_output();
  collected.insert(collected.end(), out.begin(), out.begin() + 5);
  c.consume_output(5);
  EXPECT_EQ(c.buffered_amount(), frame_size - 5);
  ASSERT_EQ(c.send_text("abc"), SendResult::ok);
  out = c.pending_output();
  collected.insert(collected.end(), out.begin(), out.end());
  c.consume_output(out.size() + 100);  // over-consuming is clamped
  EXPECT_EQ(c.buffered_amount(), 0u);
  EXPECT_TRUE(c.pending_output().empty());
  const auto frames = parse_frames(collected);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].payload, "0123456789");
  EXPECT_EQ(frames[1].payload, "abc");
}

TEST_P(ConnectionBothRoles, SlowlyDrainedOutputKeepsEveryFrameIntact) {
  Connection c = make();
  Bytes collected;
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < 300; ++i) {
    sent.push_back(pattern(i * 7 % 200, static_cast<std::uint32_t>(i)));
    ASSERT_EQ(c.send_text(sent.back()), SendResult::ok);
    const auto out = c.pending_output();
    const std::size_t n = std::min(out.size(), i % 5 == 0 ? std::size_t{0} : i % 97);
    collected.insert(collected.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    c.consume_output(n);
  }
  const Bytes rest = drain(c);
  collected.insert(collected.end(), rest.begin(), rest.end());
  const auto frames = parse_frames(collected);
  ASSERT_EQ(frames.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(frames[i].payload, sent[i]);
}

// A connection whose transport is stalled keeps queueing frames (a broadcast, auto-pongs): each
// frame must not reallocate and copy everything queued before it, or N frames cost O(N^2).
TEST_P(ConnectionBothRoles, QueueingManyFramesGrowsTheOutputGeometrically) {
  Connection c = make();
  constexpr int frames = 20000;
  const std::size_t before = allocation_count;
  for (int i = 0; i < frames; ++i) ASSERT_EQ(c.send_text("0123456789"), SendResult::ok);
  EXPECT_LT(allocation_count - before, 64u);
  const auto out = parse_frames(drain(c));
  ASSERT_EQ(out.size(), static_cast<std::size_t>(frames));
  EXPECT_EQ(out.back().payload, "0123456789");
}

TEST_P(ConnectionBothRoles, LargeFramesUseExtendedLengths) {
  Connection c = make();
  Connection peer(options_for(role() == Role::server ? Role::client : Role::server));
  for (std::size_t size : {0u, 125u, 126u, 65535u, 65536u}) {
    const std::string data = random_bytes_string(size, static_cast<std::uint32_t>(size));
    ASSERT_EQ(c.send_binary({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}),
              SendResult::ok);
    EXPECT_EQ(pipe(c, peer), std::vector<Recorded>{message(data, MessageKind::binary)});
  }
}

TEST(ConnectionLifecycle, FinishedOnlyWhenClosedAndDrained) {
  Connection c(options_for(Role::server));
  EXPECT_FALSE(c.finished());
  EXPECT_EQ(c.role(), Role::server);
  c.close();
  EXPECT_FALSE(c.finished());
  drain(c);
  EXPECT_FALSE(c.finished());  // closing: waiting for the peer
  feed(c, make_frame(0x8, "", {.masked = true}));
  EXPECT_TRUE(c.finished());
}

TEST(ConnectionLifecycle, DeflateWindowOutsideEightToFifteenIsRejectedAtConstruction) {
  for (std::uint8_t bits : {0, 7, 16}) {
    DeflateParams server_bits;
    server_bits.server_max_window_bits = bits;
    EXPECT_THROW(Connection({.deflate = server_bits}), std::invalid_argument);
    DeflateParams client_bits;
    client_bits.client_max_window_bits = bits;
    EXPECT_THROW(Connection({.role = Role::client, .deflate = client_bits}), std::invalid_argument);
  }
}

TEST(ConnectionLifecycle, MovedConnectionKeepsItsState) {
  Connection a(options_for(Role::client));
  feed(a, make_frame(0x1, "par", {.fin = false}));
  Connection b = std::move(a);
  EXPECT_EQ(feed(b, make_frame(0x0, "tial")), std::vector<Recorded>{message("partial")});
  EXPECT_EQ(b.role(), Role::client);
}

// A handler may send from inside an event, e.g. an echo server.
class Echo : public EventHandler {
 public:
  explicit Echo(Connection& c) : connection(c) {}
  void on_event(const Event& event) override {
    if (event.kind == EventKind::message) connection.send(event.message_kind, event.data);
    if (event.kind == EventKind::close) close_result = connection.close();
  }
  Connection& connection;
  SendResult close_result = SendResult::ok;
};

TEST(ConnectionLifecycle, HandlerMaySendDuringReceive) {
  Connection server(options_for(Role::server));
  Connection client(options_for(Role::client));
  client.send_text("ping-pong");
  client.close(1000);
  Echo echo(server);
  Bytes bytes = drain(client);
  server.receive(bytes, echo);
  EXPECT_EQ(echo.close_result, SendResult::closed);  // the echo of the close was already queued
  EXPECT_EQ(pipe(server, client)[0], message("ping-pong"));
  EXPECT_EQ(client.state(), ConnectionState::closed);
}

TEST(ConnectionLifecycle, FailQueuesOurCloseAndStopsReading) {
  Connection c(options_for(Role::server));
  EXPECT_EQ(c.fail(1011, "internal error"), SendResult::ok);
  EXPECT_EQ(c.state(), ConnectionState::failed);
  const auto frames = parse_frames(drain(c));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].opcode, 0x8);
  EXPECT_EQ(frames[0].close_code(), 1011);
  EXPECT_EQ(frames[0].payload.substr(2), "internal error");
  EXPECT_TRUE(c.finished());  // the transport may close now, without the peer's close
  EXPECT_TRUE(feed(c, make_frame(0x1, "late", {.masked = true})).empty());
  EXPECT_EQ(c.send_text("late"), SendResult::closed);
  EXPECT_EQ(c.fail(1011), SendResult::ok);  // failing twice sends no second close
  EXPECT_TRUE(drain(c).empty());
}

TEST(ConnectionLifecycle, FailAfterOurCloseSendsNoSecondClose) {
  Connection c(options_for(Role::client));
  c.close(1000);
  drain(c);
  EXPECT_EQ(c.fail(1011), SendResult::ok);
  EXPECT_EQ(c.state(), ConnectionState::failed);
  EXPECT_TRUE(drain(c).empty());
}

TEST(ConnectionLifecycle, FailRefusesWhatCloseRefusesAndChangesNothing) {
  Connection c(options_for(Role::server));
  EXPECT_EQ(c.fail(1006), SendResult::invalid);  // may not be sent
  EXPECT_EQ(c.fail(1011, std::string(124, 'x')), SendResult::invalid);
  EXPECT_EQ(c.state(), ConnectionState::open);
  EXPECT_TRUE(drain(c).empty());
}

// A handler that fails the connection at the first message (an application callback threw):
// the rest of the same input is not read and no further event follows.
class FailAtFirstEvent : public EventHandler {
 public:
  explicit FailAtFirstEvent(Connection& c) : connection(c) {}
  void on_event(const Event& event) override {
    ++events;
    if (event.kind == EventKind::message || event.kind == EventKind::fragment) {
      connection.fail(1011);
    }
  }
  Connection& connection;
  int events = 0;
};

TEST(ConnectionLifecycle, FailFromTheHandlerDropsTheRestOfTheInput) {
  for (bool fragments : {false, true}) {
    Connection c({.role = Role::server, .deliver_fragments = fragments});
    Bytes input =
        concat({make_frame(0x1, "one", {.masked = true}), make_frame(0x1, "two", {.masked = true}),
                make_frame(0x9, "ping", {.masked = true}),
                make_frame(0x8, close_payload(1000), {.masked = true})});
    FailAtFirstEvent handler(c);
    c.receive(input, handler);
    EXPECT_EQ(handler.events, 1);
    EXPECT_EQ(c.state(), ConnectionState::failed);
    const auto frames = parse_frames(drain(c));
    ASSERT_EQ(frames.size(), 1u);  // our close only: no pong, no echo of the peer's close
    EXPECT_EQ(frames[0].close_code(), 1011);
  }
}

// An observer that fails the connection when it sees our close frame go out (a session whose
// frame callback threw): still exactly one close frame.
TEST(ConnectionLifecycle, FailFromTheObserverOfOurCloseSendsOneClose) {
  class FailOnClose : public FrameObserver {
   public:
    void on_frame(bool outgoing, const FrameHeader& header,
                  std::span<const std::uint8_t>) override {
      if (outgoing && header.opcode == Opcode::close) connection->fail(1011);
    }
    Connection* connection = nullptr;
  } observer;
  for (bool peer_error : {false, true}) {
    ConnectionOptions options = options_for(Role::server);
    options.frame_observer = &observer;
    Connection c(options);
    observer.connection = &c;
    if (peer_error) {
      feed(c, make_frame(0x1, "unmasked"));  // breaks the rule: our 1002 goes out
    } else {
      c.close(1000);
    }
    const auto frames = parse_frames(drain(c));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].close_code(), peer_error ? 1002 : 1000);
    EXPECT_EQ(c.state(), ConnectionState::failed);
  }
}

TEST(ConnectionLifecycle, SixteenMebibyteMessage) {
  ConnectionOptions server_options = options_for(Role::server);
  ASSERT_EQ(server_options.max_message_size, 16u * 1024 * 1024);
  Connection server(server_options);
  Connection client(options_for(Role::client));
  const std::string data = random_bytes_string(16 * 1024 * 1024, 16);
  ASSERT_EQ(client.send_binary({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}),
            SendResult::ok);
  Bytes wire = drain(client);
  // Arrives in 64 KiB reads, so it is assembled.
  const auto events = feed_in_pieces(server, wire, 65536);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].data == data);
  // One more byte is refused on the header.
  client.send_binary({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
  Bytes over = drain(client);
  over.resize(14);
  over[1] = 0x80 | 127;
  over[9] = 1;  // 16 MiB + 1
  expect_failed(server, feed(server, over), ProtocolError::message_too_big, 1009);
}

// ---------------------------------------------------------------- permessage-deflate

TEST(ConnectionDeflateRfcExamples, ClientInflatesTheRfc7692Examples) {
  const ConnectionOptions o{.role = Role::client, .deflate = DeflateParams{}};
  {
    Connection c(o);  // §7.2.3.1 one compressed frame, and §7.2.3.2 the shared window
    EXPECT_EQ(feed(c, concat({{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00},
                              {0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}})),
              (std::vector<Recorded>{message("Hello"), message("Hello")}));
  }
  {
    Connection c(o);  // §7.2.3.1 fragmented
    EXPECT_EQ(feed(c, {0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00}),
              std::vector<Recorded>{message("Hello")});
  }
  {
    Connection c(o);  // §7.2.3.3 a stored block
    EXPECT_EQ(
        feed(c, {0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}),
        std::vector<Recorded>{message("Hello")});
  }
  {
    Connection c(o);  // §7.2.3.4 BFINAL set
    EXPECT_EQ(feed(c, {0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}),
              std::vector<Recorded>{message("Hello")});
  }
}

// The sending side of the same examples: a server's "Hello" twice, sharing the window, is
// byte for byte the frames of RFC 7692 §7.2.3.1 and §7.2.3.2 (zlib's bytes; igzip's differ).
TEST(ConnectionDeflateRfcExamples, ServerSendsTheRfc7692Frames) {
  Connection server({.role = Role::server,
                     .deflate = DeflateParams{},
                     .deflate_tuning = {.engine = DeflateEngine::zlib}});
  ASSERT_EQ(server.send_text("Hello"), SendResult::ok);
  ASSERT_EQ(server.send_text("Hello"), SendResult::ok);
  EXPECT_EQ(drain(server), (Bytes{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,  //
                                  0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}));
}

TEST(ConnectionDeflate, CorruptCompressedDataFails) {
  Connection c({.role = Role::client, .deflate = DeflateParams{}});
  expect_failed(c, feed(c, make_frame(0x2, "\xFF\xFF\xFF\xFF", {.rsv1 = true})),
                ProtocolError::inflate_failed, 1002);
}

TEST(ConnectionDeflate, InvalidUtf8InsideACompressedMessageFails) {
  Connection sender({.role = Role::server, .deflate = DeflateParams{}});
  const std::string bad = "valid text then \xC0\x80";
  ASSERT_EQ(sender.send_binary({reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()}),
            SendResult::ok);
  Bytes wire = drain(sender);
  ASSERT_EQ(wire[0], 0xC2);
  wire[0] = 0xC1;  // relabel as text
  Connection client({.role = Role::client, .deflate = DeflateParams{}});
  expect_failed(client, feed(client, wire), ProtocolError::invalid_utf8, 1007);
}

TEST(ConnectionDeflate, InflatedSizeLimitExactlyAtAndOneOver) {
  const std::string data = pattern(5000, 21);
  for (std::size_t limit : {5000u, 4999u}) {
    for (bool fragments : {false, true}) {
      Connection server({.role = Role::server, .deflate = DeflateParams{}});
      ASSERT_EQ(server.send_text(data), SendResult::ok);
      const Bytes wire = drain(server);
      ASSERT_LT(wire.size(), 2000u);  // compressed well below the limit
      Connection client({.role = Role::client,
                         .max_message_size = limit,
                         .deliver_fragments = fragments,
                         .deflate = DeflateParams{}});
      const auto events = feed(client, wire);
      if (limit == 5000) {
        std::string joined;
        for (const auto& e : events) joined += e.data;
        EXPECT_EQ(joined, data);
        EXPECT_EQ(client.state(), ConnectionState::open);
      } else {
        expect_failed(client, events, ProtocolError::message_too_big, 1009);
      }
    }
  }
}

TEST(ConnectionDeflate, DecompressionBombIsStoppedAtTheLimit) {
  // zlib packs 8 MiB of zeros into ~8 KB (igzip's longest runs give ~22 KB).
  Connection server({.role = Role::server,
                     .deflate = DeflateParams{},
                     .deflate_tuning = {.engine = DeflateEngine::zlib}});
  const std::string zeros(8 * 1024 * 1024, '\0');
  ASSERT_EQ(server.send_binary({reinterpret_cast<const std::uint8_t*>(zeros.data()), zeros.size()}),
            SendResult::ok);
  const Bytes wire = drain(server);
  EXPECT_LT(wire.size(), 20000u);
  for (bool fragments : {false, true}) {
    Connection client({.role = Role::client,
                       .max_message_size = 1024 * 1024,
                       .deliver_fragments = fragments,
                       .deflate = DeflateParams{}});
    Bytes input = wire;
    Recorder recorder;
    largest_allocation = 0;
    client.receive(input, recorder);
    // Nothing near the 8 MiB the message would inflate to: at most the limit (plus one byte).
    EXPECT_LE(largest_allocation, 1024u * 1024 + 64);
    expect_failed(client, recorder.events, ProtocolError::message_too_big, 1009);
  }
}

// The invalid byte is in the first fragment of a compressed text message: the connection fails
// as soon as that fragment is inflated, without waiting for the rest (Autobahn 6.4.x, 12-13).
TEST(ConnectionDeflate, InvalidUtf8InTheFirstCompressedFragmentFailsAtOnce) {
  for (Role receiver : {Role::server, Role::client}) {
    Connection sender({.role = receiver == Role::server ? Role::client : Role::server,
                       .deflate = DeflateParams{}});
    const std::string bad = "valid text then \xF4\x90";  // above U+10FFFF: wrong at the 0x90
    ASSERT_EQ(sender.send_fragment(MessageKind::binary,
                                   {reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()},
                                   false),
              SendResult::ok);
    Bytes wire = drain(sender);
    ASSERT_EQ(wire[0], 0x42);  // RSV1, binary, no FIN
    wire[0] = 0x41;            // relabel as text
    Connection c({.role = receiver, .deflate = DeflateParams{}});
    expect_failed(c, feed(c, wire), ProtocolError::invalid_utf8, 1007);
  }
}

TEST(ConnectionDeflate, ThresholdAndFlagDecideCompression) {
  DeflateTuning tuning;
  tuning.threshold = 100;
  Connection server({.role = Role::server, .deflate = DeflateParams{}, .deflate_tuning = tuning});
  server.send_text(pattern(99));
  server.send_text(pattern(100));
  server.send_text(pattern(1000), {.compress = false});
  const auto frames = parse_frames(drain(server));
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_FALSE(frames[0].rsv1);
  EXPECT_TRUE(frames[1].rsv1);
  EXPECT_FALSE(frames[2].rsv1);

  Connection plain(options_for(Role::server));  // not negotiated: never compressed
  plain.send_text(pattern(1000));
  EXPECT_FALSE(parse_frames(drain(plain))[0].rsv1);
}

// The first piece's flags decide for the whole fragmented message; later pieces' flags are
// ignored, since RSV1 can only be set on the first frame.
TEST(ConnectionDeflate, FirstFragmentDecidesWhetherAFragmentedMessageIsCompressed) {
  const std::string text = pattern(2000, 12);
  const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
  for (bool compress : {false, true}) {
    Connection client({.role = Role::client, .deflate = DeflateParams{}});
    ASSERT_EQ(client.send_fragment(MessageKind::text, {p, 1000}, false, {.compress = compress}),
              SendResult::ok);
    ASSERT_EQ(
        client.send_fragment(MessageKind::text, {p + 1000, 1000}, true, {.compress = !compress}),
        SendResult::ok);
    const Bytes wire = drain(client);
    const auto frames = parse_frames(wire);
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].rsv1, compress);
    EXPECT_FALSE(frames[1].rsv1);
    if (!compress) {
      EXPECT_EQ(frames[0].payload + frames[1].payload, text);
    }
    Connection server({.role = Role::server, .deflate = DeflateParams{}});
    EXPECT_EQ(feed(server, wire), std::vector<Recorded>{message(text)});
  }
}

TEST(ConnectionDeflate, CompressedFragmentsHaveRsv1OnTheFirstFrameOnly) {
  Connection client({.role = Role::client, .deflate = DeflateParams{}});
  const std::string text = pattern(3000, 5);
  const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
  client.send_fragment(MessageKind::text, {p, 1000}, false);
  client.ping();
  client.send_fragment(MessageKind::text, {p + 1000, 1000}, false);
  client.send_fragment(MessageKind::text, {p + 2000, 1000}, true);
  const Bytes wire = drain(client);
  const auto frames = parse_frames(wire);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_TRUE(frames[0].rsv1);
  EXPECT_FALSE(frames[1].rsv1);
  EXPECT_FALSE(frames[2].rsv1);
  EXPECT_FALSE(frames[3].rsv1);
  Connection server({.role = Role::server, .deflate = DeflateParams{}});
  EXPECT_EQ(feed(server, wire),
            (std::vector<Recorded>{control(EventKind::ping, ""), message(text)}));
}

// Both directions, every combination of context takeover and window bits.
TEST(ConnectionDeflate, EveryParameterCombinationRoundTrips) {
  const std::string messages[] = {
      pattern(2000, 1), pattern(2000, 1), pattern(50, 2), "", random_bytes_string(3000, 3),
      pattern(40000, 4)};
  const auto kind = [](std::size_t i) { return i == 4 ? MessageKind::binary : MessageKind::text; };
  for (int takeover = 0; takeover < 4; ++takeover) {
    for (std::uint8_t server_bits = 8; server_bits <= 15; ++server_bits) {
      for (std::uint8_t client_bits = 8; client_bits <= 15; ++client_bits) {
        DeflateParams params;
        params.server_no_context_takeover = takeover & 1;
        params.client_no_context_takeover = takeover & 2;
        params.server_max_window_bits = server_bits;
        params.client_max_window_bits = client_bits;
        Connection server({.role = Role::server, .deflate = params});
        Connection client({.role = Role::client, .deflate = params});
        const std::string label = std::to_string(takeover) + "/" + std::to_string(server_bits) +
                                  "/" + std::to_string(client_bits);
        for (std::size_t i = 0; i < std::size(messages); ++i) {
          const std::span<const std::uint8_t> m(
              reinterpret_cast<const std::uint8_t*>(messages[i].data()), messages[i].size());
          ASSERT_EQ(server.send(kind(i), m), SendResult::ok);
          ASSERT_EQ(client.send(kind(i), m), SendResult::ok);
        }
        const Bytes down = drain(server);
        const Bytes up = drain(client);
        EXPECT_TRUE(parse_frames(down)[0].rsv1);
        const auto at_client = feed(client, down);
        const auto at_server = feed(server, up);
        ASSERT_EQ(at_client.size(), std::size(messages)) << label;
        ASSERT_EQ(at_server.size(), std::size(messages)) << label;
        for (std::size_t i = 0; i < std::size(messages); ++i) {
          EXPECT_EQ(at_client[i], message(messages[i], kind(i))) << label << " #" << i;
          EXPECT_EQ(at_server[i], message(messages[i], kind(i))) << label << " #" << i;
        }
      }
    }
  }
}

TEST(ConnectionDeflate, ContextTakeoverMakesARepeatedMessageSmaller) {
  const std::string m = random_bytes_string(400, 77) + pattern(100);  // poorly compressible
  std::size_t second_frame_size[2];
  for (bool no_takeover : {false, true}) {
    DeflateParams params;
    params.server_no_context_takeover = no_takeover;
    Connection server({.role = Role::server, .deflate = params});
    server.send_text(m);
    drain(server);
    server.send_text(m);
    second_frame_size[no_takeover] = drain(server).size();
  }
  EXPECT_LT(second_frame_size[0] * 4, second_frame_size[1]);
}

TEST(ConnectionDeflate, ByteByByteCompressedStreamGivesTheSameEvents) {
  DeflateParams params;
  params.client_max_window_bits = 10;
  Connection client({.role = Role::client, .deflate = params});
  const std::string long_text = pattern(20000, 6) + "\xF0\x9F\x98\x80";
  client.send_text(long_text);
  client.send_fragment(MessageKind::binary,
                       {reinterpret_cast<const std::uint8_t*>(long_text.data()), 5000}, false);
  client.ping();
  client.send_fragment(MessageKind::binary, {}, true);
  client.close(1000, "end");
  const Bytes wire = drain(client);
  Connection one_shot({.role = Role::server, .deflate = params});
  const auto expected = feed(one_shot, wire);
  ASSERT_EQ(expected.size(), 4u);
  EXPECT_EQ(expected[0], message(long_text));
  EXPECT_EQ(expected[2], message(long_text.substr(0, 5000), MessageKind::binary));
  Connection split({.role = Role::server, .deflate = params});
  EXPECT_EQ(feed_in_pieces(split, wire, 1), expected);
}

TEST(ConnectionDeflate, DeliverFragmentsGivesInflatedPieces) {
  Connection server({.role = Role::server, .deflate = DeflateParams{}});
  const std::string text = pattern(100000, 8);
  server.send_text(text);
  const Bytes wire = drain(server);
  Connection client({.role = Role::client, .deliver_fragments = true, .deflate = DeflateParams{}});
  const auto events = feed_in_pieces(client, wire, 512);
  std::string joined;
  for (const auto& e : events) {
    ASSERT_EQ(e.kind, EventKind::fragment);
    joined += e.data;
  }
  EXPECT_EQ(joined, text);
  EXPECT_TRUE(events.front().first);
  EXPECT_TRUE(events.back().last);
  EXPECT_GT(events.size(), 1u);
}

// One small compressed frame that inflates to 16 MiB, under a limit raised for it: with
// deliver_fragments it comes out in bounded pieces, never as one 16 MiB buffer.
TEST(ConnectionDeflate, DeliverFragmentsInflatesAHugeFrameInBoundedPieces) {
  Connection server({.role = Role::server, .deflate = DeflateParams{}});
  const std::size_t size = 16 * 1024 * 1024;
  std::string text = pattern(4096, 12);
  while (text.size() < size) text += text;
  ASSERT_EQ(server.send_text(text), SendResult::ok);
  Bytes wire = drain(server);
  Connection client({.role = Role::client,
                     .max_message_size = 1024 * 1024 * 1024,
                     .deliver_fragments = true,
                     .deflate = DeflateParams{}});
  class Checker : public EventHandler {
   public:
    explicit Checker(const std::string& expected) : text(expected) {}
    void on_event(const Event& event) override {
      ASSERT_EQ(event.kind, EventKind::fragment);
      ++pieces;
      largest = std::max(largest, event.data.size());
      matches = matches && text.compare(offset, event.data.size(), event.text()) == 0;
      offset += event.data.size();
      lasts += event.last;
    }
    const std::string& text;
    std::size_t offset = 0;
    std::size_t pieces = 0;
    std::size_t largest = 0;
    int lasts = 0;
    bool matches = true;
  } checker(text);
  largest_allocation = 0;
  client.receive(wire, checker);
  EXPECT_EQ(client.state(), ConnectionState::open);
  EXPECT_EQ(checker.offset, size);
  EXPECT_TRUE(checker.matches);
  EXPECT_EQ(checker.lasts, 1);
  EXPECT_GT(checker.pieces, size / (2 * MessageInflater::max_output_step));
  EXPECT_LE(checker.largest, 2 * MessageInflater::max_output_step);
  EXPECT_LT(largest_allocation, 1024u * 1024);  // nothing near the message's size
}

// A compressed text message whose characters are split between inflated pieces is valid; an
// invalid byte deep inside fails it with 1007 after the pieces before it were delivered.
TEST(ConnectionDeflate, DeliverFragmentsValidatesUtf8AcrossInflatedPieces) {
  std::string text;
  while (text.size() < 1024 * 1024)
    text += "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC\xF0\x9F\x98\x80";  // 2, 3 and 4 bytes
  for (bool corrupt : {false, true}) {
    std::string sent = text;
    if (corrupt) sent[sent.size() / 2 + 1] = '\xFF';
    Connection server({.role = Role::server, .deflate = DeflateParams{}});
    ASSERT_EQ(server.send_text(sent), SendResult::ok);
    Connection client({.role = Role::client,
                       .max_message_size = 1024 * 1024 * 1024,
                       .deliver_fragments = true,
                       .deflate = DeflateParams{}});
    const auto events = feed(client, drain(server));
    ASSERT_GT(events.size(), 2u);
    if (!corrupt) {
      std::string joined;
      for (const auto& e : events) joined += e.data;
      EXPECT_EQ(joined, text);
      EXPECT_EQ(client.state(), ConnectionState::open);
    } else {
      EXPECT_EQ(events.front().kind, EventKind::fragment);  // pieces before the bad byte
      expect_failed(client, events, ProtocolError::invalid_utf8, 1007);
    }
  }
}

// The handler fails the connection on the first inflated piece: inflating stops there.
TEST(ConnectionDeflate, FailingFromAnInflatedPieceStopsInflating) {
  Connection server({.role = Role::server, .deflate = DeflateParams{}});
  const std::string zeros(16 * 1024 * 1024, '\0');
  server.send_binary({reinterpret_cast<const std::uint8_t*>(zeros.data()), zeros.size()});
  Bytes wire = drain(server);
  Connection client({.role = Role::client,
                     .max_message_size = 1024 * 1024 * 1024,
                     .deliver_fragments = true,
                     .deflate = DeflateParams{}});
  FailAtFirstEvent handler(client);
  client.receive(wire, handler);
  EXPECT_EQ(handler.events, 1);
  EXPECT_EQ(client.state(), ConnectionState::failed);
}

TEST(ConnectionDeflate, SixteenMebibyteCompressedMessage) {
  Connection server({.role = Role::server, .deflate = DeflateParams{}});
  Connection client({.role = Role::client, .deflate = DeflateParams{}});
  const std::string text = pattern(16 * 1024 * 1024, 11);
  ASSERT_EQ(client.send_text(text), SendResult::ok);
  const auto events = feed_in_pieces(server, drain(client), 1 << 20);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0] == message(text));
}

// ---------------------------------------------------------------- frame observer

struct ObservedFrame {
  bool outgoing = false;
  FrameHeader header;
  std::string payload;
};

class FrameLog : public FrameObserver {
 public:
  void on_frame(bool outgoing, const FrameHeader& header,
                std::span<const std::uint8_t> payload) override {
    frames.push_back({outgoing, header,
                      std::string(reinterpret_cast<const char*>(payload.data()), payload.size())});
  }
  std::vector<ObservedFrame> frames;
};

// Records the order of observed frames and delivered events in one list.
class OrderLog : public FrameObserver, public EventHandler {
 public:
  void on_frame(bool outgoing, const FrameHeader& header, std::span<const std::uint8_t>) override {
    order.push_back(std::string(outgoing ? "out " : "in ") +
                    std::to_string(static_cast<int>(header.opcode)));
  }
  void on_event(const Event& event) override {
    order.push_back("event " + std::to_string(static_cast<int>(event.kind)));
  }
  std::vector<std::string> order;
};

TEST(ConnectionFrameObserver, SeesEverySentFrameUnmaskedWithItsHeader) {
  FrameLog log;
  ConnectionOptions options = options_for(Role::client);
  options.frame_observer = &log;
  Connection client(options);
  client.send_text("Hello");
  client.send_fragment(MessageKind::binary, std::span<const std::uint8_t>(), false);
  const Bytes tail{1, 2, 3};
  client.send_fragment(MessageKind::binary, tail, true);
  client.ping(tail);
  client.close(1000, "bye");
  const auto wire = parse_frames(drain(client));
  ASSERT_EQ(log.frames.size(), 5u);
  ASSERT_EQ(wire.size(), 5u);
  for (std::size_t i = 0; i < wire.size(); ++i) {
    const ObservedFrame& seen = log.frames[i];
    EXPECT_TRUE(seen.outgoing);
    EXPECT_TRUE(seen.header.masked);  // a client masks every frame...
    EXPECT_EQ(static_cast<int>(seen.header.opcode), wire[i].opcode);
    EXPECT_EQ(seen.header.fin, wire[i].fin);
    EXPECT_EQ(seen.header.payload_length, wire[i].payload.size());
    EXPECT_EQ(seen.payload, wire[i].payload);  // ...and the observer sees the plain payload
  }
  EXPECT_EQ(log.frames[0].payload, "Hello");
  EXPECT_FALSE(log.frames[1].header.fin);
  EXPECT_EQ(log.frames[2].header.opcode, Opcode::continuation);
  EXPECT_EQ(log.frames[3].header.opcode, Opcode::ping);
  EXPECT_EQ(log.frames[4].payload, close_payload(1000, "bye"));
}

TEST(ConnectionFrameObserver, SeesReceivedFramesOnceEvenWhenSplit) {
  FrameLog log;
  ConnectionOptions options = options_for(Role::server);
  options.frame_observer = &log;
  Connection server(options);
  const Bytes wire =
      concat({peer_frame(Role::server, 0x1, "Hel", {.fin = false}),
              peer_frame(Role::server, 0x9, ""), peer_frame(Role::server, 0x0, "lo")});
  // Byte by byte: every frame is reported once, at its first payload byte (or its header).
  const auto events = feed_in_pieces(server, wire, 1);
  ASSERT_EQ(log.frames.size(), 4u);  // three received, one pong sent
  EXPECT_FALSE(log.frames[0].outgoing);
  EXPECT_TRUE(log.frames[0].header.masked);
  EXPECT_FALSE(log.frames[0].header.fin);
  EXPECT_EQ(log.frames[0].header.payload_length, 3u);
  EXPECT_EQ(log.frames[0].payload, "H");  // only the first chunk, unmasked
  EXPECT_EQ(log.frames[1].header.opcode, Opcode::ping);
  EXPECT_FALSE(log.frames[1].outgoing);
  EXPECT_EQ(log.frames[2].header.opcode, Opcode::pong);  // the automatic answer
  EXPECT_TRUE(log.frames[2].outgoing);
  EXPECT_FALSE(log.frames[2].header.masked);
  EXPECT_EQ(log.frames[3].header.opcode, Opcode::continuation);
  EXPECT_EQ(log.frames[3].payload, "l");
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back() == message("Hello"));

  // In one piece, the whole unmasked payload.
  log.frames.clear();
  feed(server, peer_frame(Role::server, 0x2, "whole"));
  ASSERT_EQ(log.frames.size(), 1u);
  EXPECT_EQ(log.frames[0].payload, "whole");
  EXPECT_EQ(log.frames[0].header.opcode, Opcode::binary);
}

TEST(ConnectionFrameObserver, ReportsAFrameBeforeItsEventAndItsAnswer) {
  OrderLog log;
  ConnectionOptions options = options_for(Role::client);
  options.frame_observer = &log;
  Connection client(options);
  Bytes wire = concat(
      {peer_frame(Role::client, 0x9, "p"), peer_frame(Role::client, 0x8, close_payload(1000))});
  client.receive(wire, log);
  const std::vector<std::string> expected = {
      "in 9", "out 10", "event " + std::to_string(static_cast<int>(EventKind::ping)),
      "in 8", "out 8",  "event " + std::to_string(static_cast<int>(EventKind::close))};
  EXPECT_EQ(log.order, expected);
}

TEST(ConnectionFrameObserver, CompressedFramesShowTheWireBytesAndRsv1) {
  FrameLog sent;
  FrameLog received;
  ConnectionOptions server_options{.role = Role::server, .deflate = DeflateParams{}};
  server_options.frame_observer = &sent;
  ConnectionOptions client_options{.role = Role::client, .deflate = DeflateParams{}};
  client_options.frame_observer = &received;
  Connection server(server_options);
  Connection client(client_options);
  const std::string text = pattern(4000, 3);
  server.send_text(text);
  const auto events = pipe(server, client);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0] == message(text));
  ASSERT_EQ(sent.frames.size(), 1u);
  ASSERT_EQ(received.frames.size(), 1u);
  EXPECT_TRUE(sent.frames[0].header.rsv1);
  EXPECT_TRUE(received.frames[0].header.rsv1);
  EXPECT_LT(sent.frames[0].payload.size(), text.size());
  EXPECT_EQ(received.frames[0].payload, sent.frames[0].payload);
}

TEST(ConnectionFrameObserver, AFrameBreakingARuleIsNotReported) {
  FrameLog log;
  ConnectionOptions options = options_for(Role::server);
  options.frame_observer = &log;
  Connection server(options);
  // Unmasked towards a server: refused on the header; only our close frame is seen.
  const auto events = feed(server, make_frame(0x1, "x"));
  expect_failed(server, events, ProtocolError::unmasked_client_frame, 1002);
  ASSERT_EQ(log.frames.size(), 1u);
  EXPECT_TRUE(log.frames[0].outgoing);
  EXPECT_EQ(log.frames[0].header.opcode, Opcode::close);
}

// ---------------------------------------------------------------- buffers and footprint

// Echoes every message back through send(), as an echo server does.
class CountingEcho : public EventHandler {
 public:
  explicit CountingEcho(Connection& c) : connection(c) {}
  void on_event(const Event& event) override {
    if (event.kind == EventKind::message) connection.send(event.message_kind, event.data);
    ++messages;
  }
  Connection& connection;
  int messages = 0;
};

TEST(ConnectionBuffers, SixtyFourKiBEchoReusesItsBuffersFromTheSecondMessageOn) {
  // A 64 KiB message split across two reads is assembled, and its echo (64 KiB + a 10-byte
  // header) is queued: both buffers are kept between messages instead of being freed and
  // faulted in again for every message.
  Connection c(options_for(Role::server));
  const std::string payload = pattern(64 * 1024, 7);
  Bytes frame = peer_frame(Role::server, 0x2, payload);
  const Bytes original = frame;
  CountingEcho echo(c);
  std::size_t after_first = 0;
  for (int i = 0; i < 4; ++i) {
    frame = original;  // same capacity: no allocation (unmasking works in place)
    const std::span<std::uint8_t> bytes(frame);
    c.receive(bytes.first(40000), echo);
    c.receive(bytes.subspan(40000), echo);
    ASSERT_EQ(echo.messages, i + 1);
    const auto out = c.pending_output();
    ASSERT_EQ(out.size(), payload.size() + 10);
    if (i == 0) {
      const auto frames = parse_frames(Bytes(out.begin(), out.end()));
      ASSERT_EQ(frames.size(), 1u);
      EXPECT_EQ(frames[0].payload, payload);
      after_first = allocation_count;
    }
    c.consume_output(1000);  // the transport takes it in pieces
    c.consume_output(out.size() - 1000);
  }
  EXPECT_EQ(allocation_count, after_first);
}

TEST(ConnectionBuffers, MessagesAboveTheRetainedSizeReuseTheThreadsPooledBuffers) {
  detail::clear_buffer_pool();
  Connection c(options_for(Role::server));
  const Bytes original = peer_frame(Role::server, 0x2, pattern(200 * 1024, 8));
  CountingEcho echo(c);
  for (int i = 0; i < 3; ++i) {
    Bytes frame = original;
    const std::span<std::uint8_t> bytes(frame);
    const std::size_t before = allocation_count;
    c.receive(bytes.first(1000), echo);
    c.receive(bytes.subspan(1000), echo);
    // The first message allocates its message and output buffers; later ones borrow them back
    // from the thread's pool, where they went when the connection was done with them.
    EXPECT_EQ(allocation_count - before, i == 0 ? 2u : 0u) << "message " << i;
    c.consume_output(c.pending_output().size());
    EXPECT_EQ(detail::pooled_buffer_count(), 2u);  // the connection itself keeps neither
  }
  EXPECT_EQ(echo.messages, 3);
}

TEST(ConnectionBuffers, SplitFrameGetsRoomForItsDeclaredLengthOnce) {
  Connection c(options_for(Role::server));
  const std::string payload = pattern(300 * 1024, 9);
  const Bytes frame = peer_frame(Role::server, 0x2, payload);
  Recorder r;
  std::vector<Bytes> pieces;
  for (std::size_t pos = 0; pos < frame.size(); pos += 10000) {
    pieces.emplace_back(
        frame.begin() + static_cast<std::ptrdiff_t>(pos),
        frame.begin() + static_cast<std::ptrdiff_t>(std::min(frame.size(), pos + 10000)));
  }
  r.events.reserve(1);
  detail::clear_buffer_pool();
  const std::size_t before = allocation_count;
  for (std::size_t i = 0; i + 1 < pieces.size(); ++i) c.receive(pieces[i], r);
  EXPECT_EQ(allocation_count - before, 1u);  // one buffer of the frame's length, no regrowth
  c.receive(pieces.back(), r);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].data, payload);
}

TEST(ConnectionBuffers, DeclaredLengthAloneDoesNotReserveALargeBuffer) {
  // A peer that announces a 4 MiB frame and sends 100 bytes of it gets a buffer in proportion
  // to what it sent, not to what it announced.
  Connection c(options_for(Role::server));
  FrameSpec spec;
  spec.masked = true;
  Bytes frame = make_frame(0x2, pattern(4 * 1024 * 1024, 10), spec);
  frame.resize(frame.size() - 4 * 1024 * 1024 + 100);
  Recorder r;
  largest_allocation = 0;
  c.receive(frame, r);
  EXPECT_TRUE(r.events.empty());
  EXPECT_LT(largest_allocation, 64u * 1024);
}

TEST(ConnectionFootprint, IdleConnectionIsOneSmallAllocation) {
  // What a server holds per idle client: no buffer, compressor or control-frame scratch space
  // until one is needed (permessage-deflate negotiated or not).
  for (bool deflate : {false, true}) {
    ConnectionOptions options = options_for(Role::server);
    if (deflate) options.deflate = DeflateParams{};
    const std::size_t before = allocation_count;
    largest_allocation = 0;
    Connection c(options);
    EXPECT_EQ(allocation_count - before, 1u);
    // 264: the most glibc serves from the 272-byte chunk a 256-byte request takes (16-byte
    // steps, 8 bytes of header), so what it costs is the same.
    EXPECT_LE(largest_allocation, 264u);
  }
}

TEST(ConnectionFootprint, ControlFrameSplitAcrossReadsStillArrivesWhole) {
  // Its scratch buffer is made on demand, in the middle of a fragmented message too.
  Connection c(options_for(Role::server));
  const Bytes stream = concat({peer_frame(Role::server, 0x1, "frag", {.fin = false}),
                               peer_frame(Role::server, 0x9, pattern(125, 11)),
                               peer_frame(Role::server, 0x0, "ment")});
  const auto events = feed_in_pieces(c, stream, 7);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], control(EventKind::ping, pattern(125, 11)));
  EXPECT_EQ(events[1], message("fragment"));
  const auto frames = parse_frames(drain(c));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].opcode, 0xA);
  EXPECT_EQ(frames[0].payload, pattern(125, 11));
}

// ---------------------------------------------------------------- send_direct

// Takes up to `limit` bytes of what it is offered.
class FakeTransport : public DirectOutput {
 public:
  explicit FakeTransport(std::size_t max) : limit(max) {}
  std::size_t write_now(std::span<const std::uint8_t> header,
                        std::span<const std::uint8_t> payload) override {
    ++calls;
    std::size_t taken = 0;
    for (auto part : {header, payload}) {
      const std::size_t n = std::min(part.size(), limit - taken);
      written.insert(written.end(), part.begin(), part.begin() + static_cast<std::ptrdiff_t>(n));
      taken += n;
    }
    return taken;
  }
  std::size_t limit;
  int calls = 0;
  Bytes written;
};

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// The frame send() would queue for `payload`.
Bytes queued_frame(const std::string& payload) {
  Connection c(options_for(Role::server));
  c.send(MessageKind::binary, as_bytes(payload));
  return drain(c);
}

TEST(ConnectionBuffers, OutputOutgrowingItsBufferTakesPooledStorageFromTheSecondRoundOn) {
  // Two 64 KiB messages queued before the transport takes either (as when a frame waits ahead
  // of them): the output outgrows the retained size while in use. From the second round on its
  // storage comes back from the thread's pool, not from the heap, which handed such buffers
  // back to the system and faulted them in again on every round (ten connections: ~15 page
  // faults per message).
  detail::clear_buffer_pool();
  Connection c(options_for(Role::server));
  const std::string payload = pattern(64 * 1024, 13);
  for (int round = 0; round < 3; ++round) {
    const std::size_t before = allocation_count;
    ASSERT_EQ(c.send(MessageKind::binary, as_bytes(payload)), SendResult::ok);
    ASSERT_EQ(c.send(MessageKind::binary, as_bytes(payload)), SendResult::ok);
    const std::size_t allocated = allocation_count - before;
    if (round > 0) {
      EXPECT_EQ(allocated, 0u) << "round " << round;
    }
    const Bytes out = drain(c);
    const auto frames = parse_frames(out);
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].payload, payload);
    EXPECT_EQ(frames[1].payload, payload);
  }
}

TEST(ConnectionSendDirect, WholeFrameTakenQueuesAndAllocatesNothing) {
  Connection c(options_for(Role::server));
  const std::string payload = pattern(100 * 1024, 12);
  FakeTransport transport(SIZE_MAX);
  transport.written.reserve(payload.size() + 100);
  const std::size_t before = allocation_count;
  EXPECT_EQ(c.send_direct(MessageKind::binary, as_bytes(payload), {}, transport), SendResult::ok);
  EXPECT_EQ(allocation_count, before);
  EXPECT_EQ(transport.calls, 1);
  EXPECT_EQ(c.buffered_amount(), 0u);
  EXPECT_EQ(transport.written, queued_frame(payload));
}

TEST(ConnectionSendDirect, WhatTheTransportDidNotTakeIsQueuedInOrder) {
  const std::string payload = pattern(70000, 13);
  const Bytes expected = queued_frame(payload);  // header of 4 bytes
  for (std::size_t limit : {std::size_t{0}, std::size_t{1}, std::size_t{4}, std::size_t{5},
                            std::size_t{40000}, expected.size() - 1}) {
    Connection c(options_for(Role::server));
    FakeTransport transport(limit);
    EXPECT_EQ(c.send_direct(MessageKind::binary, as_bytes(payload), {}, transport), SendResult::ok);
    EXPECT_EQ(transport.written.size(), limit);
    EXPECT_EQ(c.buffered_amount(), expected.size() - limit);
    const Bytes rest = drain(c);
    Bytes all = transport.written;
    all.insert(all.end(), rest.begin(), rest.end());
    EXPECT_EQ(all, expected) << "limit " << limit;
  }
}

TEST(ConnectionSendDirect, QueuesInsteadWhenTheFrameCannotGoOutAsIs) {
  const std::string payload = pattern(20000, 14);
  {  // output already pending: the frame must follow it
    Connection c(options_for(Role::server));
    c.ping(as_bytes("p"));
    FakeTransport transport(SIZE_MAX);
    EXPECT_EQ(c.send_direct(MessageKind::binary, as_bytes(payload), {}, transport), SendResult::ok);
    EXPECT_EQ(transport.calls, 0);
    const auto frames = parse_frames(drain(c));
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].opcode, 0x9);
    EXPECT_EQ(frames[1].payload, payload);
  }
  {  // a client masks its frames: they are built in the output buffer
    Connection c(options_for(Role::client));
    FakeTransport transport(SIZE_MAX);
    EXPECT_EQ(c.send_direct(MessageKind::text, as_bytes(payload), {}, transport), SendResult::ok);
    EXPECT_EQ(transport.calls, 0);
    const auto frames = parse_frames(drain(c));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_TRUE(frames[0].masked);
  }
  {  // compressed: goes through the compressor; uncompressed on request: direct
    ConnectionOptions options = options_for(Role::server);
    options.deflate = DeflateParams{};
    Connection c(options);
    FakeTransport transport(SIZE_MAX);
    EXPECT_EQ(c.send_direct(MessageKind::binary, as_bytes(payload), {}, transport), SendResult::ok);
    EXPECT_EQ(transport.calls, 0);
    const auto frames = parse_frames(drain(c));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_TRUE(frames[0].rsv1);
    EXPECT_EQ(c.send_direct(MessageKind::binary, as_bytes(payload), {.compress = false}, transport),
              SendResult::ok);
    EXPECT_EQ(transport.calls, 1);
    EXPECT_EQ(transport.written, queued_frame(payload));
  }
}

TEST(ConnectionSendDirect, RefusedLikeSend) {
  FakeTransport transport(SIZE_MAX);
  Connection c(options_for(Role::server));
  c.send_fragment(MessageKind::text, as_bytes("a"), false);
  EXPECT_EQ(c.send_direct(MessageKind::text, as_bytes("b"), {}, transport), SendResult::invalid);
  c.send_fragment(MessageKind::text, as_bytes("c"), true);
  c.close();
  EXPECT_EQ(c.send_direct(MessageKind::text, as_bytes("d"), {}, transport), SendResult::closed);
  EXPECT_EQ(transport.calls, 0);
}

TEST(ConnectionSendDirect, FrameObserverSeesTheDirectFrame) {
  FrameLog log;
  ConnectionOptions options = options_for(Role::server);
  options.frame_observer = &log;
  Connection c(options);
  FakeTransport transport(3);
  c.send_direct(MessageKind::binary, as_bytes("direct"), {}, transport);
  ASSERT_EQ(log.frames.size(), 1u);
  EXPECT_TRUE(log.frames[0].outgoing);
  EXPECT_EQ(log.frames[0].header.opcode, Opcode::binary);
  EXPECT_EQ(log.frames[0].payload, "direct");
}

// ---------------------------------------------------------------- what the server's metrics read

class WireSizeRecorder : public EventHandler {
 public:
  void on_event(const Event& event) override {
    compressed.push_back(event.compressed);
    wire_sizes.push_back(event.wire_size);
  }
  std::vector<bool> compressed;
  std::vector<std::uint64_t> wire_sizes;
};

TEST(ConnectionMetricsInputs, MessagesSayWhetherTheyCameCompressedAndTheirWireSize) {
  Connection c({.role = Role::client, .deflate = DeflateParams{}});
  WireSizeRecorder r;
  Bytes bytes = concat({{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00},  // "Hello"
                        make_frame(0x1, "plain", {.masked = false})});
  c.receive(bytes, r);
  EXPECT_EQ(r.compressed, (std::vector<bool>{true, false}));
  EXPECT_EQ(r.wire_sizes, (std::vector<std::uint64_t>{7, 5}));
}

TEST(ConnectionMetricsInputs, AFragmentedCompressedMessageGivesItsWireSizeWithTheLastPiece) {
  Connection c({.role = Role::client, .deliver_fragments = true, .deflate = DeflateParams{}});
  WireSizeRecorder r;
  Bytes bytes{0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00};  // RFC 7692
  c.receive(bytes, r);
  ASSERT_FALSE(r.wire_sizes.empty());
  EXPECT_EQ(r.wire_sizes.back(), 7u);
  for (std::size_t i = 0; i + 1 < r.wire_sizes.size(); ++i) EXPECT_EQ(r.wire_sizes[i], 0u);
  for (const bool compressed : r.compressed) EXPECT_TRUE(compressed);
}

TEST(ConnectionMetricsInputs, SentCloseCodeIsTheCodeOfOurCloseFrameWhoeverCausedIt) {
  Connection ours(options_for(Role::server));
  EXPECT_EQ(ours.sent_close_code(), 0);
  ASSERT_EQ(ours.close(4001), SendResult::ok);
  EXPECT_EQ(ours.sent_close_code(), 4001);

  Connection echoing(options_for(Role::server));  // the peer's close, answered
  feed(echoing, make_frame(0x8, close_payload(1001), {.masked = true}));
  EXPECT_EQ(echoing.sent_close_code(), 1001);

  Connection failing(options_for(Role::server));  // an unmasked frame from a client: 1002
  feed(failing, make_frame(0x1, "x", {.masked = false}));
  EXPECT_EQ(failing.sent_close_code(), 1002);
}

TEST(ConnectionMetricsInputs, DeflateTotalsCountWhatOurCompressorTookAndGave) {
  Connection c({.deflate = DeflateParams{}});
  EXPECT_EQ(c.deflate_totals().plain, 0u);
  ASSERT_EQ(c.send_text(std::string(1000, 'a')), SendResult::ok);
  const std::vector<WireFrame> frames = parse_frames(drain(c));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].rsv1);
  EXPECT_EQ(c.deflate_totals().plain, 1000u);
  EXPECT_EQ(c.deflate_totals().compressed, frames[0].payload.size());
  ASSERT_EQ(c.send_text("b", {.compress = false}), SendResult::ok);  // not through it
  EXPECT_EQ(c.deflate_totals().plain, 1000u);
}

// ---------------------------------------------------------------- what a finished connection holds

// The first 100 KB of a message that never ends: the connection assembles them.
constexpr std::size_t held_size = 100 * 1000;

Bytes unfinished_message(Role receiver) {
  return peer_frame(receiver, 0x2, std::string(held_size, 'h'), {.fin = false});
}

TEST_P(ConnectionBothRoles, APeerErrorReleasesTheMessageBeingAssembled) {
  Connection c = make();
  EXPECT_TRUE(feed(c, unfinished_message(role())).empty());
  ASSERT_EQ(c.assembling_amount(), held_size);
  expect_failed(c, feed(c, frame(0x1, "not a continuation")), ProtocolError::expected_continuation,
                1002);
  EXPECT_EQ(c.assembling_amount(), 0u);
}

TEST_P(ConnectionBothRoles, APeerCloseReleasesTheMessageBeingAssembled) {
  Connection c = make();
  feed(c, unfinished_message(role()));
  ASSERT_EQ(c.assembling_amount(), held_size);
  feed(c, frame(0x8, close_payload(1000)));
  EXPECT_EQ(c.state(), ConnectionState::closed);
  EXPECT_EQ(c.assembling_amount(), 0u);
}

TEST_P(ConnectionBothRoles, FailingLocallyReleasesTheMessageBeingAssembled) {
  Connection c = make();
  feed(c, unfinished_message(role()));
  ASSERT_EQ(c.assembling_amount(), held_size);
  ASSERT_EQ(c.fail(1011), SendResult::ok);
  EXPECT_EQ(c.assembling_amount(), 0u);
}

// Failed from inside a callback of the receive() that holds the message: released when that
// receive() returns (not under it: sanitizers would see a use after free).
TEST_P(ConnectionBothRoles, FailingFromACallbackReleasesOnceReceiveReturns) {
  Connection c = make();
  struct FailOnPing : EventHandler {
    explicit FailOnPing(Connection& connection) : c(connection) {}
    void on_event(const Event& event) override {
      if (event.kind != EventKind::ping) return;
      held_during_callback = c.assembling_amount();
      c.fail(1011);
    }
    Connection& c;
    std::size_t held_during_callback = 0;
  } handler(c);
  Bytes input = concat({unfinished_message(role()), frame(0x9, "p")});
  c.receive(input, handler);
  EXPECT_EQ(handler.held_during_callback, held_size);
  EXPECT_EQ(c.state(), ConnectionState::failed);
  EXPECT_EQ(c.assembling_amount(), 0u);
}

// A server writes frames of up to 125 payload bytes without the general encoder (a shortcut
// taken without a frame observer): every such frame, data or control, compressed or not, must
// be the bytes the general path writes (taken with an observer) and the RFC's encoding.
TEST(ConnectionSending, ShortServerFramesAreTheGeneralEncodersBytes) {
  class Silent : public FrameObserver {
    void on_frame(bool, const FrameHeader&, std::span<const std::uint8_t>) override {}
  } silent;
  for (const bool deflate : {false, true}) {
    ConnectionOptions options = options_for(Role::server);
    if (deflate) options.deflate = DeflateParams{};
    options.deflate_tuning.threshold = 0;  // every message compressed when negotiated
    Connection shortcut(options);
    options.frame_observer = &silent;
    Connection general(options);
    for (std::size_t size = 0; size <= 130; ++size) {
      SCOPED_TRACE(testing::Message() << "deflate " << deflate << ", size " << size);
      const std::string payload = pattern(size, static_cast<std::uint32_t>(size) + 7);
      const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), size);
      for (Connection* c : {&shortcut, &general}) {
        ASSERT_EQ(c->send(MessageKind::text, bytes), SendResult::ok);
        ASSERT_EQ(c->send(MessageKind::binary, bytes, {.compress = false}), SendResult::ok);
        ASSERT_EQ(c->send_fragment(MessageKind::binary, bytes, false), SendResult::ok);
        ASSERT_EQ(c->send_fragment(MessageKind::binary, bytes, true), SendResult::ok);
        if (size <= max_control_payload) {
          ASSERT_EQ(c->ping(bytes), SendResult::ok);
          ASSERT_EQ(c->pong(bytes), SendResult::ok);
        }
      }
      const Bytes written = drain(shortcut);
      EXPECT_EQ(written, drain(general));
      if (!deflate) {
        Bytes expected =
            concat({make_frame(0x1, payload), make_frame(0x2, payload),
                    make_frame(0x2, payload, {.fin = false}), make_frame(0x0, payload)});
        if (size <= max_control_payload) {
          expected = concat({expected, make_frame(0x9, payload), make_frame(0xA, payload)});
        }
        EXPECT_EQ(written, expected);
      }
    }
    ASSERT_EQ(shortcut.close(1000, "bye"), SendResult::ok);
    ASSERT_EQ(general.close(1000, "bye"), SendResult::ok);
    EXPECT_EQ(drain(shortcut), drain(general));
  }
}

// Feeds the bytes in pieces to a handler that acts on about one message in five.
std::vector<test::SeenEvent> feed_acting(Connection& c, const Bytes& bytes, std::size_t piece,
                                         std::uint32_t seed) {
  test::ActingRecorder r(c, seed, {.step = 7919, .period = 29, .sends = 3});
  for (std::size_t pos = 0; pos < bytes.size(); pos += piece) {
    Bytes part(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
               bytes.begin() + static_cast<std::ptrdiff_t>(std::min(bytes.size(), pos + piece)));
    c.receive(part, r);
  }
  return r.seen;
}

// A server reads whole small single-frame messages without the general frame reader (a
// shortcut taken without a frame observer, which keeps less state). Random streams of such
// frames, mixed with everything the shortcut must leave alone (fragments, control frames, longer
// frames, invalid UTF-8, unmasked frames, RSV bits, reserved opcodes), delivered in random
// pieces, to a handler that sometimes sends, closes or fails from inside the callback, must
// give the same events (every field), the same view of the connection from the handler, output
// and state as the general path (taken with an observer).
TEST(ConnectionReceiving, ShortMessagesReadInOneGoActAsTheGeneralPath) {
  class Silent : public FrameObserver {
    void on_frame(bool, const FrameHeader&, std::span<const std::uint8_t>) override {}
  } silent;
  std::mt19937 random(1234);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  std::size_t shortcut_messages = 0;
  for (int round = 0; round < 400; ++round) {
    SCOPED_TRACE(testing::Message() << "round " << round);
    Bytes wire;
    for (std::size_t frames = 1 + pick(12); frames > 0; --frames) {
      FrameSpec spec;
      spec.masked = pick(40) != 0;
      spec.key = {static_cast<std::uint8_t>(random()), static_cast<std::uint8_t>(random()),
                  static_cast<std::uint8_t>(random()), static_cast<std::uint8_t>(random())};
      const std::size_t kind = pick(20);
      std::size_t size = pick(4) == 0 ? pick(300) : pick(40);
      if (kind >= 16) size = std::min<std::size_t>(size, 125);
      std::string payload = pattern(size, static_cast<std::uint32_t>(random()));
      if (pick(30) == 0 && size > 0) payload[pick(size)] = '\xff';  // invalid UTF-8 in text
      std::uint8_t opcode = kind < 8 ? 0x1 : kind < 14 ? 0x2 : kind == 14 ? 0x0 : 0x9;
      if (kind == 15) opcode = 0x3;  // reserved
      if (kind >= 18) opcode = 0xA;
      spec.fin = pick(8) != 0 || opcode >= 0x8;
      spec.rsv1 = pick(50) == 0;
      spec.rsv2 = pick(80) == 0;
      const Bytes frame = make_frame(opcode, payload, spec);
      wire.insert(wire.end(), frame.begin(), frame.end());
    }
    ConnectionOptions options = options_for(Role::server);
    options.max_message_size = pick(5) == 0 ? pick(40) : 64 + pick(200);
    if (pick(4) == 0) options.free_fragments = pick(3);
    if (pick(4) == 0) options.min_fragment_average = pick(30);
    Connection shortcut(options);
    options.frame_observer = &silent;
    Connection general(options);
    const std::size_t piece = pick(3) == 0 ? 1 + pick(20) : wire.size();
    const auto seed = static_cast<std::uint32_t>(random());
    EXPECT_EQ(feed_acting(shortcut, wire, piece, seed), feed_acting(general, wire, piece, seed));
    EXPECT_EQ(drain(shortcut), drain(general));
    EXPECT_EQ(shortcut.state(), general.state());
    EXPECT_EQ(shortcut.assembling_amount(), general.assembling_amount());
    shortcut_messages += detail::ConnectionInternals::short_messages_read(shortcut);
    EXPECT_EQ(detail::ConnectionInternals::short_messages_read(general), 0u);
  }
  // The comparison above proves something only if the shortcut ran (287 of its messages).
  EXPECT_GT(shortcut_messages, 100u);
}

// The differential test above shows that the shortcut changes nothing; this one that it is
// taken, and only where it may be: a change that disabled it, or let it read a frame it must
// leave to the general path, fails here. Every case delivers its messages either way.
TEST(ConnectionReceiving, ShortMessagesTakeTheShortcutOnlyWhereAllowed) {
  class Silent : public FrameObserver {
    void on_frame(bool, const FrameHeader&, std::span<const std::uint8_t>) override {}
  } silent;
  struct Outcome {
    std::size_t messages = 0;  // message and final fragment events
    std::size_t shortcut = 0;  // of them read by read_short_messages
    ConnectionState state = ConnectionState::open;
  };
  const auto receive = [](const ConnectionOptions& options, const Bytes& wire, std::size_t piece) {
    Connection c(options);
    Outcome outcome;
    for (const Recorded& event : feed_in_pieces(c, wire, piece)) {
      if (event.kind == EventKind::message || (event.kind == EventKind::fragment && event.last)) {
        ++outcome.messages;
      }
    }
    outcome.shortcut = detail::ConnectionInternals::short_messages_read(c);
    outcome.state = c.state();
    return outcome;
  };
  const auto masked = [](std::uint8_t opcode, std::string_view payload, FrameSpec spec = {}) {
    spec.masked = true;
    return make_frame(opcode, payload, spec);
  };
  const ConnectionOptions server = options_for(Role::server);
  // Four short messages, the longest a 7-bit length allows among them.
  const Bytes short_messages = concat(
      {masked(0x1, "hi"), masked(0x2, "yo"), masked(0x1, ""), masked(0x1, std::string(125, 's'))});
  const std::size_t whole = short_messages.size();

  Outcome o = receive(server, short_messages, whole);
  EXPECT_EQ(o.messages, 4u);
  EXPECT_EQ(o.shortcut, 4u);

  {
    SCOPED_TRACE("a frame observer sees every frame: general path");
    ConnectionOptions observed = server;
    observed.frame_observer = &silent;
    o = receive(observed, short_messages, whole);
    EXPECT_EQ(o.messages, 4u);
    EXPECT_EQ(o.shortcut, 0u);
  }
  {
    SCOPED_TRACE("deliver_fragments: general path");
    ConnectionOptions pieces = server;
    pieces.deliver_fragments = true;
    o = receive(pieces, short_messages, whole);
    EXPECT_EQ(o.messages, 4u);
    EXPECT_EQ(o.shortcut, 0u);
  }
  {
    SCOPED_TRACE("headers split across receive() calls: general path");
    o = receive(server, short_messages, 3);
    EXPECT_EQ(o.messages, 4u);
    EXPECT_EQ(o.shortcut, 0u);
  }
  {
    SCOPED_TRACE("a client (unmasked frames): general path");
    o = receive(options_for(Role::client),
                concat({make_frame(0x1, "hi"), make_frame(0x2, "yo"), make_frame(0x1, "")}), whole);
    EXPECT_EQ(o.messages, 3u);
    EXPECT_EQ(o.shortcut, 0u);
  }
  {
    SCOPED_TRACE("16-bit and 64-bit lengths: general path");
    const Bytes long_messages =
        concat({masked(0x1, std::string(126, 'l')), masked(0x2, std::string(70000, 'L'))});
    o = receive(server, long_messages, long_messages.size());
    EXPECT_EQ(o.messages, 2u);
    EXPECT_EQ(o.shortcut, 0u);
  }
  {
    SCOPED_TRACE("a fragmented message: general path; the short message after it: shortcut");
    o = receive(
        server,
        concat({masked(0x1, "frag", {.fin = false}), masked(0x0, "ment"), masked(0x1, "after")}),
        whole);
    EXPECT_EQ(o.messages, 2u);
    EXPECT_EQ(o.shortcut, 1u);
  }
  {
    SCOPED_TRACE("a new message inside a fragmented one: the general path fails it");
    o = receive(server, concat({masked(0x1, "frag", {.fin = false}), masked(0x1, "new")}), whole);
    EXPECT_EQ(o.messages, 0u);
    EXPECT_EQ(o.shortcut, 0u);
    EXPECT_EQ(o.state, ConnectionState::failed);
  }
  {
    SCOPED_TRACE("RSV1, a compressed message: general path");
    ConnectionOptions deflate = server;
    deflate.deflate = DeflateParams{};
    deflate.deflate_tuning.threshold = 0;
    ConnectionOptions client = options_for(Role::client);
    client.deflate = DeflateParams{};
    client.deflate_tuning.threshold = 0;
    Connection sender(client);
    ASSERT_EQ(sender.send_text("compressed"), SendResult::ok);
    const Bytes compressed = drain(sender);
    ASSERT_EQ(compressed[0], 0xC1);  // FIN, RSV1, text
    o = receive(deflate, compressed, whole);
    EXPECT_EQ(o.messages, 1u);
    EXPECT_EQ(o.shortcut, 0u);
  }
  for (const FrameSpec rsv : {FrameSpec{.rsv2 = true}, FrameSpec{.rsv3 = true}}) {
    SCOPED_TRACE("RSV2 or RSV3, no extension defines them: the general path fails it");
    o = receive(server, concat({masked(0x1, "bad", rsv), masked(0x1, "hi")}), whole);
    EXPECT_EQ(o.messages, 0u);
    EXPECT_EQ(o.shortcut, 0u);
    EXPECT_EQ(o.state, ConnectionState::failed);
  }
}

}  // namespace
}  // namespace wsx::proto
