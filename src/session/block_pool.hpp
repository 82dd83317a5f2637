// Fixed-size blocks for the objects a server holds by the thousand: its idle sessions.
//
// Why not malloc: every malloc'd block carries a header (8 bytes of a 240-byte chunk), and a
// session allocated between the short-lived allocations of its opening handshake (request,
// response, the handshake driver) is left among the holes they leave when freed — about 35 bytes
// per idle connection in issue 13's scenario e. Here blocks are carved back to back from large
// chunks that hold nothing else: no header, no hole.
//
// A chunk is chunk_bytes mapped from the system, aligned to its size, so a block finds its chunk
// by masking its address. Blocks are carved from a chunk's untouched end only when no returned
// block is left, so pages a pool never needed stay untouched (not resident). A chunk whose blocks
// all came back is given back to the system, except the last one kept to absorb a
// connect/disconnect at the boundary.
//
// Not thread-safe: one owner uses it on one thread at a time. A server worker allocates and
// frees on its loop thread, then destroys what is left from the thread that destroys the worker
// after the loop thread ended (a hand-over ordered by the join, like any other).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "session/layer_export.hpp"

namespace wsx::session {

class WSX_LAYER_API BlockPool {
 public:
  static constexpr std::size_t chunk_bytes = 64 * 1024;

  // Blocks of `block_size` bytes (rounded up to `alignment`, a power of two up to 64).
  BlockPool(std::size_t block_size, std::size_t alignment);
  // Frees every chunk. Objects still in blocks are not destroyed: their owner destroys them
  // first (a server worker destroys its sessions before its pool).
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // Throws std::bad_alloc when a new chunk cannot be had.
  void* allocate();
  // `block` came from allocate() of this pool.
  void deallocate(void* block) noexcept;

  // A T in a block; on an exception from T's constructor the block is returned.
  template <typename T, typename... Args>
  T* create(Args&&... args) {
    static_assert(alignof(T) <= 64);
    void* block = allocate();
    try {
      return ::new (block) T(std::forward<Args>(args)...);
    } catch (...) {
      deallocate(block);
      throw;
    }
  }
  // Destroys an object create() made; through a base with a virtual destructor too (the
  // block is found from the most derived object).
  template <typename T>
  void destroy(T* object) noexcept {
    void* block = most_derived(object);
    object->~T();
    deallocate(block);
  }

  std::size_t block_size() const noexcept { return block_size_; }
  std::size_t blocks_per_chunk() const noexcept { return per_chunk_; }
  std::size_t blocks_in_use() const noexcept { return in_use_; }
  std::size_t chunks() const noexcept { return chunks_; }

 private:
  struct Chunk;
  struct FreeBlock {
    FreeBlock* next;
  };

  template <typename T>
  static void* most_derived(T* object) noexcept {
    if constexpr (std::is_polymorphic_v<T>) {
      return dynamic_cast<void*>(object);
    } else {
      return object;
    }
  }
  Chunk* new_chunk();
  void link_available(Chunk& chunk) noexcept;
  void link_full(Chunk& chunk) noexcept;
  void unlink(Chunk& chunk) noexcept;  // out of the list it is in

  std::size_t block_size_;
  std::size_t first_offset_;  // of the first block in a chunk, after its header
  std::size_t per_chunk_;
  Chunk* available_ = nullptr;  // chunks with a returned or never-carved block
  Chunk* full_ = nullptr;       // the others
  std::size_t in_use_ = 0;
  std::size_t chunks_ = 0;
  std::size_t empty_chunks_ = 0;  // chunks with no block in use (at most one is kept)
};

}  // namespace wsx::session
