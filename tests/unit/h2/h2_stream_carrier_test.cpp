// A session on an HTTP/2 stream carrier whose connection is a stand-in (no nghttp2): the test
// plays nghttp2's part, pulling the session's output through the stream's window and growing
// that window by hand, and records what the stream's flow control tells the peer.
#include "h2/h2_stream_carrier.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "session/session.hpp"

namespace wsx::h2 {
namespace {

// The HTTP/2 connection under the stream: its window for the stream is what the test says, and
// it counts the bytes whose window it would reopen to the peer.
class StandInHost final : public H2StreamHost {
 public:
  explicit StandInHost(io::EventLoop& loop) : loop_(loop) {}
  io::EventLoop& loop() noexcept override { return loop_; }
  const io::TlsSession* tls() const noexcept override { return nullptr; }
  const std::string& remote_address() const noexcept override { return address_; }
  void resume(std::int32_t) override {}
  void consume(std::int32_t, std::size_t) override {}
  void hold(std::size_t) override {}
  // Held DATA the session took once it read again: the stream's window reopens to the peer.
  void consume_held(std::int32_t, std::size_t n) override {
    if (n > 0) ++reopenings;
  }
  std::int32_t send_window(std::int32_t) const override { return window; }
  void reset_stream(std::int32_t) override {}
  bool producing_output() const noexcept override { return producing; }

  std::int32_t window = 0;
  bool producing = false;  // the test plays nghttp2 packing frames (read() in its callback)
  int reopenings = 0;

