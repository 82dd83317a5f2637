// MetricsRegistry: registration under a lock, counting in per-thread shards, scrape by summing.
#include <cmath>
#include <limits>
#include <stdexcept>

#include "session/metrics_state.hpp"
#include "session/metrics_text.hpp"

namespace wsx {
namespace metrics_detail {
namespace {

std::atomic<std::uint64_t> next_serial{1};

// The shards this thread counts in, by registry serial. A thread using more registries than
// this at once looks its shard up again under the lock (found, not made again).
struct ThreadShards {
  struct Slot {
    std::uint64_t serial = 0;
    Shard* shard = nullptr;
  };
  std::array<Slot, 4> slots;
  unsigned next = 0;
};
thread_local ThreadShards thread_shards_cache;

std::string render_labels(const MetricLabels& labels, MetricType type) {
  std::string text;
  for (const auto& [name, value] : labels) {
    if (!valid_label_name(name)) {
      throw std::invalid_argument("metrics: invalid label name '" + name + "'");
    }
    if (type == MetricType::histogram && name == "le") {
      throw std::invalid_argument("metrics: a histogram cannot have a label 'le'");
    }
    if (!text.empty()) text += ',';
    text += name;
    text += "=\"";
    append_label_value(text, value);
    text += '"';
  }
  return text;
}

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
  }
  return "untyped";
}

// name{labels} or name{labels,extra} — `extra` already rendered (le="0.5").
void append_sample_name(std::string& out, std::string_view name, std::string_view suffix,
                        std::string_view labels, std::string_view extra) {
  out += name;
  out += suffix;
  if (labels.empty() && extra.empty()) return;
  out += '{';
  out += labels;
  if (!labels.empty() && !extra.empty()) out += ',';
  out += extra;
  out += '}';
}

// A callback that throws (or is empty) shows NaN rather than failing the whole scrape.
double read_callback(const std::function<double()>& read) {
  try {
    return read ? read() : std::numeric_limits<double>::quiet_NaN();
  } catch (...) {
    return std::numeric_limits<double>::quiet_NaN();
  }
}

}  // namespace

Shard::~Shard() {
  for (std::atomic<Cell*>& chunk : chunks_) delete[] chunk.load(std::memory_order_relaxed);
}

Cell* Shard::allocate(std::uint32_t chunk) {
  Cell* cells = new Cell[chunk_cells]();
  // Release: a scraper that sees the pointer sees zeroed cells.
  chunks_[chunk].store(cells, std::memory_order_release);
  return cells;
}

RegistryState::RegistryState() : serial(next_serial.fetch_add(1)) {}

RegistryState::~RegistryState() = default;

Series RegistryState::add_series(std::string_view name, std::string_view help, MetricType type,
                                 Storage storage, const MetricLabels& labels,
                                 const std::vector<double>* series_bounds,
                                 std::function<double()> read) {
  if (!valid_metric_name(name)) {
    throw std::invalid_argument("metrics: invalid metric name '" + std::string(name) + "'");
  }
  std::string rendered = render_labels(labels, type);
  const std::lock_guard lock(mutex);
  auto family_at = by_name.find(name);
  if (family_at == by_name.end()) {
    families.push_back({std::string(name), std::string(help), type, {}, {}});
    family_at = by_name.emplace(std::string(name), families.size() - 1).first;
  }
  Family& family = families[family_at->second];
  if (family.type != type || family.help != help) {
    throw std::invalid_argument("metrics: '" + std::string(name) +
                                "' is registered with another type or help text");
  }
  if (const auto found = family.by_labels.find(rendered); found != family.by_labels.end()) {
    const Series& existing = family.series[found->second];
    if (existing.storage != storage ||
        (series_bounds != nullptr && *existing.bounds != *series_bounds)) {
      throw std::invalid_argument("metrics: '" + std::string(name) +
                                  "' is registered with other buckets or storage");
    }
    if (storage == Storage::callback) *existing.read = std::move(read);
    return existing;
  }
  Series series;
  series.labels = rendered;
  series.storage = storage;
  if (storage == Storage::shared_value) {
    series.value = &shared_values.emplace_back(0.0);
  } else if (storage == Storage::callback) {
    series.read = &callbacks.emplace_back(std::move(read));
  } else {
    const std::uint32_t needed = cells_for(type, series_bounds);
    if (needed > Shard::max_cells - next_cell) {
      throw std::length_error("metrics: too many series in one registry");
    }
    series.cell = next_cell;
    next_cell += needed;
  }
  if (series_bounds != nullptr) series.bounds = &bounds.emplace_back(*series_bounds);
  family.by_labels.emplace(std::move(rendered), family.series.size());
  family.series.push_back(std::move(series));
  return family.series.back();
}

Shard& RegistryState::new_shard() {
  const std::lock_guard lock(mutex);
  return shards.emplace_back();
}

Shard& RegistryState::local_shard() {
  for (const ThreadShards::Slot& slot : thread_shards_cache.slots) {
    if (slot.serial == serial) return *slot.shard;
  }
  return attach_thread();
}

