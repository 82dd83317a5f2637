#include "server/address_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace wsx::server {
namespace {

// Retry-After for a client at its connection limit: when one of its connections will close is
// unknown; a few seconds keeps well-behaved clients from retrying in a tight loop.
constexpr std::chrono::seconds retry_after_connections{5};

}  // namespace

void validate_address_limits(const AddressLimits& limits) {
  const double rate = limits.handshakes_per_second;
  if (!std::isfinite(rate) || rate < 0 || (rate > 0 && rate < min_handshake_rate)) {
    throw std::invalid_argument("AddressLimits::handshakes_per_second of " + std::to_string(rate) +
                                ": use 0 (no limit) or a rate of at least one handshake a day (" +
                                std::to_string(min_handshake_rate) + " a second)");
  }
  if (!std::isfinite(limits.handshake_burst)) {
    throw std::invalid_argument("AddressLimits::handshake_burst must be a finite number");
  }
}

void AddressLimiter::configure(const AddressLimits& limits) {
  validate_address_limits(limits);
  limits_ = limits;
}

AddressSlot::AddressSlot(AddressSlot&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)),
      entry_(std::exchange(other.entry_, nullptr)) {}

AddressSlot& AddressSlot::operator=(AddressSlot&& other) noexcept {
  if (this != &other) {
    release();
    limiter_ = std::exchange(other.limiter_, nullptr);
    entry_ = std::exchange(other.entry_, nullptr);
  }
  return *this;
}

AddressSlot::~AddressSlot() {
  release();
}

void AddressSlot::release() noexcept {
  if (entry_ == nullptr) return;
  limiter_->release(entry_);
  limiter_ = nullptr;
  entry_ = nullptr;
}

std::optional<AddressKey> AddressLimiter::limited_key(const io::SocketAddress& peer) const {
  if (limits_.max_connections == 0 && limits_.handshakes_per_second <= 0) return std::nullopt;
  std::optional<AddressKey> key = address_key(peer, limits_.ipv6_prefix_length);
  if (!key || (key->loopback && limits_.exempt_loopback)) return std::nullopt;
  return key;
}

AddressLimiter::Shard& AddressLimiter::shard_of(const AddressKey& key) noexcept {
  return shards_[AddressKeyHash{}(key) % shard_count];
}

AddressLimiter::Table::iterator AddressLimiter::entry_of(Shard& shard, const AddressKey& key,
                                                         Clock::time_point now) {
  auto found = shard.table.find(key);
  if (found != shard.table.end()) return found;
  if (shard.table.size() >= shard.sweep_at) sweep(shard, now);
  const double burst = std::max(1.0, limits_.handshake_burst);
  const auto index = static_cast<std::uint8_t>(&shard - shards_.data());
  return shard.table.emplace(key, Entry{0, TokenBucket(burst, now), index}).first;
}

// Forgets the clients that hold nothing: no connection and a bucket full again. Run when the
// table has doubled since the last sweep, so its cost per new client stays constant and the
// table holds only clients seen within the last burst / rate seconds or still connected.
void AddressLimiter::sweep(Shard& shard, Clock::time_point now) {
  const double burst = std::max(1.0, limits_.handshake_burst);
  std::erase_if(shard.table, [&](const auto& item) {
    return item.second.connections == 0 &&
           item.second.bucket.full(limits_.handshakes_per_second, burst, now);
  });
  shard.sweep_at = std::max<std::size_t>(64, 2 * shard.table.size());
}

AddressLimiter::Admission AddressLimiter::admit(const io::SocketAddress& peer,
                                                Clock::time_point now) {
  Admission admission;
  const std::optional<AddressKey> key = limited_key(peer);
  if (!key) return admission;
  Shard& shard = shard_of(*key);
  const std::lock_guard lock(shard.mutex);
  Entry& entry = entry_of(shard, *key, now)->second;
  if (limits_.max_connections > 0 && entry.connections >= limits_.max_connections) {
    refused_connections_.fetch_add(1, std::memory_order_relaxed);
    admission.verdict = Verdict::too_many_connections;
    admission.retry_after = retry_after_connections;
    return admission;
  }
  const double rate = limits_.handshakes_per_second;
  if (rate > 0 && !entry.bucket.take(rate, std::max(1.0, limits_.handshake_burst), now)) {
    refused_rate_.fetch_add(1, std::memory_order_relaxed);
    admission.verdict = Verdict::too_fast;
    const double wait = std::chrono::duration<double>(entry.bucket.time_to_token(rate)).count();
    admission.retry_after =
        std::chrono::seconds(std::max<long long>(1, std::llround(std::ceil(wait))));
    return admission;
  }
  ++entry.connections;
  admission.slot = AddressSlot(this, &entry);
  return admission;
}

std::optional<AddressSlot> AddressLimiter::acquire(const io::SocketAddress& peer,
                                                   Clock::time_point now) {
  const std::optional<AddressKey> key = limited_key(peer);
  if (!key) return AddressSlot();
  Shard& shard = shard_of(*key);
  const std::lock_guard lock(shard.mutex);
  Entry& entry = entry_of(shard, *key, now)->second;
  if (limits_.max_connections > 0 && entry.connections >= limits_.max_connections) {
    refused_connections_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  ++entry.connections;
  return AddressSlot(this, &entry);
}

void AddressLimiter::release(void* entry) noexcept {
  auto* counted = static_cast<Entry*>(entry);
  // The entry stays where it is while it counts: sweeps keep it, rehashing moves no node.
  const std::lock_guard lock(shards_[counted->shard].mutex);
  --counted->connections;
}

AddressLimitStats AddressLimiter::stats() const noexcept {
  return {refused_rate_.load(std::memory_order_relaxed),
          refused_connections_.load(std::memory_order_relaxed)};
}

std::size_t AddressLimiter::tracked_clients() const {
  std::size_t count = 0;
  for (const Shard& shard : shards_) {
    const std::lock_guard lock(shard.mutex);
    count += shard.table.size();
  }
  return count;
}

std::size_t AddressLimiter::connections_of(const io::SocketAddress& peer) const {
  const std::optional<AddressKey> key = address_key(peer, limits_.ipv6_prefix_length);
  if (!key) return 0;
  const Shard& shard = shards_[AddressKeyHash{}(*key) % shard_count];
  const std::lock_guard lock(shard.mutex);
  const auto found = shard.table.find(*key);
  return found == shard.table.end() ? 0 : found->second.connections;
}

}  // namespace wsx::server
