// A server Connection reads whole short single-frame messages with a shortcut (read_short_messages)
// that keeps less state than the general frame reader; a frame observer turns the shortcut off.
// Two connections, one with an observer, get the same frames in the same pieces, with a handler
// that sends, pings, closes or fails from inside the callback on the same messages: every event
// (all its fields), what the handler sees of the connection, the output and the final state must
// be the same.
//
// Input layout:
//   byte 0: options — bits 0-1 max_message_size (0, 20, 125, 16 MiB), bit 2 free_fragments 0,
//           bits 3-4 min_fragment_average (16, 0, 1, 40), bit 5 deflate negotiated
//   byte 1: the size of the pieces the frames are fed in (0: all at once)
//   byte 2: seed of the handler's actions
//   then frames, each from a selector byte s and what follows it:
//     s < 0xE0: a frame; s & 0x0F the opcode (0x3-0x7 and 0xB-0xF reserved), s & 0x10 no FIN,
//               s & 0x20 RSV1, s & 0x40 unmasked; then a length byte L (L < 126 as it is, else
//               126 + the next byte, as a 16-bit length), a mask key (4 bytes), L payload bytes
//     s >= 0xE0: the next (s - 0xDF) bytes as they are (broken or partial frames)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "acting_recorder.hpp"
#include "wsx/proto/connection.hpp"

namespace {

using namespace wsx::proto;

class Silent : public FrameObserver {
  void on_frame(bool, const FrameHeader&, std::span<const std::uint8_t>) override {}
};

std::vector<std::uint8_t> frames_from(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> wire;
  std::size_t pos = 0;
  auto next = [&]() -> std::uint8_t { return pos < size ? data[pos++] : 0; };
  while (pos < size) {
    const std::uint8_t s = next();
    if (s >= 0xE0) {
      for (std::size_t n = s - 0xDFu; n > 0 && pos < size; --n) wire.push_back(next());
      continue;
    }
    const bool masked = (s & 0x40) == 0;
    wire.push_back(
        static_cast<std::uint8_t>(((s & 0x10) ? 0 : 0x80) | ((s & 0x20) ? 0x40 : 0) | (s & 0x0F)));
    std::size_t length = next();
    if (length >= 126) length = 126 + next();
    const std::uint8_t mask_bit = masked ? 0x80 : 0;
    if (length < 126) {
      wire.push_back(static_cast<std::uint8_t>(mask_bit | length));
    } else {
      wire.push_back(mask_bit | 126);
      wire.push_back(static_cast<std::uint8_t>(length >> 8));
      wire.push_back(static_cast<std::uint8_t>(length));
    }
    std::uint8_t key[4] = {next(), next(), next(), next()};
    if (masked) wire.insert(wire.end(), key, key + 4);
    for (std::size_t i = 0; i < length; ++i) wire.push_back(next());
  }
  return wire;
}

std::vector<std::uint8_t> drain(Connection& c) {
  const auto out = c.pending_output();
  std::vector<std::uint8_t> bytes(out.begin(), out.end());
  c.consume_output(bytes.size());
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t bits = data[0];
  ConnectionOptions options;
  options.role = Role::server;
  const std::size_t max_sizes[] = {0, 20, 125, 16 * 1024 * 1024};
  options.max_message_size = max_sizes[bits & 3];
  if (bits & 0x04) options.free_fragments = 0;
  const std::size_t averages[] = {16, 0, 1, 40};
  options.min_fragment_average = averages[(bits >> 3) & 3];
  if (bits & 0x20) options.deflate = DeflateParams{};
  const std::size_t piece = data[1];
  const std::uint8_t seed = data[2];
  std::vector<std::uint8_t> wire = frames_from(data + 3, size - 3);
  if (wire.empty()) return 0;

  Silent silent;
  Connection shortcut(options);
  options.frame_observer = &silent;
  Connection general(options);
  // Acts on about one message in five.
  constexpr wsx::test::ActingSchedule schedule{.step = 7, .period = 23, .sends = 2};
  wsx::test::ActingRecorder shortcut_events(shortcut, seed, schedule);
  wsx::test::ActingRecorder general_events(general, seed, schedule);
  const std::size_t step = piece == 0 ? wire.size() : piece;
  for (std::size_t pos = 0; pos < wire.size(); pos += step) {
    const std::size_t n = std::min(step, wire.size() - pos);
    // Each gets its own copy: receive() unmasks in place.
    std::vector<std::uint8_t> a(wire.begin() + static_cast<std::ptrdiff_t>(pos),
                                wire.begin() + static_cast<std::ptrdiff_t>(pos + n));
    std::vector<std::uint8_t> b = a;
    shortcut.receive(a, shortcut_events);
    general.receive(b, general_events);
    if (shortcut_events.seen != general_events.seen || drain(shortcut) != drain(general)) {
      std::abort();
    }
  }
  if (shortcut.state() != general.state() ||
      shortcut.assembling_amount() != general.assembling_amount() ||
      shortcut.input_after_close() != general.input_after_close()) {
    std::abort();
  }
  return 0;
}
