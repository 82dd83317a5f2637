// The inside of a MetricsRegistry: metric families and their series, and the per-thread cells
// the series count in.
//
// A series owns a fixed range of cell numbers (a counter one, a histogram one per bucket plus
// +Inf, and the sum). Every writing thread has its own Shard, holding a cell for every
// number; scrape() adds up the shards. A cell has a single writer, so counting is a relaxed
// load and a relaxed store (plain moves on x86 and ARM), never a locked instruction, and TSan
// sees no race with the scraper's relaxed loads. Shards grow in chunks allocated by their
// writer; a chunk once published is never moved or freed before the registry.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "session/layer_export.hpp"
#include "wsx/metrics.hpp"

namespace wsx::metrics_detail {

using Cell = std::atomic<std::uint64_t>;

// Single writer: no read-modify-write needed.
inline void bump(Cell& cell, std::uint64_t n) noexcept {
  cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline void add_double(Cell& cell, double value) noexcept {
  const double sum = std::bit_cast<double>(cell.load(std::memory_order_relaxed)) + value;
  cell.store(std::bit_cast<std::uint64_t>(sum), std::memory_order_relaxed);
}

class WSX_LAYER_API Shard {
 public:
  static constexpr std::uint32_t chunk_cells = 256;
  static constexpr std::uint32_t max_chunks = 256;
  static constexpr std::uint32_t max_cells = chunk_cells * max_chunks;

  Shard() = default;
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Writer thread only: the cell, its chunk allocated on first use.
  Cell& cell(std::uint32_t index) {
    Cell* chunk = chunks_[index / chunk_cells].load(std::memory_order_relaxed);
    if (chunk == nullptr) [[unlikely]]
      chunk = allocate(index / chunk_cells);
    return chunk[index % chunk_cells];
  }
  // Any thread: the cell's value, 0 for a chunk never written.
  std::uint64_t read(std::uint32_t index) const noexcept {
    const Cell* chunk = chunks_[index / chunk_cells].load(std::memory_order_acquire);
    return chunk == nullptr ? 0 : chunk[index % chunk_cells].load(std::memory_order_relaxed);
  }

 private:
  Cell* allocate(std::uint32_t chunk);
  std::array<std::atomic<Cell*>, max_chunks> chunks_{};
};

enum class MetricType : std::uint8_t { counter, gauge, histogram };

// How a series' value is kept.
enum class Storage : std::uint8_t {
  cells,         // per-thread cells, summed (counters, histograms)
  summed_gauge,  // per-thread signed deltas, summed (a gauge counted by server threads)
  shared_value,  // one std::atomic<double> (Gauge)
  callback,      // read at scrape time
};

struct Series {
  std::string labels;  // rendered: name="value",... (escaped), empty without labels
  Storage storage = Storage::cells;
  std::uint32_t cell = 0;
  std::atomic<double>* value = nullptr;         // shared_value
  const std::vector<double>* bounds = nullptr;  // histogram
  std::function<double()>* read = nullptr;      // callback
};

struct Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::counter;
  std::vector<Series> series;
  std::map<std::string, std::size_t, std::less<>> by_labels;
};

struct WSX_LAYER_API RegistryState {
  RegistryState();
  ~RegistryState();

  // Registration (any thread, under the lock). Returns the series, existing or new (a copy:
  // the family's list may move once the lock is released).
  Series add_series(std::string_view name, std::string_view help, MetricType type, Storage storage,
                    const MetricLabels& labels, const std::vector<double>* bounds,
                    std::function<double()> read = {});
  // A shard for one writer that is not found by its thread (a server thread's own).
  Shard& new_shard();
  // The calling thread's shard, made on its first use of this registry.
  Shard& local_shard();
  std::string scrape() const;

  const std::uint64_t serial;  // never reused: tells a thread's cached shard from a dead one's
  mutable std::mutex mutex;
  std::vector<Family> families;
  std::map<std::string, std::size_t, std::less<>> by_name;
  std::uint32_t next_cell = 0;
  std::deque<std::atomic<double>> shared_values;
  std::deque<std::vector<double>> bounds;
  std::deque<std::function<double()>> callbacks;
  std::deque<Shard> shards;
  std::map<std::thread::id, Shard*> thread_shards;

 private:
  Shard& attach_thread();
};

// Counts a value into a histogram whose cells start at `cell`: one per bound, +Inf, then the sum.
// The count is the sum of the buckets (scrape adds them anyway).
inline void observe(Shard& shard, std::uint32_t cell, const std::vector<double>& bounds,
                    double value) noexcept {
  std::uint32_t bucket = 0;
  while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;
  bump(shard.cell(cell + bucket), 1);
  add_double(shard.cell(cell + static_cast<std::uint32_t>(bounds.size()) + 1), value);
}

// How many cells a series of this kind takes.
inline std::uint32_t cells_for(MetricType type, const std::vector<double>* bounds) noexcept {
  return type == MetricType::histogram ? static_cast<std::uint32_t>(bounds->size()) + 2 : 1;
}

}  // namespace wsx::metrics_detail
