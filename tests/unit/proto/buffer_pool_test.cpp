#include "../../../src/proto/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace wsx::proto::detail {
namespace {

using Buffer = std::vector<std::uint8_t>;

Buffer with_capacity(std::size_t capacity) {
  Buffer b;
  b.reserve(capacity);
  b.push_back(1);  // returned buffers are cleared
  return b;
}

TEST(BufferPool, ReturnedStorageIsBorrowedBackWithoutAllocating) {
  clear_buffer_pool();
  Buffer big = with_capacity(1 << 20);
  const std::uint8_t* storage = big.data();
  return_buffer(big);
  EXPECT_EQ(big.capacity(), 0u);
  EXPECT_EQ(pooled_buffer_count(), 1u);

  Buffer next;
  ASSERT_TRUE(borrow_buffer(next, 500 * 1024));
  EXPECT_EQ(next.data(), storage);  // the same, already mapped memory
  EXPECT_TRUE(next.empty());
  EXPECT_GE(next.capacity(), 500u * 1024);
  EXPECT_EQ(pooled_buffer_count(), 0u);
}

TEST(BufferPool, BorrowTakesTheSmallestThatFits) {
  clear_buffer_pool();
  for (std::size_t size : {std::size_t{4} << 20, std::size_t{1} << 20, std::size_t{2} << 20}) {
    Buffer b = with_capacity(size);
    return_buffer(b);
  }
  Buffer b;
  ASSERT_TRUE(borrow_buffer(b, (1 << 20) + 1));
  EXPECT_GE(b.capacity(), std::size_t{2} << 20);
  EXPECT_LT(b.capacity(), std::size_t{4} << 20);
  Buffer too_big;
  EXPECT_FALSE(borrow_buffer(too_big, std::size_t{8} << 20));
  EXPECT_EQ(too_big.capacity(), 0u);
  Buffer not_empty = {1, 2, 3};
  EXPECT_FALSE(borrow_buffer(not_empty, 1 << 20));  // only empty buffers borrow
}

TEST(BufferPool, KeepsABoundedNumberOfBoundedBuffers) {
  clear_buffer_pool();
  Buffer huge = with_capacity(pooled_buffer_max_capacity + 1);
  return_buffer(huge);
  EXPECT_EQ(pooled_buffer_count(), 0u);  // too large to keep: freed
  EXPECT_EQ(huge.capacity(), 0u);
  for (std::size_t i = 0; i < pooled_buffers_per_thread + 3; ++i) {
    Buffer b = with_capacity((i + 1) * 64 * 1024);
    return_buffer(b);
  }
  EXPECT_EQ(pooled_buffer_count(), pooled_buffers_per_thread);
  // When full, the larger buffers are the ones kept.
  Buffer b;
  EXPECT_TRUE(borrow_buffer(b, (pooled_buffers_per_thread + 3) * 64 * 1024));
}

// Ten connections each queueing a frame just over 64 KiB in one loop iteration give ten such
// buffers back at its end: all are kept for the next iteration (a pool of four freed six, which
// the allocator returned to the system and faulted in again for every message).
TEST(BufferPool, KeepsTheQueueBuffersOfTenConnections) {
  clear_buffer_pool();
  std::vector<const std::uint8_t*> storages;
  for (int i = 0; i < 10; ++i) {
    Buffer b = with_capacity(2 * (64 * 1024 + 14));
    storages.push_back(b.data());
    return_buffer(b);
  }
  EXPECT_EQ(pooled_buffer_count(), 10u);
  for (int i = 0; i < 10; ++i) {
    Buffer b;
    ASSERT_TRUE(borrow_buffer(b, 2 * (64 * 1024 + 14)));
    EXPECT_NE(std::find(storages.begin(), storages.end(), b.data()), storages.end());
  }
  EXPECT_EQ(pooled_buffer_count(), 0u);
}

// However many slots, a thread keeps at most pooled_bytes_per_thread: four of the largest.
TEST(BufferPool, KeepsABoundedNumberOfBytes) {
  clear_buffer_pool();
  for (int i = 0; i < 5; ++i) {
    Buffer b = with_capacity(pooled_buffer_max_capacity);
    return_buffer(b);
  }
  EXPECT_EQ(pooled_buffer_count(), 4u);
  Buffer more = with_capacity(1 << 20);
  return_buffer(more);  // no slot is smaller and the bytes are used up: freed
  EXPECT_EQ(pooled_buffer_count(), 4u);
  EXPECT_EQ(more.capacity(), 0u);
  std::size_t pooled = 0;
  for (int i = 0; i < 4; ++i) {
    Buffer b;
    ASSERT_TRUE(borrow_buffer(b, 1));
    pooled += b.capacity();
  }
  EXPECT_LE(pooled, pooled_bytes_per_thread);
}

TEST(BufferPool, AnUnclearedBorrowKeepsTheBytesItsLastUserLeft) {
  clear_buffer_pool();
  Buffer big;
  big.reserve(1 << 20);
  big.assign(700 * 1024, 0x5a);
  return_buffer(big);
  Buffer next;
  ASSERT_TRUE(borrow_buffer_uncleared(next, 500 * 1024));
  // Initialised already: a reader that fills it in place need not zero it again (resize would).
  ASSERT_EQ(next.size(), 700u * 1024);
  EXPECT_EQ(next[700 * 1024 - 1], 0x5a);
  return_buffer(next);
  Buffer cleared;
  ASSERT_TRUE(borrow_buffer(cleared, 500 * 1024));
  EXPECT_TRUE(cleared.empty());  // the usual borrow is empty
  Buffer not_empty = {1};
  EXPECT_FALSE(borrow_buffer_uncleared(not_empty, 1 << 20));
}

TEST(BufferPool, EachThreadHasItsOwnPool) {
  clear_buffer_pool();
  Buffer b = with_capacity(1 << 20);
  return_buffer(b);
  std::size_t other_thread_count = 99;
  std::thread([&] { other_thread_count = pooled_buffer_count(); }).join();
  EXPECT_EQ(other_thread_count, 0u);
  EXPECT_EQ(pooled_buffer_count(), 1u);
}

}  // namespace
}  // namespace wsx::proto::detail
