// BlockPool: the fixed-size blocks a server worker keeps its TCP sessions in.
#include "session/block_pool.hpp"

#include <gtest/gtest.h>
#include <sanitizer/asan_interface.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "session/tcp_carrier.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define WSX_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSX_TEST_ASAN 1
#endif
#endif

// Every test ends by destroying its pool: in the AddressSanitizer build (WSX_SANITIZE) a chunk
// the destructor did not free fails the run (LeakSanitizer).
namespace wsx::session {
namespace {

TEST(BlockPool, AReturnedBlockIsHandedOutAgain) {
  BlockPool pool(200, 8);
  void* first = pool.allocate();
  void* second = pool.allocate();
  EXPECT_NE(first, second);
  pool.deallocate(first);
  EXPECT_EQ(pool.allocate(), first);  // before any block never used
  EXPECT_EQ(pool.blocks_in_use(), 2u);
  pool.deallocate(first);
  pool.deallocate(second);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
}

// Blocks of one chunk lie back to back (no header, no gap), aligned, and never overlap.
TEST(BlockPool, BlocksAreAlignedDistinctAndPackedWithoutHeaders) {
  BlockPool pool(200, 16);
  EXPECT_EQ(pool.block_size(), 208u);  // rounded up to the alignment
  const std::size_t count = pool.blocks_per_chunk() * 3 + 5;
  std::vector<std::uintptr_t> blocks;
  for (std::size_t i = 0; i < count; ++i) {
    void* block = pool.allocate();
    std::memset(block, 0xab, pool.block_size());  // all of it is ours (ASan checks)
    blocks.push_back(reinterpret_cast<std::uintptr_t>(block));
  }
  EXPECT_EQ(pool.chunks(), 4u);
  // A chunk loses its small header and less than one block at its end.
  EXPECT_GT(pool.blocks_per_chunk() * pool.block_size(),
            BlockPool::chunk_bytes - 64 - pool.block_size());
  std::vector<std::uintptr_t> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  std::size_t adjacent = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_EQ(sorted[i] % 16, 0u);
    if (i > 0) {
      EXPECT_GE(sorted[i] - sorted[i - 1], pool.block_size());
      adjacent += sorted[i] - sorted[i - 1] == pool.block_size() ? 1 : 0;
    }
  }
  EXPECT_EQ(adjacent, count - pool.chunks());  // only the step from one chunk to the next differs
  for (std::uintptr_t block : blocks) pool.deallocate(reinterpret_cast<void*>(block));
}

// A chunk whose blocks all came back is freed, except one kept for the next allocation.
TEST(BlockPool, EmptyChunksGoBackButOne) {
  BlockPool pool(256, 8);
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < pool.blocks_per_chunk() * 4; ++i) blocks.push_back(pool.allocate());
  EXPECT_EQ(pool.chunks(), 4u);
  for (void* block : blocks) pool.deallocate(block);
  EXPECT_EQ(pool.chunks(), 1u);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  // Coming and going at a boundary does not allocate a chunk each time.
  void* again = pool.allocate();
  pool.deallocate(again);
  EXPECT_EQ(pool.allocate(), again);
  EXPECT_EQ(pool.chunks(), 1u);
  pool.deallocate(again);
}

// Blocks returned in any order are all reused before a new chunk is taken.
TEST(BlockPool, ReturnedBlocksAreReusedBeforeNewChunks) {
  BlockPool pool(232, 8);
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < pool.blocks_per_chunk() * 2; ++i) blocks.push_back(pool.allocate());
  std::set<void*> returned;
  for (std::size_t i = 0; i < blocks.size(); i += 3) {
    pool.deallocate(blocks[i]);
    returned.insert(blocks[i]);
  }
  for (std::size_t i = 0; i < returned.size(); ++i) {
    EXPECT_EQ(returned.count(pool.allocate()), 1u);
  }
  EXPECT_EQ(pool.chunks(), 2u);
  for (void* block : blocks) pool.deallocate(block);
}

struct Counted {
  explicit Counted(int& live, bool fail = false) : live_(live) {
    if (fail) throw std::runtime_error("constructor failed");
    ++live_;
  }
  virtual ~Counted() { --live_; }
  int& live_;
};

struct Derived final : Counted {
  explicit Derived(int& live) : Counted(live) {}
  char payload[40] = {};
};

TEST(BlockPool, CreateAndDestroyRunConstructorAndDestructor) {
  BlockPool pool(sizeof(Derived), alignof(Derived));
  int live = 0;
  Derived* object = pool.create<Derived>(live);
  EXPECT_EQ(live, 1);
  Counted* base = object;
  pool.destroy(base);  // through the base: the virtual destructor, then the block
  EXPECT_EQ(live, 0);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
}

