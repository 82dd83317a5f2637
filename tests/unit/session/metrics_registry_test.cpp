// MetricsRegistry: registration rules, the text exposition format (HELP/TYPE, label escaping,
// histogram buckets), and per-thread counting summed on scrape, also while threads count.
#include "wsx/metrics.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace wsx {
namespace {

// The value of the sample line that starts with `series` ("name{labels}"), or -1.
double sample(const std::string& text, const std::string& series) {
  const std::string start = series + " ";
  std::size_t at = 0;
  while ((at = text.find(start, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      return std::stod(text.substr(at + start.size(), text.find('\n', at) - at - start.size()));
    }
    at += start.size();
  }
  return -1;
}

TEST(MetricsRegistry, CounterWithoutLabelsHasHelpTypeAndValue) {
  MetricsRegistry registry;
  Counter jobs = registry.counter("app_jobs_total", "Jobs done.");
  jobs.add();
  jobs.add(41);
  EXPECT_EQ(registry.scrape(),
            "# HELP app_jobs_total Jobs done.\n"
            "# TYPE app_jobs_total counter\n"
            "app_jobs_total 42\n");
}

TEST(MetricsRegistry, SeriesOfOneFamilyShareItsHelpAndTypeLines) {
  MetricsRegistry registry;
  registry.counter("req_total", "Requests.", {{"code", "200"}}).add(3);
  registry.counter("req_total", "Requests.", {{"code", "404"}}).add(1);
  EXPECT_EQ(registry.scrape(),
            "# HELP req_total Requests.\n"
            "# TYPE req_total counter\n"
            "req_total{code=\"200\"} 3\n"
            "req_total{code=\"404\"} 1\n");
}

TEST(MetricsRegistry, RegisteringTheSameSeriesAgainCountsInIt) {
  MetricsRegistry registry;
  registry.counter("c_total", "C.", {{"a", "x"}, {"b", "y"}}).add(2);
  registry.counter("c_total", "C.", {{"a", "x"}, {"b", "y"}}).add(5);
  EXPECT_EQ(sample(registry.scrape(), "c_total{a=\"x\",b=\"y\"}"), 7);
}

TEST(MetricsRegistry, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry registry;
  registry
      .counter("esc_total", "Back\\slash and\nnewline.", {{"path", "C:\\dir\\\"quoted\"\nnext"}})
      .add();
  EXPECT_EQ(registry.scrape(),
            "# HELP esc_total Back\\\\slash and\\nnewline.\n"
            "# TYPE esc_total counter\n"
            "esc_total{path=\"C:\\\\dir\\\\\\\"quoted\\\"\\nnext\"} 1\n");
}

TEST(MetricsRegistry, LabelValuesMayHoldAnyUtf8AndBraces) {
  MetricsRegistry registry;
  registry.counter("u_total", "U.", {{"room", "caf\xc3\xa9 {1}, x=\"y\""}}).add();
  EXPECT_NE(registry.scrape().find("u_total{room=\"caf\xc3\xa9 {1}, x=\\\"y\\\"\"} 1\n"),
            std::string::npos);
}

TEST(MetricsRegistry, HistogramHasCumulativeBucketsInfSumAndCount) {
  MetricsRegistry registry;
  Histogram latency =
      registry.histogram("op_seconds", "Op latency.", {0.125, 0.5, 2}, {{"op", "x"}});
  for (const double value : {0.0625, 0.125, 0.25, 0.375, 1.0, 7.0}) latency.observe(value);
  EXPECT_EQ(registry.scrape(),
            "# HELP op_seconds Op latency.\n"
            "# TYPE op_seconds histogram\n"
            "op_seconds_bucket{op=\"x\",le=\"0.125\"} 2\n"  // 0.125 is in le="0.125"
            "op_seconds_bucket{op=\"x\",le=\"0.5\"} 4\n"
            "op_seconds_bucket{op=\"x\",le=\"2\"} 5\n"
            "op_seconds_bucket{op=\"x\",le=\"+Inf\"} 6\n"
            "op_seconds_sum{op=\"x\"} 8.8125\n"
            "op_seconds_count{op=\"x\"} 6\n");
}

TEST(MetricsRegistry, HistogramWithoutLabelsPutsLeAlone) {
  MetricsRegistry registry;
  registry.histogram("h_seconds", "H.", {1}).observe(0.5);
  const std::string text = registry.scrape();
  EXPECT_NE(text.find("h_seconds_bucket{le=\"1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_sum 0.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_count 1\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, HistogramIgnoresNaN) {
  MetricsRegistry registry;
  Histogram h = registry.histogram("n_seconds", "N.", {1});
  h.observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(sample(registry.scrape(), "n_seconds_count"), 0);
}

TEST(MetricsRegistry, GaugeSetsAndAdds) {
  MetricsRegistry registry;
  Gauge state = registry.gauge("broker_state", "State.");
  state.set(2);
  state.add(-0.5);
  EXPECT_EQ(state.value(), 1.5);
  EXPECT_EQ(registry.scrape(),
            "# HELP broker_state State.\n"
            "# TYPE broker_state gauge\n"
            "broker_state 1.5\n");
}

TEST(MetricsRegistry, CallbackSeriesAreReadAtEachScrape) {
  MetricsRegistry registry;
  std::atomic<std::uint64_t> failures{0};
  registry.counter_callback("ext_failures_total", "Failures kept elsewhere.",
                            [&failures] { return static_cast<double>(failures.load()); },
                            {{"broker", "redis"}});
  registry.gauge_callback("ext_queue", "Queue length.", [] { return 7.0; });
  EXPECT_EQ(sample(registry.scrape(), "ext_failures_total{broker=\"redis\"}"), 0);
  failures = 3;
  const std::string text = registry.scrape();
  EXPECT_EQ(sample(text, "ext_failures_total{broker=\"redis\"}"), 3);
  EXPECT_EQ(sample(text, "ext_queue"), 7);
  EXPECT_NE(text.find("# TYPE ext_failures_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE ext_queue gauge\n"), std::string::npos);
  // Registering it again replaces the function; one that throws shows NaN, the rest stays.
  registry.gauge_callback("ext_queue", "Queue length.", []() -> double { throw 1; });
  EXPECT_NE(registry.scrape().find("ext_queue NaN\n"), std::string::npos);
  EXPECT_EQ(sample(registry.scrape(), "ext_failures_total{broker=\"redis\"}"), 3);
  EXPECT_THROW(registry.counter("ext_queue", "Queue length."), std::invalid_argument);
}

TEST(MetricsRegistry, NumbersAreWrittenAsTheFormatSpellsThem) {
  MetricsRegistry registry;
  registry.gauge("g", "G.", {{"v", "big"}}).set(1e20);
  registry.gauge("g", "G.", {{"v", "inf"}}).set(std::numeric_limits<double>::infinity());
  registry.gauge("g", "G.", {{"v", "neg"}}).set(-std::numeric_limits<double>::infinity());
  registry.gauge("g", "G.", {{"v", "nan"}}).set(std::numeric_limits<double>::quiet_NaN());
  registry.gauge("g", "G.", {{"v", "int"}}).set(-3);
  const std::string text = registry.scrape();
  EXPECT_NE(text.find("g{v=\"big\"} 1e+20\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"inf\"} +Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"neg\"} -Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"nan\"} NaN\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"int\"} -3\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, CountersKeepAll64Bits) {
  MetricsRegistry registry;
  Counter big = registry.counter("big_total", "B.");
  big.add(UINT64_MAX - 1);
  big.add(1);
  EXPECT_NE(registry.scrape().find("big_total 18446744073709551615\n"), std::string::npos);
}

TEST(MetricsRegistry, RefusesNamesTheFormatDoesNotAllow) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.counter("", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter("1abc", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter("a-b", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok", "x", {{"bad-label", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok", "x", {{"__reserved", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok", "x", {{"a:b", "v"}}), std::invalid_argument);
  EXPECT_NO_THROW(registry.counter("ns:sub_total", "x", {{"_x1", "v"}}));
}

TEST(MetricsRegistry, RefusesANameWithAnotherTypeOrHelp) {
  MetricsRegistry registry;
  registry.counter("x_total", "X.");
  EXPECT_THROW(registry.gauge("x_total", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("x_total", "Other help."), std::invalid_argument);
}

TEST(MetricsRegistry, RefusesBadHistogramBoundsAndAnLeLabel) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.histogram("h1", "H.", {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h2", "H.", {2, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h3", "H.", {std::numeric_limits<double>::infinity()}),
               std::invalid_argument);
  EXPECT_THROW(registry.histogram("h4", "H.", {1}, {{"le", "x"}}), std::invalid_argument);
  registry.histogram("h5", "H.", {1, 2});
  EXPECT_THROW(registry.histogram("h5", "H.", {1, 3}), std::invalid_argument);
}

TEST(MetricsRegistry, DefaultHandlesCountNothing) {
  Counter counter;
  Gauge gauge;
  Histogram histogram;
  counter.add();
  gauge.set(1);
  histogram.observe(1);
  EXPECT_EQ(gauge.value(), 0);
}

TEST(MetricsRegistry, LatencyBucketsIncrease) {
  const std::vector<double> bounds = MetricsRegistry::latency_buckets();
  ASSERT_GT(bounds.size(), 5u);
  for (std::size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
}

// Threads count in shards of their own; the scrape sums them exactly, and scrapes made while
// they count see values that only grow. Under TSan (tests/tsan) this shows that counting and
// scraping share nothing unsynchronised.
TEST(MetricsRegistry, ThreadsCountInParallelAndTheScrapeSumsThem) {
  MetricsRegistry registry;
  Counter hits = registry.counter("hits_total", "Hits.", {{"k", "a"}});
  Histogram sizes = registry.histogram("size_bytes", "Sizes.", {10, 100});
  constexpr int threads = 4;
  constexpr int per_thread = 20000;
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    double last = 0;
    while (!done.load()) {
      const double now = sample(registry.scrape(), "hits_total{k=\"a\"}");
      EXPECT_GE(now, last);
      last = now;
      ++scrapes;
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      // Late registration from a counting thread: a new series in a shard already in use.
      Counter mine =
          registry.counter("per_thread_total", "Per thread.", {{"thread", std::to_string(t)}});
      for (int i = 0; i < per_thread; ++i) {
        hits.add();
        mine.add(2);
        sizes.observe(i % 200);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  done = true;
  scraper.join();
  const std::string text = registry.scrape();
  EXPECT_EQ(sample(text, "hits_total{k=\"a\"}"), threads * per_thread);
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(sample(text, "per_thread_total{thread=\"" + std::to_string(t) + "\"}"),
              2 * per_thread);
  }
  // i % 200: 0-10 (11 values), 11-100 (90), 101-199 (99), per 200 observations.
  constexpr int rounds = threads * per_thread / 200;
  EXPECT_EQ(sample(text, "size_bytes_bucket{le=\"10\"}"), 11 * rounds);
  EXPECT_EQ(sample(text, "size_bytes_bucket{le=\"100\"}"), 101 * rounds);
  EXPECT_EQ(sample(text, "size_bytes_bucket{le=\"+Inf\"}"), 200 * rounds);
  EXPECT_EQ(sample(text, "size_bytes_count"), 200 * rounds);
  EXPECT_EQ(sample(text, "size_bytes_sum"), 19900.0 * rounds);
  EXPECT_GT(scrapes.load(), 0);
}

// A thread that uses more registries than its cache holds finds its shard again, rather than
// making a new one each time (which would lose nothing but grow without bound).
TEST(MetricsRegistry, AThreadUsingManyRegistriesKeepsCountingInEach) {
  std::vector<std::unique_ptr<MetricsRegistry>> registries;
  std::vector<Counter> counters;
  for (int i = 0; i < 9; ++i) {
    registries.push_back(std::make_unique<MetricsRegistry>());
    counters.push_back(registries.back()->counter("n_total", "N."));
  }
  for (int round = 0; round < 50; ++round) {
    for (const Counter& counter : counters) counter.add();
  }
  for (const auto& registry : registries) {
    EXPECT_EQ(sample(registry->scrape(), "n_total"), 50);
  }
}

// A registry made where a destroyed one was must not count in the dead one's shard.
TEST(MetricsRegistry, ANewRegistryAtAnOldAddressStartsFromZero) {
  for (int i = 0; i < 3; ++i) {
    MetricsRegistry registry;
    Counter counter = registry.counter("fresh_total", "F.");
    counter.add(5);
    EXPECT_EQ(sample(registry.scrape(), "fresh_total"), 5);
  }
}

}  // namespace
}  // namespace wsx
