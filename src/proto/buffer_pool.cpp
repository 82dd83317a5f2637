#include "buffer_pool.hpp"

#include <array>
#include <utility>

namespace wsx::proto::detail {
namespace {

using Buffer = std::vector<std::uint8_t>;

// thread_local rather than a lock: buffers are borrowed and returned by connections running on
// this thread's event loop; a buffer returned on another thread simply joins that one's pool.
// A fixed array of slots (an empty slot has no storage), so keeping the pool allocates nothing.
thread_local std::array<Buffer, pooled_buffers_per_thread> slots;

}  // namespace

bool borrow_buffer_uncleared(Buffer& buffer, std::size_t capacity) {
  if (!buffer.empty() || buffer.capacity() >= capacity) return false;
  Buffer* best = nullptr;
  for (Buffer& slot : slots) {
    if (slot.capacity() >= capacity && (best == nullptr || slot.capacity() < best->capacity())) {
      best = &slot;
    }
  }
  if (best == nullptr) return false;
  buffer.swap(*best);
  Buffer().swap(*best);  // frees the small storage `buffer` had, if any; the slot is free
  return true;
}

bool borrow_buffer(Buffer& buffer, std::size_t capacity) {
  if (!borrow_buffer_uncleared(buffer, capacity)) return false;
  buffer.clear();
  return true;
}

void return_buffer(Buffer& buffer) {
  const std::size_t capacity = buffer.capacity();
  if (capacity > 0 && capacity <= pooled_buffer_max_capacity) {
    // Into a free slot, or in place of the smallest pooled buffer if this one is larger, as
    // long as the pool stays within its bytes.
    Buffer* target = &slots[0];
    std::size_t pooled = 0;
    for (Buffer& slot : slots) {
      pooled += slot.capacity();
      if (slot.capacity() < target->capacity()) target = &slot;
    }
    if (target->capacity() < capacity &&
        pooled - target->capacity() + capacity <= pooled_bytes_per_thread) {
      target->swap(buffer);
    }
  }
  Buffer().swap(buffer);
}

std::size_t pooled_buffer_count() {
  std::size_t count = 0;
  for (const Buffer& slot : slots) count += slot.capacity() > 0 ? 1 : 0;
  return count;
}

void clear_buffer_pool() {
  for (Buffer& slot : slots) Buffer().swap(slot);
}

}  // namespace wsx::proto::detail
