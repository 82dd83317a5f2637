// N subscribers of one topic leave it, one by one (the case of issue 8: a linear scan per
// departure made it quadratic), and a publish-sized walk over a topic's subscribers. Compare
// the times for N = 1,000 / 10,000 / 100,000: they grow linearly.
#include <benchmark/benchmark.h>

#include <vector>

#include "session/subscriptions.hpp"

namespace {

struct Peer {
  int id = 0;
};

void leave_one_topic(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  std::vector<Peer> peers(count);
  for (auto _ : state) {
    state.PauseTiming();
    wsx::session::Subscriptions<Peer> table;
    for (Peer& peer : peers) table.add(peer, "crowd");
    state.ResumeTiming();
    for (Peer& peer : peers) table.remove(peer, "crowd");
    benchmark::DoNotOptimize(table.subscription_count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}
BENCHMARK(leave_one_topic)->Arg(1000)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);

void subscribe_one_topic(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  std::vector<Peer> peers(count);
  for (auto _ : state) {
    wsx::session::Subscriptions<Peer> table;
    for (Peer& peer : peers) table.add(peer, "crowd");
    benchmark::DoNotOptimize(table.subscription_count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}
BENCHMARK(subscribe_one_topic)->Arg(100'000)->Unit(benchmark::kMillisecond);

// What deliver() walks per publish: the topic's subscriber vector.
void walk_subscribers(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  std::vector<Peer> peers(count);
  wsx::session::Subscriptions<Peer> table;
  for (Peer& peer : peers) table.add(peer, "crowd");
  for (auto _ : state) {
    int sum = 0;
    for (const Peer* peer : table.subscribers("crowd")) sum += peer->id;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}
BENCHMARK(walk_subscribers)->Arg(100'000);

}  // namespace
