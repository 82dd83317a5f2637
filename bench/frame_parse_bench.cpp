// Connection::receive on a long buffer of small frames: the per-frame cost of the receive path
// (header decode, role and sequence checks, unmasking, UTF-8, event delivery).
//
// Run from a Release build:  build-rel/bench/bench_frame_parse
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "wsx/proto/connection.hpp"

namespace {

using wsx::proto::Connection;
using wsx::proto::ConnectionOptions;
using wsx::proto::Event;
using wsx::proto::EventHandler;
using wsx::proto::Role;

constexpr std::size_t frames_per_buffer = 64 * 1024;

class CountingHandler : public EventHandler {
 public:
  void on_event(const Event& event) override {
    ++events;
    bytes += event.data.size();
  }
  std::size_t events = 0;
  std::size_t bytes = 0;
};

// `count` frames of `size` payload bytes, masked when they go to a server.
std::vector<std::uint8_t> make_stream(std::uint8_t opcode, std::size_t size, bool masked,
                                      std::size_t count) {
  std::vector<std::uint8_t> frame;
  frame.push_back(static_cast<std::uint8_t>(0x80 | opcode));
  frame.push_back(static_cast<std::uint8_t>((masked ? 0x80 : 0) | size));  // size < 126
  const std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) frame.insert(frame.end(), key, key + 4);
  for (std::size_t i = 0; i < size; ++i) {
    const auto plain = static_cast<std::uint8_t>('a' + i % 26);
    frame.push_back(masked ? static_cast<std::uint8_t>(plain ^ key[i % 4]) : plain);
  }
  std::vector<std::uint8_t> stream;
  stream.reserve(frame.size() * count);
  for (std::size_t i = 0; i < count; ++i) stream.insert(stream.end(), frame.begin(), frame.end());
  return stream;
}

// Feeds the stream in reads of `read_size` bytes (0: all at once). Receiving unmasks in place,
// so each iteration starts from a fresh copy, made outside the timed region.
void run(benchmark::State& state, Role role, std::uint8_t opcode, std::size_t payload_size,
         std::size_t read_size) {
  const std::vector<std::uint8_t> pristine =
      make_stream(opcode, payload_size, role == Role::server, frames_per_buffer);
  std::vector<std::uint8_t> work(pristine.size());
  ConnectionOptions options;
  options.role = role;
  Connection connection(options);
  CountingHandler handler;
  for (auto _ : state) {
    state.PauseTiming();
    std::memcpy(work.data(), pristine.data(), pristine.size());
    state.ResumeTiming();
    const std::size_t step = read_size == 0 ? work.size() : read_size;
    for (std::size_t pos = 0; pos < work.size(); pos += step) {
      connection.receive(std::span(work).subspan(pos, std::min(step, work.size() - pos)), handler);
    }
    benchmark::DoNotOptimize(handler.bytes);
  }
  if (handler.events != frames_per_buffer * static_cast<std::size_t>(state.iterations())) {
    state.SkipWithError("not every frame became a message");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(frames_per_buffer) * state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(pristine.size()) * state.iterations());
}

void BM_ServerText16(benchmark::State& state) {
  run(state, Role::server, 0x1, 16, 0);
}
void BM_ServerBinary125(benchmark::State& state) {
  run(state, Role::server, 0x2, 125, 0);
}
void BM_ServerText125(benchmark::State& state) {
  run(state, Role::server, 0x1, 125, 0);
}
// Reads the size of a TCP segment: headers and payloads split across reads.
void BM_ServerText16In1460ByteReads(benchmark::State& state) {
  run(state, Role::server, 0x1, 16, 1460);
}
void BM_ClientBinary125(benchmark::State& state) {
  run(state, Role::client, 0x2, 125, 0);
}

BENCHMARK(BM_ServerText16);
BENCHMARK(BM_ServerBinary125);
BENCHMARK(BM_ServerText125);
BENCHMARK(BM_ServerText16In1460ByteReads);
BENCHMARK(BM_ClientBinary125);

}  // namespace