TEST(BlockPool, AThrowingConstructorReturnsItsBlock) {
  BlockPool pool(sizeof(Counted), alignof(Counted));
  int live = 0;
  EXPECT_THROW(pool.create<Counted>(live, true), std::runtime_error);
  EXPECT_EQ(live, 0);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
}

// A pool destroyed with blocks still handed out (raw memory here: objects in them are the
// owner's to destroy first) frees every chunk, full, partly used or empty (LeakSanitizer, above).
TEST(BlockPool, DestroyingThePoolFreesEveryChunk) {
  BlockPool pool(512, 8);
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < pool.blocks_per_chunk() * 4; ++i) blocks.push_back(pool.allocate());
  // Chunk 0 stays full, chunk 1 partly used, chunks 2 and 3 emptied (one of them kept).
  for (std::size_t i = pool.blocks_per_chunk() + 3; i < blocks.size(); ++i) {
    pool.deallocate(blocks[i]);
  }
  EXPECT_EQ(pool.chunks(), 3u);
  EXPECT_EQ(pool.blocks_in_use(), pool.blocks_per_chunk() + 3);
}

// The server's sessions: TcpSession fits a block, blocks are not padded beyond its alignment.
TEST(BlockPool, HoldsTcpSessionsWithoutPadding) {
  BlockPool pool(sizeof(TcpSession), alignof(TcpSession));
  EXPECT_EQ(pool.block_size(), sizeof(TcpSession));
}

// A worker's loop thread allocates; the thread that destroys the worker after joining it frees
// what is left, and the pool goes on from there.
TEST(BlockPool, BlocksAllocatedOnOneThreadAreFreedOnAnother) {
  BlockPool pool(208, 8);
  int live = 0;
  std::vector<Derived*> objects;
  std::thread loop_thread([&] {
    for (int i = 0; i < 1000; ++i) objects.push_back(pool.create<Derived>(live));
  });
  loop_thread.join();
  EXPECT_EQ(live, 1000);
  for (Derived* object : objects) pool.destroy(object);
  EXPECT_EQ(live, 0);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  EXPECT_EQ(pool.chunks(), 1u);
  Derived* reused = pool.create<Derived>(live);
  pool.destroy(reused);
}

// One pool per worker thread: pools used at once on several threads share nothing.
TEST(BlockPool, PoolsOfDifferentThreadsRunAtOnce) {
  constexpr int threads = 4;
  std::vector<std::thread> workers;
  std::vector<std::size_t> peaks(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([t, &peaks] {
      BlockPool pool(216, 8);
      std::vector<void*> held;
      for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 400; ++i) {
          auto* block = static_cast<std::uint8_t*>(pool.allocate());
          block[0] = static_cast<std::uint8_t>(t);
          held.push_back(block);
        }
        std::vector<void*> kept;  // every other block goes back
        for (std::size_t i = 0; i < held.size(); ++i) {
          if (i % 2 == 0) {
            pool.deallocate(held[i]);
          } else {
            kept.push_back(held[i]);
          }
        }
        held.swap(kept);
        for (void* block : held) {
          EXPECT_EQ(*static_cast<std::uint8_t*>(block), t);
        }
        peaks[t] = std::max(peaks[t], pool.chunks());
      }
      for (void* block : held) pool.deallocate(block);
    });
  }
  for (std::thread& worker : workers) worker.join();
  for (std::size_t peak : peaks) EXPECT_GE(peak, 2u);
}

// A block used after destroy() is an error AddressSanitizer reports, as it would for malloc's.
TEST(BlockPool, ReturnedBlocksArePoisonedUnderAddressSanitizer) {
#ifdef WSX_TEST_ASAN
  BlockPool pool(64, 8);
  void* block = pool.allocate();
  void* untouched = pool.allocate();
  EXPECT_FALSE(__asan_address_is_poisoned(block));
  pool.deallocate(block);
  EXPECT_TRUE(__asan_address_is_poisoned(block));
  EXPECT_TRUE(__asan_address_is_poisoned(static_cast<char*>(block) + 63));
  EXPECT_FALSE(__asan_address_is_poisoned(untouched));
  // Blocks never handed out are poisoned too.
  EXPECT_TRUE(__asan_address_is_poisoned(static_cast<char*>(untouched) + 64));
  EXPECT_EQ(pool.allocate(), block);
  EXPECT_FALSE(__asan_address_is_poisoned(block));
  pool.deallocate(block);
  pool.deallocate(untouched);
#else
  GTEST_SKIP() << "not an AddressSanitizer build";
#endif
}

}  // namespace
}  // namespace wsx::session
