// apply_mask: the dispatcher (what the connection calls), each implementation, and the bytewise
// reference, from a control-frame size to 1 MiB. Throughput in bytes/s.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "../src/proto/mask_internal.hpp"
#include "wsx/proto/mask.hpp"

namespace {

using wsx::proto::MaskKey;
using MaskFunction = std::size_t (*)(std::uint8_t*, std::size_t, const MaskKey&,
                                     std::size_t) noexcept;

template <MaskFunction mask>
void run(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(i * 31);
  const MaskKey key = {0x37, 0xfa, 0x21, 0x3d};
  for (auto _ : state) {
    mask(data.data(), size, key, 0);
    benchmark::DoNotOptimize(data.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size));
}

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : {16, 125, 1500, 64 << 10, 1 << 20}) b->Arg(n);
}

void BM_apply_mask(benchmark::State& s) {
  run<wsx::proto::apply_mask>(s);
}
void BM_apply_mask_bytewise(benchmark::State& s) {
  run<wsx::proto::apply_mask_bytewise>(s);
}
void BM_apply_mask_words(benchmark::State& s) {
  run<wsx::proto::detail::apply_mask_words>(s);
}
BENCHMARK(BM_apply_mask)->Apply(sizes);
BENCHMARK(BM_apply_mask_bytewise)->Apply(sizes);
BENCHMARK(BM_apply_mask_words)->Apply(sizes);

#if WSX_X86_64
void BM_apply_mask_sse2(benchmark::State& s) {
  run<wsx::proto::detail::apply_mask_sse2>(s);
}
BENCHMARK(BM_apply_mask_sse2)->Apply(sizes);
void BM_apply_mask_avx2(benchmark::State& s) {
  if (!wsx::proto::detail::cpu_has_avx2()) {
    s.SkipWithError("no AVX2 on this CPU");
    return;
  }
  run<wsx::proto::detail::apply_mask_avx2>(s);
}
BENCHMARK(BM_apply_mask_avx2)->Apply(sizes);
#endif

}  // namespace
