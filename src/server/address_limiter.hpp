// The per-address limits of ServerOptions::address_limits, shared by every server thread: a
// count of connections and a handshake token bucket per client (address_key.hpp). A connection
// holds an AddressSlot for as long as it counts; any transport that holds a client's resources
// (the TCP/TLS connection today, a long-polling session later) acquires one the same way.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "server/address_key.hpp"
#include "server/token_bucket.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/server.hpp"

namespace wsx::server {

class AddressLimiter;

// The smallest handshake rate other than 0 (no limit): one a day. Below it a client would wait
// longer than any Retry-After worth sending, and the arithmetic leaves the clock's range.
constexpr double min_handshake_rate = 1.0 / (24 * 3600);

// Throws std::invalid_argument naming the bad field: a rate that is negative, not finite or
// between 0 and min_handshake_rate, a burst that is not finite.
void validate_address_limits(const AddressLimits& limits);

// One connection counted against its client's limit, released when destroyed. Empty (counts
// nothing) for an exempt client. Movable, not copyable; must not outlive its limiter.
class AddressSlot {
 public:
  AddressSlot() = default;
  AddressSlot(AddressSlot&& other) noexcept;
  AddressSlot& operator=(AddressSlot&& other) noexcept;
  ~AddressSlot();

  bool counted() const noexcept { return entry_ != nullptr; }
  void release() noexcept;

 private:
  friend class AddressLimiter;
  AddressSlot(AddressLimiter* limiter, void* entry) noexcept : limiter_(limiter), entry_(entry) {}

  AddressLimiter* limiter_ = nullptr;
  void* entry_ = nullptr;  // the client's entry in its shard (stable while it counts)
};

class AddressLimiter {
 public:
  using Clock = TokenBucket::Clock;

  enum class Verdict : std::uint8_t { admitted, too_fast, too_many_connections };
  struct Admission {
    Verdict verdict = Verdict::admitted;
    AddressSlot slot;                     // admitted: the connection's (empty when exempt)
    std::chrono::seconds retry_after{0};  // refused: for the Retry-After header
  };

  AddressLimiter() = default;
  // Both throw std::invalid_argument for limits that make no sense (validate_address_limits).
  explicit AddressLimiter(const AddressLimits& limits) { configure(limits); }
  // Before any admission (Server's constructor).
  void configure(const AddressLimits& limits);
  AddressLimiter(const AddressLimiter&) = delete;
  AddressLimiter& operator=(const AddressLimiter&) = delete;

  // Any thread. A new handshake from `peer`: takes a token of its bucket and a connection.
  Admission admit(const io::SocketAddress& peer, Clock::time_point now = Clock::now());
  // Any thread. One more connection of `peer` without a handshake of its own; nullopt when
  // the client is at its limit (counted as a refusal).
  std::optional<AddressSlot> acquire(const io::SocketAddress& peer,
                                     Clock::time_point now = Clock::now());

  AddressLimitStats stats() const noexcept;
  // Clients with an entry (connections or a bucket not yet full again), for tests.
  std::size_t tracked_clients() const;
  // Connections counted for `peer`'s client now, for tests.
  std::size_t connections_of(const io::SocketAddress& peer) const;

 private:
  friend class AddressSlot;
  struct Entry {
    std::size_t connections = 0;
    TokenBucket bucket;
    std::uint8_t shard = 0;  // where it lives, for AddressSlot's release
  };
  using Table = std::unordered_map<AddressKey, Entry, AddressKeyHash>;
  struct Shard {
    mutable std::mutex mutex;
    Table table;
    std::size_t sweep_at = 64;  // sweep when the table reaches this size
  };
  static constexpr std::size_t shard_count = 16;

  std::optional<AddressKey> limited_key(const io::SocketAddress& peer) const;
  Shard& shard_of(const AddressKey& key) noexcept;
  Table::iterator entry_of(Shard& shard, const AddressKey& key, Clock::time_point now);
  void sweep(Shard& shard, Clock::time_point now);
  void release(void* entry) noexcept;

  AddressLimits limits_;
  std::array<Shard, shard_count> shards_;
  std::atomic<std::uint64_t> refused_rate_{0};
  std::atomic<std::uint64_t> refused_connections_{0};
};

}  // namespace wsx::server
