// Streaming receive (Behavior::fragment): a message far larger than anything the server may hold
// goes through in pieces, in constant memory, intact. Memory is measured where it cannot lie:
// this test binary counts every byte allocated through operator new (what std::vector, the
// library's buffers and the pieces use) and records the peak, so a message held whole anywhere
// would show as a peak the size of the message.
#include <gtest/gtest.h>
#include <malloc.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/io/stream.hpp"
#include "wsx/proto/frame.hpp"
#include "wsx/proto/mask.hpp"
#include "wsx/server.hpp"

namespace {
std::atomic<std::size_t> live_bytes{0};
std::atomic<std::size_t> peak_bytes{0};

void count_allocation(void* p) {
  const std::size_t now = live_bytes += malloc_usable_size(p);
  std::size_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
}
}  // namespace

void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  count_allocation(p);
  return p;
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes -= malloc_usable_size(p);
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  operator delete(p);
}

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RecordedEvent;
using test::RunningServer;

constexpr std::size_t mib = 1024 * 1024;

// What the route saw of one message, from the server thread.
struct Upload {
  std::mutex mutex;
  std::uint32_t crc = static_cast<std::uint32_t>(::crc32(0, nullptr, 0));
  std::size_t bytes = 0;
  std::size_t pieces = 0;
  std::size_t largest_piece = 0;
  int firsts = 0;
  int messages = 0;
  MessageKind kind = MessageKind::binary;
  std::condition_variable closed;
  std::vector<std::uint16_t> close_codes;

  bool wait_closes(std::size_t count) {
    std::unique_lock lock(mutex);
    return closed.wait_for(lock, 10s, [&] { return close_codes.size() >= count; });
  }
};

Behavior streaming_route(Upload& upload, std::size_t max_message_size) {
  Behavior behavior;
  behavior.max_message_size = max_message_size;
  behavior.deflate = proto::DeflateServerOptions{};
  behavior.message = [&upload](WebSocket&, Message) {
    std::lock_guard lock(upload.mutex);
    ++upload.messages;  // must never happen: `fragment` is set
  };
  behavior.fragment = [&upload](WebSocket& ws, Fragment piece) {
    std::string answer;
    {
      std::lock_guard lock(upload.mutex);
      upload.crc = static_cast<std::uint32_t>(
          ::crc32(upload.crc, piece.data.data(), static_cast<uInt>(piece.data.size())));
      upload.bytes += piece.data.size();
      ++upload.pieces;
      upload.largest_piece = std::max(upload.largest_piece, piece.data.size());
      upload.firsts += piece.first;
      upload.kind = piece.kind;
      if (piece.fin) answer = std::to_string(upload.bytes) + " " + std::to_string(upload.crc);
    }
    if (piece.fin) ws.send(answer);
  };
  behavior.close = [&upload](WebSocket&, const CloseInfo& info) {
    std::lock_guard lock(upload.mutex);
    upload.close_codes.push_back(info.code);
    upload.closed.notify_all();
  };
  return behavior;
}

// Sends one unfragmented binary message of `size` bytes as a single frame, masked by hand and
// written 1 MiB at a time, so the sender holds no more than that either. Returns its CRC-32.
std::uint32_t send_one_huge_frame(RawWsClient& client, std::uint64_t size) {
  proto::FrameHeader header;
  header.fin = true;
  header.opcode = proto::Opcode::binary;
  header.masked = true;
  header.mask_key = {0x12, 0x34, 0x56, 0x78};
  header.payload_length = size;
  std::uint8_t encoded[proto::max_frame_header_size];
  const std::size_t header_size = proto::encode_frame_header(header, encoded);
  EXPECT_TRUE(client.write_all(std::span<const std::uint8_t>(encoded, header_size)));

  std::vector<std::uint8_t> block(mib);
  std::mt19937 rng(7);
  for (std::uint8_t& byte : block) byte = static_cast<std::uint8_t>(rng());
  std::vector<std::uint8_t> wire(mib);
  std::uint32_t crc = static_cast<std::uint32_t>(::crc32(0, nullptr, 0));
  std::uint8_t mask_offset = 0;
  for (std::uint64_t sent = 0, index = 0; sent < size; ++index) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(mib, size - sent));
    block[index % mib] ^= 0x5a;  // every mebibyte differs from the one before
    crc = static_cast<std::uint32_t>(::crc32(crc, block.data(), static_cast<uInt>(n)));
    std::copy(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(n), wire.begin());
    mask_offset =
        static_cast<std::uint8_t>(proto::apply_mask(wire.data(), n, header.mask_key, mask_offset));
    if (!client.write_all(std::span<const std::uint8_t>(wire.data(), n))) {
      ADD_FAILURE() << "write failed after " << sent << " bytes";
      break;
    }
    sent += n;
  }
  return crc;
}

void expect_answer(RawWsClient& client, std::uint64_t size, std::uint32_t crc) {
  std::optional<RecordedEvent> answer = client.next_message(60s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->text(), std::to_string(size) + " " + std::to_string(crc));
}

