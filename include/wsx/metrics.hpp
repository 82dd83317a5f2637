// Prometheus metrics: counters, gauges and histograms, read as the Prometheus text exposition
// format (version 0.0.4) by scrape().
//
// Every Server has a registry (ServerOptions::metrics, or one of its own) in which it counts its
// connections, messages, bytes, close codes, backpressure, compression and pub/sub fan-out under
// `wsx_` names; the application and a broker may register their own metrics beside them and
// serve the whole set with metrics_response() (metrics_endpoint.hpp) or `wsx serve --metrics`.
//
// Counting is per thread: each thread writes its own copy of a counter (a relaxed load and
// store, no read-modify-write, no lock, no cache line shared with another writer) and scrape()
// sums the copies. A Counter or Histogram may be used from any thread; a thread's first use
// of a registry takes a lock once. Gauges are one shared value (set() from any thread): use them
// for states that change rarely, not per message.
//
//   auto registry = std::make_shared<wsx::MetricsRegistry>();
//   wsx::Counter jobs = registry->counter("app_jobs_total", "Jobs done.", {{"queue", "mail"}});
//   jobs.add();
//   std::string text = registry->scrape();
//
// Handles are cheap to copy and valid while their registry exists. Registering a name and label
// set again returns the same series; names follow the Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*,
// label names [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"). Label values are escaped on output.
// Keep label values few: every distinct value is a series kept until the registry goes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsx/export.hpp"

namespace wsx {

namespace metrics_detail {
struct RegistryState;
}

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class WSX_API Counter {
 public:
  Counter() = default;  // counts nothing
  void add(std::uint64_t n = 1) const noexcept;

 private:
  friend class MetricsRegistry;
  friend struct metrics_detail::RegistryState;
  Counter(metrics_detail::RegistryState* state, std::uint32_t cell) : state_(state), cell_(cell) {}
  metrics_detail::RegistryState* state_ = nullptr;
  std::uint32_t cell_ = 0;
};

class WSX_API Gauge {
 public:
  Gauge() = default;  // holds nothing
  void set(double value) const noexcept;
  void add(double delta) const noexcept;
  double value() const noexcept;

 private:
  friend class MetricsRegistry;
  explicit Gauge(std::atomic<double>* value) : value_(value) {}
  std::atomic<double>* value_ = nullptr;
};

// Observations counted in buckets by upper bound (`le`), with their sum and count.
class WSX_API Histogram {
 public:
  Histogram() = default;  // observes nothing
  void observe(double value) const noexcept;

 private:
  friend class MetricsRegistry;
  friend struct metrics_detail::RegistryState;
  Histogram(metrics_detail::RegistryState* state, std::uint32_t cell,
            const std::vector<double>* bounds)
      : state_(state), cell_(cell), bounds_(bounds) {}
  metrics_detail::RegistryState* state_ = nullptr;
  std::uint32_t cell_ = 0;
  const std::vector<double>* bounds_ = nullptr;
};

class WSX_API MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Any thread. Throws std::invalid_argument for a name or label name the format does not
  // allow, a name registered before with another type or help text, a label "le" on a
  // histogram, or histogram bounds that are not finite and strictly increasing.
  Counter counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Histogram histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                      const MetricLabels& labels = {});
  // A counter or gauge whose value is kept elsewhere (a component's own atomic counters, a
  // size): `read` is called by every scrape, on the scraping thread, under the registry's lock,
  // so it must be thread-safe, quick, and must not use this registry. Registering the series
  // again replaces its function. Same exceptions as above.
  void counter_callback(std::string_view name, std::string_view help, std::function<double()> read,
                        const MetricLabels& labels = {});
  void gauge_callback(std::string_view name, std::string_view help, std::function<double()> read,
                      const MetricLabels& labels = {});

  // Any thread: every metric in the text exposition format 0.0.4, families in the order they
  // were registered, each with its HELP and TYPE lines.
  std::string scrape() const;

  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";
  // Upper bounds for latencies in seconds, 50 µs to 10 s.
  static std::vector<double> latency_buckets();

  // The library's own access (per-thread counting for server threads).
  metrics_detail::RegistryState& state() noexcept { return *state_; }

 private:
  std::unique_ptr<metrics_detail::RegistryState> state_;
};

}  // namespace wsx
