// A server-wide ceiling on the bytes held for connections: messages being assembled and output
// not yet sent (protocol output, shared frames, HTTP bytes, TLS ciphertext), all threads
// together. Without it, every peer that sends but never reads may hold its route's
// max_backpressure of queued answers plus a message being assembled, and a few hundred such
// peers exhaust the machine.
//
// How it is enforced: reading is what makes a connection hold more (a read assembles a message,
// and its answers are queued), so the ceiling decides, after every entry point of a session and
// before its next read, whether the session may read again:
//   - below the soft limit (7/8 of the ceiling) everyone reads;
//   - between the soft limit and the ceiling, connections holding more than a normal message
//     (heavy_footprint) stop reading; light ones go on, so well-behaved clients are served;
//   - at the ceiling, only connections holding nothing read.
// A stopped connection reads again as soon as the rule allows it (it drained, or others freed
// memory). Those that stay stopped and heavy for `timeout` while the server is still above the
// soft limit are closed with 1013 (try again later), the heaviest first, until what they hold
// would bring the server back under it. Growth past a decision is bounded by what one read
// brings per connection (Stream::read_buffer_size of input, and the answers it produces).
//
// Threads: each server thread has a BudgetLedger; sessions charge it as their footprint
// changes, and it forwards its balance to the shared MemoryBudget (one atomic) only in chunks,
// so the hot path is a few additions and one relaxed load.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "session/layer_export.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx::session {

class Session;
class BudgetLedger;

// A footprint up to this is a normal message in flight (a 64 KiB message with its header, as
// the protocol core retains): it keeps reading until the ceiling itself is reached.
inline constexpr std::size_t heavy_footprint = 64 * 1024 + 14;

// Under pressure, connections that may still read take this much at a time: enough for the
// small messages of well-behaved clients, while a read cannot add much to the total.
inline constexpr std::size_t pressured_read_size = 16 * 1024;

enum class MemoryPressure : std::uint8_t { none, high, full };

// The pure rules (no clock, no thread): unit-tested on their own.
struct WSX_LAYER_API BudgetPolicy {
  std::size_t limit = 0;  // 0: no ceiling

  std::size_t soft_limit() const noexcept { return limit - limit / 8; }
  MemoryPressure pressure(std::size_t used) const noexcept;
  // pressure(used) != MemoryPressure::none, inline for the per-message send path.
  bool pressured(std::size_t used) const noexcept { return limit != 0 && used >= soft_limit(); }
  // How many bytes a connection holding `footprint` may read now while the server holds
  // `used`: unlimited (SIZE_MAX) without pressure, pressured_read_size for those that still
  // read under pressure, 0 for those that must stop.
  std::size_t read_allowance(std::size_t used, std::size_t footprint) const noexcept;
  bool may_read(std::size_t used, std::size_t footprint) const noexcept {
    return read_allowance(used, footprint) != 0;
  }
  // Whether the application may queue `size` more bytes of data for a connection holding
  // `footprint` while the server holds `used` (what the session answers a send with: dropped
  // when not). Reading is not the only way to grow: a server that publishes to peers that do
  // not read fills their queues without reading a byte. The same levels as for reading:
  // anything without pressure (max_backpressure still applies); under pressure only what keeps
  // a connection light (heavy_footprint); at the ceiling only a light message onto a
  // connection holding nothing. Control frames (pong, close) are not asked about: they are
  // small and are how a connection ends.
  bool may_queue(std::size_t used, std::size_t footprint, std::size_t size) const noexcept;
};

// A stopped connection, as the choice of which ones to close sees it.
struct StoppedConnection {
  std::size_t footprint = 0;
  std::chrono::nanoseconds stopped_for{0};
  bool closable = true;  // open (not already closing)
};

// Which of `stopped` to close with 1013 while the server holds `used` bytes: those stopped for
// at least `timeout`, heavy, and closable, heaviest first, until what they hold brings `used`
// under the soft limit (what the ones already closing hold counts as freed). Returns their
// indices in that order.
std::vector<std::size_t> choose_connections_to_close(std::span<const StoppedConnection> stopped,
                                                     std::size_t used, const BudgetPolicy& policy,
                                                     std::chrono::nanoseconds timeout);

