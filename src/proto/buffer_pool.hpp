// Large buffers lent per thread (DESIGN.md: "large buffers are per thread and lent out, not
// owned by each idle connection"). A connection that assembles or queues a big message borrows
// storage from its thread's pool and gives it back when the message is done, so the next big
// message on that thread reuses memory that is already mapped instead of allocating, faulting
// in and freeing a fresh block each time, and an idle connection holds none of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wsx::proto::detail {

// Buffers at most this large are kept, at most this many per thread, and at most
// pooled_bytes_per_thread in all (what a thread retains: the same 16 MiB as four of the largest).
// Larger ones are freed as before. Sixteen, not four: ten connections each queueing frames over
// 64 KiB in one loop iteration give back ten buffers at its end, and the pool must hold them
// for the next one (see reserve_more in connection.cpp).
constexpr std::size_t pooled_buffer_max_capacity = 4 * 1024 * 1024 + 64;
constexpr std::size_t pooled_buffers_per_thread = 16;
constexpr std::size_t pooled_bytes_per_thread = 4 * pooled_buffer_max_capacity;

// Makes `buffer` (which must be empty) able to hold `capacity` bytes without reallocating,
// taking the smallest fitting buffer from this thread's pool when there is one. Returns true if
// it did (`buffer` is then empty); false leaves `buffer` as it was.
bool borrow_buffer(std::vector<std::uint8_t>& buffer, std::size_t capacity);
// borrow_buffer(), but the buffer keeps the size its last user left: those bytes are initialised
// (their values are unspecified), so a borrower that overwrites them in place — a message read
// straight into its storage — does not pay for zeroing them again as resize() would.
bool borrow_buffer_uncleared(std::vector<std::uint8_t>& buffer, std::size_t capacity);

// Gives the storage of `buffer` (its bytes as they are) to this thread's pool when it is worth
// keeping (and the pool has room); otherwise frees it. `buffer` is left empty without storage
// either way.
void return_buffer(std::vector<std::uint8_t>& buffer);

// Buffers currently pooled on this thread, and freeing them all (for tests).
std::size_t pooled_buffer_count();
void clear_buffer_pool();

}  // namespace wsx::proto::detail
