// A Connection's output buffer: frames are written over the bytes of frames already sent (not
// zeroed again), consumed bytes are dropped in place, large frames are appended, what a direct
// write leaves is queued. Whatever the order of sends and partial consumes, what the transport
// pulls must be exactly the frames in order, and buffered_amount() exactly what is left.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "wsx/proto/connection.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::proto {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The frame a server sends for `payload`, from the public encoder.
Bytes server_frame(Opcode opcode, std::span<const std::uint8_t> payload) {
  FrameHeader header;
  header.opcode = opcode;
  header.payload_length = payload.size();
  Bytes frame(max_frame_header_size);
  frame.resize(encode_frame_header(header, frame.data()));
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

// Takes up to `limit` bytes of what it is offered.
class PartialTransport final : public DirectOutput {
 public:
  std::size_t write_now(std::span<const std::uint8_t> header,
                        std::span<const std::uint8_t> payload) override {
    std::size_t taken = 0;
    for (const auto part : {header, payload}) {
      const std::size_t n = std::min(part.size(), limit - taken);
      written.insert(written.end(), part.begin(), part.begin() + static_cast<std::ptrdiff_t>(n));
      taken += n;
    }
    return taken;
  }
  std::size_t limit = 0;
  Bytes written;
};

class Silent final : public FrameObserver {
  void on_frame(bool, const FrameHeader&, std::span<const std::uint8_t>) override {}
};

// The sizes that take each path: short frames (written in place), 16- and 64-bit lengths
// (appended), one that takes pooled storage into an empty buffer.
std::size_t random_size(std::mt19937& random) {
  switch (random() % 8) {
    case 0:
      return 126 + random() % 300;
    case 1:
      return 20000 + random() % 50000;
    case 2:
      return random() % 2 == 0 ? 0 : 125;
    default:
      return random() % 126;
  }
}

// Random sends, pings and direct sends, with random partial consumes between them, on a server
// (short frames in place) and on one with an observer (every frame through the general
// encoder): both pull exactly the expected bytes, with buffered_amount() what is left.
TEST(ConnectionOutput, FramesOverSentBytesAreExactlyTheFramesInOrder) {
  std::mt19937 random(2026);
  Silent silent;
  ConnectionOptions shortcut_options;
  ConnectionOptions general_options;
  general_options.frame_observer = &silent;
  Connection shortcut(shortcut_options);
  Connection general(general_options);
  Bytes expected;          // every byte queued so far, in order
  std::size_t pulled = 0;  // of `expected`, the bytes consumed
  Bytes pulled_shortcut;
  Bytes pulled_general;
  for (int step = 0; step < 3000; ++step) {
    SCOPED_TRACE(testing::Message() << "step " << step);
    const std::size_t size = random_size(random);
    Bytes payload(size);
    for (std::uint8_t& byte : payload) byte = static_cast<std::uint8_t>(random());
    const unsigned action = random() % 6;
    if (action == 0 && size <= max_control_payload) {
      ASSERT_EQ(shortcut.ping(payload), SendResult::ok);
      ASSERT_EQ(general.ping(payload), SendResult::ok);
      const Bytes frame = server_frame(Opcode::ping, payload);
      expected.insert(expected.end(), frame.begin(), frame.end());
    } else if (action == 1 && shortcut.buffered_amount() == 0) {
      // Nothing queued: offered to the transport first, the rest queued.
      const Bytes frame = server_frame(Opcode::binary, payload);
      PartialTransport transport;
      transport.limit = random() % (frame.size() + 1);
      ASSERT_EQ(shortcut.send_direct(MessageKind::binary, payload, {}, transport), SendResult::ok);
      PartialTransport general_transport;
      general_transport.limit = transport.limit;
      ASSERT_EQ(general.send_direct(MessageKind::binary, payload, {}, general_transport),
                SendResult::ok);
      // What the transport took counts as pulled.
      expected.insert(expected.end(), frame.begin(), frame.end());
      pulled_shortcut.insert(pulled_shortcut.end(), transport.written.begin(),
                             transport.written.end());
      pulled_general.insert(pulled_general.end(), general_transport.written.begin(),
                            general_transport.written.end());
      pulled += transport.written.size();
    } else {
      const MessageKind kind = random() % 2 == 0 ? MessageKind::text : MessageKind::binary;
      ASSERT_EQ(shortcut.send(kind, payload), SendResult::ok);
      ASSERT_EQ(general.send(kind, payload), SendResult::ok);
      const Bytes frame =
          server_frame(kind == MessageKind::text ? Opcode::text : Opcode::binary, payload);
      expected.insert(expected.end(), frame.begin(), frame.end());
    }
    ASSERT_EQ(shortcut.buffered_amount(), expected.size() - pulled);
    ASSERT_EQ(general.buffered_amount(), expected.size() - pulled);
    // Consume all, none, or part (consumed bytes are dropped in place once they are half).
    const std::size_t pending = expected.size() - pulled;
    const unsigned how = random() % 4;
    const std::size_t n = how == 0 ? pending : how == 1 ? 0 : random() % (pending + 1);
    for (auto [c, out] : {std::pair{&shortcut, &pulled_shortcut}, {&general, &pulled_general}}) {
      const std::span<const std::uint8_t> output = c->pending_output();
      ASSERT_EQ(output.size(), pending);
      out->insert(out->end(), output.begin(), output.begin() + static_cast<std::ptrdiff_t>(n));
      c->consume_output(n);
    }
    pulled += n;
    ASSERT_EQ(shortcut.buffered_amount(), expected.size() - pulled);
  }
  for (auto [c, out] : {std::pair{&shortcut, &pulled_shortcut}, {&general, &pulled_general}}) {
    const std::span<const std::uint8_t> output = c->pending_output();
    out->insert(out->end(), output.begin(), output.end());
    c->consume_output(output.size());
    EXPECT_EQ(c->buffered_amount(), 0u);
  }
  EXPECT_TRUE(pulled_shortcut == expected);
  EXPECT_TRUE(pulled_general == expected);
}

// consume_output() never takes more than is queued, and a connection whose output was all
// consumed starts its next frame at the beginning again.
TEST(ConnectionOutput, ConsumingMoreThanQueuedTakesWhatIsQueued) {
  Connection c{ConnectionOptions{}};
  const Bytes first{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ASSERT_EQ(c.send(MessageKind::binary, first), SendResult::ok);
  c.consume_output(5);
  EXPECT_EQ(c.buffered_amount(), 7u);
  c.consume_output(100);
  EXPECT_EQ(c.buffered_amount(), 0u);
  EXPECT_TRUE(c.pending_output().empty());
  const Bytes second{42};
  ASSERT_EQ(c.send(MessageKind::text, second), SendResult::ok);
  const std::span<const std::uint8_t> output = c.pending_output();
  EXPECT_EQ(Bytes(output.begin(), output.end()), server_frame(Opcode::text, second));
}

}  // namespace
}  // namespace wsx::proto