 private:
  io::EventLoop& loop_;
  std::string address_ = "192.0.2.1:443";
};

class Owner final : public session::SessionOwner {
 public:
  void release(session::Session& session) noexcept override { delete &session; }
};

// A masked, empty ping from the client, as the stream's DATA.
constexpr std::array<std::uint8_t, 6> ping_frame = {0x89, 0x80, 0, 0, 0, 0};

// A peer that sends pings but reads our output one byte per WINDOW_UPDATE. Reading pauses once
// more than max_backpressure waits; it must resume only when the output is back to half of it
// (as it does when bytes are consumed), not at every byte the window lets out: each resume
// would hand the peer its stream window again (the held ping is taken, consume_held) for a few
// bytes of progress, and the next pong pauses it again.
TEST(H2StreamCarrier, ReadingPausedByBackpressureResumesAtHalfTheLimitNotAtEveryWindowUpdate) {
  constexpr std::size_t limit = 1000;
  io::EventLoop loop;
  StandInHost host(loop);
  Owner owner;
  session::SessionConfig config;
  config.options.max_backpressure = limit;
  config.options.idle_timeout = std::chrono::milliseconds(0);
  auto* session = new session::SessionOn<H2StreamCarrier>(config, owner, nullptr, host, 1);
  H2StreamCarrier& carrier = session->carrier();
  ASSERT_TRUE(session->start(io::Clock::duration::zero()));
  session->open({});
  EXPECT_EQ(session->send(std::string(3 * limit, 'x')), SendStatus::backpressure);
  ASSERT_GT(session->buffered_amount(), limit);  // over the limit: reading paused

  std::array<std::uint8_t, ping_frame.size()> ping = ping_frame;
  carrier.received(ping);
  ASSERT_EQ(carrier.held_input_bytes(), ping.size());  // paused: the ping waits in the carrier

  int reopened_above_half = 0;
  std::size_t buffered_at_first_reopening = 0;
  for (std::size_t byte = 0; byte < 4 * limit && session->buffered_amount() > 0; ++byte) {
    const int before = host.reopenings;
    // nghttp2 pulls what the window allows (one byte): the window is used up.
    host.window = 1;
    std::uint8_t out = 0;
    ASSERT_EQ(carrier.read({&out, 1}).size, 1u);
    ASSERT_TRUE(carrier.write_blocked());
    carrier.window_grew();  // a WINDOW_UPDATE of one byte
    if (host.reopenings > before) {
      if (buffered_at_first_reopening == 0)
        buffered_at_first_reopening = session->buffered_amount();
      if (session->buffered_amount() > limit / 2 + 2) ++reopened_above_half;  // + its pong
    }
    // The peer sends another ping once the last one was taken, while the output is well over
    // half the limit: it waits if reading paused again.
    if (carrier.held_input_bytes() == 0 && session->buffered_amount() > limit / 2 + 100) {
      ping = ping_frame;
      carrier.received(ping);
    }
  }
  EXPECT_EQ(session->buffered_amount(), 0u);
  EXPECT_EQ(reopened_above_half, 0);
  EXPECT_EQ(host.reopenings, 1);  // one pause, one resume
  EXPECT_GT(buffered_at_first_reopening, 0u);
  EXPECT_LE(buffered_at_first_reopening, limit / 2 + 2);  // + the pong of the ping taken

  delete session;
}

// Held DATA whose pause ends inside read(): nghttp2's data-read callback, while it packs a DATA
// frame of this stream. The session gets the bytes from the loop once nghttp2 has returned, not
// there: they may run the application's callbacks, which may send, close, or terminate (and
// destroy the carrier under the callback; ServerHttp2Limits.HeldDataThatEndsTheWebSocketIs
// HandledOutsideNghttp2sCallbacks has that with a real nghttp2 peer).
TEST(H2StreamCarrier, ReadingThatResumesInsideNghttp2sDataReadCallbackTakesTheHeldDataOnTheLoop) {
  constexpr std::size_t limit = 1000;
  io::EventLoop loop;
  StandInHost host(loop);
  host.window = 1 << 20;
  Owner owner;
  session::SessionConfig config;
  config.options.max_backpressure = limit;
  config.options.idle_timeout = std::chrono::milliseconds(0);
  auto* session = new session::SessionOn<H2StreamCarrier>(config, owner, nullptr, host, 1);
  H2StreamCarrier& carrier = session->carrier();
  ASSERT_TRUE(session->start(io::Clock::duration::zero()));
  session->open({});
  EXPECT_EQ(session->send(std::string(3 * limit, 'x')), SendStatus::backpressure);
  std::array<std::uint8_t, ping_frame.size()> ping = ping_frame;
  carrier.received(ping);
  ASSERT_EQ(carrier.held_input_bytes(), ping.size());  // paused: the ping waits

  host.producing = true;
  std::array<std::uint8_t, 2600> out{};
  ASSERT_EQ(carrier.read(out).size, out.size());  // back under half the limit: reading resumes
  host.producing = false;
  EXPECT_EQ(carrier.held_input_bytes(), ping.size()) << "taken inside nghttp2's callback";
  EXPECT_EQ(host.reopenings, 0);
  const std::size_t rest = session->buffered_amount();

  loop.stop();
  loop.run();  // one iteration: the posted hand-over
  EXPECT_EQ(carrier.held_input_bytes(), 0u);
  EXPECT_EQ(host.reopenings, 1);                     // the stream's window reopens
  EXPECT_EQ(session->buffered_amount(), rest + 2u);  // and the ping is answered
  delete session;
}

// The hand-over is posted; a carrier destroyed before the loop runs it is not touched.
TEST(H2StreamCarrier, APostedHandOverOfHeldDataOutlivesItsCarrier) {
  constexpr std::size_t limit = 1000;
  io::EventLoop loop;
  StandInHost host(loop);
  host.window = 1 << 20;
  Owner owner;
  session::SessionConfig config;
  config.options.max_backpressure = limit;
  config.options.idle_timeout = std::chrono::milliseconds(0);
  auto* session = new session::SessionOn<H2StreamCarrier>(config, owner, nullptr, host, 1);
  H2StreamCarrier& carrier = session->carrier();
  ASSERT_TRUE(session->start(io::Clock::duration::zero()));
  session->open({});
  EXPECT_EQ(session->send(std::string(3 * limit, 'x')), SendStatus::backpressure);
  std::array<std::uint8_t, ping_frame.size()> ping = ping_frame;
  carrier.received(ping);
  host.producing = true;
  std::array<std::uint8_t, 2600> out{};
  ASSERT_EQ(carrier.read(out).size, out.size());
  host.producing = false;
  ASSERT_EQ(carrier.held_input_bytes(), ping.size());
  delete session;  // the stream closed before the loop came round
  loop.stop();
  loop.run();  // the posted hand-over finds no carrier (ASan: no use after free)
  EXPECT_EQ(host.reopenings, 0);
}

// The output nghttp2 pulls empties the queue: the drain callback runs inside read(), and one
// that terminates ends the session there, and its carrier with it (the owner deletes it at
// once). read() must not touch the carrier after handing the bytes over (ASan).
TEST(H2StreamCarrier, ADrainCallbackThatTerminatesInsideReadIsSafe) {
  constexpr std::size_t limit = 1000;
  io::EventLoop loop;
  StandInHost host(loop);
  host.window = 1 << 20;
  Owner owner;
  session::SessionConfig config;
  config.options.max_backpressure = limit;
  config.options.idle_timeout = std::chrono::milliseconds(0);
  int drains = 0;
  config.handlers.drain = [&](WebSocket& ws) {
    ++drains;
    ws.terminate();
  };
  auto* session = new session::SessionOn<H2StreamCarrier>(config, owner, nullptr, host, 1);
  H2StreamCarrier& carrier = session->carrier();
  ASSERT_TRUE(session->start(io::Clock::duration::zero()));
  session->open({});
  EXPECT_EQ(session->send(std::string(3 * limit, 'x')), SendStatus::backpressure);
  std::vector<std::uint8_t> out(session->buffered_amount());
  host.window = static_cast<std::int32_t>(out.size());  // the read fills the window exactly
  host.producing = true;
  EXPECT_EQ(carrier.read(out).size, out.size());  // the session, and the carrier, are gone
  host.producing = false;
  EXPECT_EQ(drains, 1);
}

}  // namespace
}  // namespace wsx::h2