Shard& RegistryState::attach_thread() {
  Shard* shard = nullptr;
  {
    const std::lock_guard lock(mutex);
    // A thread id is reused only once its thread has ended: its shard has no other writer.
    Shard*& mine = thread_shards[std::this_thread::get_id()];
    if (mine == nullptr) mine = &shards.emplace_back();
    shard = mine;
  }
  ThreadShards& cache = thread_shards_cache;
  cache.slots[cache.next++ % cache.slots.size()] = {serial, shard};
  return *shard;
}

std::string RegistryState::scrape() const {
  const std::lock_guard lock(mutex);
  std::string out;
  out.reserve(4096);
  auto sum = [this](std::uint32_t cell) {
    std::uint64_t total = 0;
    for (const Shard& shard : shards) total += shard.read(cell);
    return total;
  };
  for (const Family& family : families) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    append_help(out, family.help);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    out += type_name(family.type);
    out += '\n';
    for (const Series& series : family.series) {
      if (family.type != MetricType::histogram) {
        append_sample_name(out, family.name, "", series.labels, "");
        out += ' ';
        switch (series.storage) {
          case Storage::cells:
            append_value(out, sum(series.cell));
            break;
          case Storage::summed_gauge:  // deltas of +1/-1 in two's complement: wraps to the sum
            append_value(out, static_cast<std::int64_t>(sum(series.cell)));
            break;
          case Storage::shared_value:
            append_value(out, series.value->load(std::memory_order_relaxed));
            break;
          case Storage::callback:
            append_value(out, read_callback(*series.read));
            break;
        }
        out += '\n';
        continue;
      }
      const std::vector<double>& limits = *series.bounds;
      std::uint64_t cumulative = 0;
      for (std::uint32_t i = 0; i <= limits.size(); ++i) {
        cumulative += sum(series.cell + i);
        std::string le = "le=\"";
        if (i < limits.size()) {
          append_value(le, limits[i]);
        } else {
          le += "+Inf";
        }
        le += '"';
        append_sample_name(out, family.name, "_bucket", series.labels, le);
        out += ' ';
        append_value(out, cumulative);
        out += '\n';
      }
      const auto after = static_cast<std::uint32_t>(limits.size()) + 1;
      double total = 0;
      for (const Shard& shard : shards) {
        total += std::bit_cast<double>(shard.read(series.cell + after));
      }
      append_sample_name(out, family.name, "_sum", series.labels, "");
      out += ' ';
      append_value(out, total);
      out += '\n';
      // _count is the +Inf bucket of the same scrape, so the two always agree.
      append_sample_name(out, family.name, "_count", series.labels, "");
      out += ' ';
      append_value(out, cumulative);
      out += '\n';
    }
  }
  return out;
}

}  // namespace metrics_detail

void Counter::add(std::uint64_t n) const noexcept {
  if (state_ == nullptr) return;
  metrics_detail::bump(state_->local_shard().cell(cell_), n);
}

void Gauge::set(double value) const noexcept {
  if (value_ != nullptr) value_->store(value, std::memory_order_relaxed);
}

void Gauge::add(double delta) const noexcept {
  if (value_ == nullptr) return;
  double current = value_->load(std::memory_order_relaxed);
  while (!value_->compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

double Gauge::value() const noexcept {
  return value_ == nullptr ? 0.0 : value_->load(std::memory_order_relaxed);
}

void Histogram::observe(double value) const noexcept {
  if (state_ == nullptr || std::isnan(value)) return;
  metrics_detail::observe(state_->local_shard(), cell_, *bounds_, value);
}

MetricsRegistry::MetricsRegistry() : state_(std::make_unique<metrics_detail::RegistryState>()) {}

MetricsRegistry::~MetricsRegistry() = default;

Counter MetricsRegistry::counter(std::string_view name, std::string_view help,
                                 const MetricLabels& labels) {
  const metrics_detail::Series series =
      state_->add_series(name, help, metrics_detail::MetricType::counter,
                         metrics_detail::Storage::cells, labels, nullptr);
  return Counter(state_.get(), series.cell);
}

Gauge MetricsRegistry::gauge(std::string_view name, std::string_view help,
                             const MetricLabels& labels) {
  const metrics_detail::Series series =
      state_->add_series(name, help, metrics_detail::MetricType::gauge,
                         metrics_detail::Storage::shared_value, labels, nullptr);
  return Gauge(series.value);
}

Histogram MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                     std::vector<double> bounds, const MetricLabels& labels) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::invalid_argument("metrics: histogram bounds must be finite and increasing");
    }
  }
  const metrics_detail::Series series =
      state_->add_series(name, help, metrics_detail::MetricType::histogram,
                         metrics_detail::Storage::cells, labels, &bounds);
  return Histogram(state_.get(), series.cell, series.bounds);
}

void MetricsRegistry::counter_callback(std::string_view name, std::string_view help,
                                       std::function<double()> read, const MetricLabels& labels) {
  state_->add_series(name, help, metrics_detail::MetricType::counter,
                     metrics_detail::Storage::callback, labels, nullptr, std::move(read));
}

void MetricsRegistry::gauge_callback(std::string_view name, std::string_view help,
                                     std::function<double()> read, const MetricLabels& labels) {
  state_->add_series(name, help, metrics_detail::MetricType::gauge,
                     metrics_detail::Storage::callback, labels, nullptr, std::move(read));
}

std::string MetricsRegistry::scrape() const {
  return state_->scrape();
}

std::vector<double> MetricsRegistry::latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

}  // namespace wsx
