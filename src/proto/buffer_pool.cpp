#include "buffer_pool.hpp"

#include <algorithm>
#include <utility>

namespace wsx::proto::detail {
namespace {

// thread_local rather than a lock: buffers are borrowed and returned by connections running on
// this thread's event loop; a buffer returned on another thread simply joins that one's pool.
thread_local std::vector<std::vector<std::uint8_t>> pool;

}  // namespace

bool borrow_buffer(std::vector<std::uint8_t>& buffer, std::size_t capacity) {
  if (!buffer.empty() || buffer.capacity() >= capacity) return false;
  auto best = pool.end();
  for (auto it = pool.begin(); it != pool.end(); ++it) {
    if (it->capacity() >= capacity && (best == pool.end() || it->capacity() < best->capacity())) {
      best = it;
    }
  }
  if (best == pool.end()) return false;
  buffer.swap(*best);
  pool.erase(best);  // frees the small storage `buffer` had, if any
  return true;
}

void return_buffer(std::vector<std::uint8_t>& buffer) {
  buffer.clear();
  const std::size_t capacity = buffer.capacity();
  if (capacity > pooled_buffer_max_capacity || capacity == 0) {
    std::vector<std::uint8_t>().swap(buffer);
    return;
  }
  if (pool.size() < pooled_buffers_per_thread) {
    pool.emplace_back().swap(buffer);
    return;
  }
  // Full: keep the larger of this buffer and the smallest pooled one.
  auto smallest = std::min_element(pool.begin(), pool.end(), [](const auto& a, const auto& b) {
    return a.capacity() < b.capacity();
  });
  if (smallest->capacity() < capacity) smallest->swap(buffer);
  std::vector<std::uint8_t>().swap(buffer);
}

std::size_t pooled_buffer_count() {
  return pool.size();
}

void clear_buffer_pool() {
  pool.clear();
}

}  // namespace wsx::proto::detail
