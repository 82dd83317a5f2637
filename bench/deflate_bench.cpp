// permessage-deflate throughput on 1 KiB JSON-like text messages (items/s = messages/s).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "wsx/proto/deflate.hpp"

namespace {

using wsx::proto::DeflateTuning;
using wsx::proto::InflateResult;
using wsx::proto::MessageDeflater;
using wsx::proto::MessageInflater;
using Bytes = std::vector<std::uint8_t>;

// 64 different 1 KiB messages that look like a chat or ticker feed.
std::vector<Bytes> json_messages() {
  std::mt19937 rng(1);
  static const char* const names[] = {"alice", "bob", "carol", "dave", "eve", "mallory"};
  std::vector<Bytes> messages;
  for (int m = 0; m < 64; ++m) {
    std::string s = "[";
    while (s.size() < 1000) {
      s += "{\"user\":\"" + std::string(names[rng() % 6]) +
           "\",\"seq\":" + std::to_string(rng() % 100000) +
           ",\"price\":" + std::to_string(rng() % 1000) + "." + std::to_string(rng() % 100) +
           ",\"ok\":true},";
    }
    s.resize(1023);
    s += "]";
    messages.emplace_back(s.begin(), s.end());
  }
  return messages;
}

void BM_Compress(benchmark::State& state) {
  const auto messages = json_messages();
  const bool no_takeover = state.range(0) != 0;
  MessageDeflater deflater(15, no_takeover, DeflateTuning{});
  Bytes out;
  std::size_t i = 0, compressed = 0;
  for (auto _ : state) {
    out.clear();
    const Bytes& m = messages[i++ % messages.size()];
    deflater.compress(m.data(), m.size(), true, out);
    compressed += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 1024);
  state.counters["ratio"] = static_cast<double>(compressed) / (state.iterations() * 1024.0);
}
BENCHMARK(BM_Compress)->Arg(0)->Arg(1)->ArgName("no_takeover");

// Compress and inflate each message: with context takeover the inflater must see the messages
// in the order they were compressed, so the two run together.
void BM_CompressInflate(benchmark::State& state) {
  const auto messages = json_messages();
  const bool no_takeover = state.range(0) != 0;
  MessageDeflater deflater(15, no_takeover, DeflateTuning{});
  MessageInflater inflater(15, no_takeover);
  Bytes payload, out;
  std::size_t i = 0;
  for (auto _ : state) {
    payload.clear();
    out.clear();
    const Bytes& m = messages[i++ % messages.size()];
    deflater.compress(m.data(), m.size(), true, payload);
    if (inflater.inflate(payload.data(), payload.size(), true, out, 1 << 20) != InflateResult::ok)
      state.SkipWithError("inflate failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_CompressInflate)->Arg(0)->Arg(1)->ArgName("no_takeover");

// Inflate only: messages compressed without context takeover stand alone, so they can repeat.
void BM_Inflate(benchmark::State& state) {
  const auto messages = json_messages();
  MessageDeflater deflater(15, true, DeflateTuning{});
  std::vector<Bytes> payloads;
  for (const Bytes& m : messages) {
    payloads.emplace_back();
    deflater.compress(m.data(), m.size(), true, payloads.back());
  }
  MessageInflater inflater(15, true);
  Bytes out;
  std::size_t i = 0;
  for (auto _ : state) {
    out.clear();
    const Bytes& p = payloads[i++ % payloads.size()];
    if (inflater.inflate(p.data(), p.size(), true, out, 1 << 20) != InflateResult::ok)
      state.SkipWithError("inflate failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_Inflate);

}  // namespace