TEST(StreamingReceive, OneGibibyteInOneFrameGoesThroughInConstantMemory) {
  constexpr std::uint64_t size = 1024 * mib;
  Upload upload;
  Server server({.threads = 1});
  server.route("/upload", streaming_route(upload, 2 * size));
  RunningServer running(server);
  RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake({}, "/upload"));

  const std::size_t baseline = live_bytes.load();
  peak_bytes = baseline;
  const std::uint32_t crc = send_one_huge_frame(client, size);
  expect_answer(client, size, crc);
  const std::size_t peak = peak_bytes.load();

  std::lock_guard lock(upload.mutex);
  EXPECT_EQ(upload.bytes, size);
  EXPECT_EQ(upload.crc, crc);
  EXPECT_EQ(upload.messages, 0);
  EXPECT_EQ(upload.firsts, 1);
  EXPECT_EQ(upload.kind, MessageKind::binary);
  // Pieces follow the reads (the stream's 256 KiB buffer), not the frame.
  EXPECT_LE(upload.largest_piece, io::Stream::read_buffer_size);
  EXPECT_GT(upload.pieces, size / io::Stream::read_buffer_size);
  // Nothing grew with the message: the sender's and the server's buffers stay a few MiB.
  EXPECT_LT(peak - baseline, 8 * mib) << "peak above baseline: " << peak - baseline;
}

// A compressed text message in fragments: inflated in pieces, UTF-8 checked across them (the
// characters here are 1 to 4 bytes long, so pieces end inside characters), constant memory.
TEST(StreamingReceive, CompressedFragmentedTextIsInflatedAndValidatedPieceByPiece) {
  constexpr std::size_t size = 128 * mib;
  Upload upload;
  Server server({.threads = 1});
  server.route("/upload", streaming_route(upload, size));
  RunningServer running(server);
  RawWsClient client(running.port());
  proto::ClientRequestOptions request;
  request.deflate = proto::DeflateClientOptions{};
  ASSERT_TRUE(client.handshake(request, "/upload"));
  ASSERT_TRUE(client.handshake_result().deflate);

  const std::string unit = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x82\xAC \xF0\x9F\x98\x80 ";
  std::string chunk;
  while (chunk.size() + unit.size() <= mib) chunk += unit;  // whole characters
  const std::size_t base = live_bytes.load();
  peak_bytes = base;
  std::uint32_t crc = static_cast<std::uint32_t>(::crc32(0, nullptr, 0));
  std::size_t sent = 0;
  const auto bytes = [](std::string_view text) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                         text.size());
  };
  while (sent + chunk.size() <= size) {
    const bool fin = sent + 2 * chunk.size() > size;
    crc = static_cast<std::uint32_t>(
        ::crc32(crc, bytes(chunk).data(), static_cast<uInt>(chunk.size())));
    ASSERT_TRUE(client.send_fragment(bytes(chunk), proto::MessageKind::text, fin));
    sent += chunk.size();
  }
  expect_answer(client, sent, crc);
  const std::size_t peak = peak_bytes.load();

  std::lock_guard lock(upload.mutex);
  EXPECT_EQ(upload.kind, MessageKind::text);
  EXPECT_EQ(upload.firsts, 1);
  EXPECT_EQ(upload.messages, 0);
  EXPECT_LE(upload.largest_piece, 2 * proto::MessageInflater::max_output_step);
  EXPECT_LT(peak - base, 16 * mib) << "peak above baseline: " << peak - base;
}

// The limit still counts the whole message, and invalid UTF-8 still ends it with 1007.
TEST(StreamingReceive, LimitAndUtf8StillApply) {
  Upload upload;
  Server server({.threads = 1});
  server.route("/upload", streaming_route(upload, 3 * mib));
  RunningServer running(server);

  // Two fragments of 2 MiB: each under the limit, together over it. (Seen on the server: the
  // client may be cut off while it still writes.)
  RawWsClient too_big(running.port());
  ASSERT_TRUE(too_big.handshake({}, "/upload"));
  const std::vector<std::uint8_t> half(2 * mib, 1);
  ASSERT_TRUE(too_big.send_fragment(half, proto::MessageKind::binary, false));
  too_big.send_fragment(half, proto::MessageKind::binary, true);
  ASSERT_TRUE(upload.wait_closes(1));
  {
    std::lock_guard lock(upload.mutex);
    EXPECT_EQ(upload.close_codes[0], 1009);
    EXPECT_EQ(upload.bytes, 2 * mib);  // the first fragment was delivered
  }

  RawWsClient invalid(running.port());
  ASSERT_TRUE(invalid.handshake({}, "/upload"));
  const std::string start = "caf\xC3";  // a character cut between two fragments ...
  const std::string rest = "\x28 ok";   // ... and not continued: not UTF-8
  ASSERT_TRUE(
      invalid.send_fragment(std::span<const std::uint8_t>(
                                reinterpret_cast<const std::uint8_t*>(start.data()), start.size()),
                            proto::MessageKind::text, false));
  ASSERT_TRUE(
      invalid.send_fragment(std::span<const std::uint8_t>(
                                reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size()),
                            proto::MessageKind::text, true));
  std::optional<RecordedEvent> closed = invalid.next_event(10s);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->kind, proto::EventKind::close);
  EXPECT_EQ(closed->close_code, 1007);
}

}  // namespace
}  // namespace wsx