// Shared by the threads of one server.
class MemoryBudget {
 public:
  MemoryBudget() = default;
  MemoryBudget(std::size_t limit, std::chrono::milliseconds timeout) noexcept
      : policy_{limit}, timeout_(timeout), pressure_from_(pressure_from(policy_)) {}
  // Before any thread uses it.
  void configure(std::size_t limit, std::chrono::milliseconds timeout) noexcept {
    policy_.limit = limit;
    timeout_ = timeout;
    pressure_from_ = pressure_from(policy_);
  }
  // policy().pressured(used), with the soft limit worked out once: asked on every send.
  bool pressured(std::size_t used) const noexcept { return used >= pressure_from_; }

  const BudgetPolicy& policy() const noexcept { return policy_; }
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }
  std::int64_t shared_balance() const noexcept { return used_.load(std::memory_order_relaxed); }
  void add(std::int64_t bytes) noexcept { used_.fetch_add(bytes, std::memory_order_relaxed); }

 private:
  // No ceiling: never pressured (what a thread sees of the total is below 2^63).
  static std::size_t pressure_from(const BudgetPolicy& policy) noexcept {
    return policy.limit == 0 ? SIZE_MAX : policy.soft_limit();
  }

  BudgetPolicy policy_;
  std::chrono::milliseconds timeout_{0};
  std::size_t pressure_from_ = SIZE_MAX;  // see pressured()
  std::atomic<std::int64_t> used_{0};
};

// One per server thread (used on that thread only): the sessions' charges, the sessions it
// stopped, and the periodic look at them while there are any.
class WSX_LAYER_API BudgetLedger {
 public:
  // Balances smaller than this stay on the thread: the shared total may lag by this much per
  // thread, which is what keeps the atomic off the per-message path.
  static constexpr std::int64_t forward_chunk = 256 * 1024;
  static constexpr std::chrono::milliseconds check_period{50};

  BudgetLedger(io::EventLoop& loop, MemoryBudget& budget) noexcept : loop_(loop), budget_(budget) {}
  ~BudgetLedger();
  BudgetLedger(const BudgetLedger&) = delete;
  BudgetLedger& operator=(const BudgetLedger&) = delete;

  // The session's footprint may have changed: charge the difference, then stop or resume its
  // reading as the rules say.
  void update(Session& session);
  // Before the session reads: how much it may read now (see BudgetPolicy::read_allowance);
  // when 0, the session is stopped. Asked before every read, so inline: without pressure
  // anyone reads all it can (BudgetPolicy::read_allowance's first answer), and only under
  // pressure does the answer need the session's footprint.
  std::size_t read_allowance(Session& session) {
    const std::size_t used = this->used();
    if (!budget_.policy().pressured(used)) return SIZE_MAX;
    return read_allowance_under_pressure(session, used);
  }
  // Before the application's data is queued on the session: whether it may be (see
  // BudgetPolicy::may_queue), from this thread's view of the total.
  // Asked on every send, so inline: without pressure the answer needs no footprint (calls
  // into the session's carrier).
  bool may_queue(const Session& session, std::size_t size) const noexcept {
    const std::size_t used = this->used();
    return !budget_.pressured(used) || may_queue_under_pressure(session, size, used);
  }
  // The session is going away: its charge is returned and it is no longer watched.
  void forget(Session& session) noexcept;

  std::size_t used() const noexcept {  // this thread's view of the server's total
    const std::int64_t total = budget_.shared_balance() + local_;
    return total > 0 ? static_cast<std::size_t>(total) : 0;
  }
  std::size_t stopped_count() const noexcept { return stopped_.size(); }

 private:
  struct Stopped {
    Session* session;
    io::Clock::time_point since;
  };

  void charge(std::int64_t delta) noexcept;
  std::size_t read_allowance_under_pressure(Session& session, std::size_t used);
  bool may_queue_under_pressure(const Session& session, std::size_t size,
                                std::size_t used) const noexcept;
  void stop(Session& session);
  void resume(Session& session);
  void unlist(Session& session) noexcept;  // out of stopped_
  void check();                            // periodic, while sessions are stopped

  io::EventLoop& loop_;
  MemoryBudget& budget_;
  std::int64_t local_ = 0;  // not yet forwarded to budget_
  std::vector<Stopped> stopped_;
  io::TimerId timer_ = 0;
};

}  // namespace wsx::session
