#include "session/block_pool.hpp"

#include <sanitizer/asan_interface.h>  // no-op macros unless AddressSanitizer is on
#include <sys/mman.h>

#include <cassert>
#include <cstdint>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define WSX_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSX_POOL_ASAN 1
#endif
#endif

namespace wsx::session {

// At the start of each chunk. A chunk is in exactly one of the pool's two lists: `available_`
// (a returned block, or blocks never carved) or `full_`.
struct BlockPool::Chunk {
  Chunk* prev = nullptr;
  Chunk* next = nullptr;
  FreeBlock* returned = nullptr;  // blocks given back, to hand out first
  std::uint32_t used = 0;         // blocks handed out and not returned
  std::uint32_t carved = 0;       // blocks ever taken from the untouched end
  bool available = false;         // in available_ (else in full_)
};

namespace {

std::size_t round_up(std::size_t value, std::size_t to) {
  return (value + to - 1) / to * to;
}

// Chunks are mapped by hand, not taken from malloc: an aligned malloc of 64 KiB writes its
// headers on one or two pages outside the chunk (up to 27 bytes per session in scenario e), and
// a chunk of ours touches only the pages of the blocks carved from it. Under AddressSanitizer
// they come from its allocator instead, so that LeakSanitizer sees a chunk that is never freed
// and scans the chunks for the pointers sessions hold.
void* map_chunk(std::size_t bytes) {
#ifdef WSX_POOL_ASAN
  return ::operator new (bytes, std::align_val_t{bytes});
#else
  // Twice the size, then the unaligned ends are given back.
  void* mapped =
      ::mmap(nullptr, 2 * bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(mapped);
  const std::uintptr_t chunk = (start + bytes - 1) & ~std::uintptr_t{bytes - 1};
  if (chunk > start) ::munmap(mapped, chunk - start);
  const std::uintptr_t tail = start + 2 * bytes - (chunk + bytes);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(chunk + bytes), tail);
  return reinterpret_cast<void*>(chunk);
#endif
}

void unmap_chunk(void* chunk, std::size_t bytes) noexcept {
#ifdef WSX_POOL_ASAN
  ASAN_UNPOISON_MEMORY_REGION(chunk, bytes);
  ::operator delete (chunk, std::align_val_t{bytes});
#else
  ::munmap(chunk, bytes);
#endif
}

}  // namespace

BlockPool::BlockPool(std::size_t block_size, std::size_t alignment) {
  // A returned block holds the free list's link; AddressSanitizer poisons 8-byte granules.
  if (alignment < alignof(FreeBlock)) alignment = alignof(FreeBlock);
  assert((alignment & (alignment - 1)) == 0 && alignment <= 64);
  block_size_ =
      round_up(block_size < sizeof(FreeBlock) ? sizeof(FreeBlock) : block_size, alignment);
  first_offset_ = round_up(sizeof(Chunk), alignment);
  assert(first_offset_ + block_size_ <= chunk_bytes);
  per_chunk_ = (chunk_bytes - first_offset_) / block_size_;
}

BlockPool::~BlockPool() {
  for (Chunk* list : {available_, full_}) {
    while (list != nullptr) {
      Chunk* next = list->next;
      unmap_chunk(list, chunk_bytes);
      list = next;
    }
  }
}

void* BlockPool::allocate() {
  Chunk& chunk = available_ != nullptr ? *available_ : *new_chunk();
  std::byte* block;
  if (chunk.returned != nullptr) {
    FreeBlock* returned = chunk.returned;
    ASAN_UNPOISON_MEMORY_REGION(returned, block_size_);
    chunk.returned = returned->next;
    block = reinterpret_cast<std::byte*>(returned);
  } else {
    block = reinterpret_cast<std::byte*>(&chunk) + first_offset_ + chunk.carved * block_size_;
    ++chunk.carved;
    ASAN_UNPOISON_MEMORY_REGION(block, block_size_);
  }
  if (chunk.used++ == 0) --empty_chunks_;
  ++in_use_;
  if (chunk.returned == nullptr && chunk.carved == per_chunk_) {
    unlink(chunk);
    link_full(chunk);
  }
  return block;
}

void BlockPool::deallocate(void* block) noexcept {
  const auto address = reinterpret_cast<std::uintptr_t>(block);
  Chunk& chunk = *reinterpret_cast<Chunk*>(address & ~std::uintptr_t{chunk_bytes - 1});
  auto* returned = static_cast<FreeBlock*>(block);
  returned->next = chunk.returned;
  chunk.returned = returned;
  ASAN_POISON_MEMORY_REGION(block, block_size_);  // a use after destroy() is reported
  --in_use_;
  if (!chunk.available) {
    unlink(chunk);
    link_available(chunk);
  }
  if (--chunk.used > 0) return;
  // One empty chunk is kept, so that a connection coming and going at a chunk's boundary does
  // not allocate and free a chunk each time; any other goes back.
  if (empty_chunks_ == 0) {
    ++empty_chunks_;
    return;
  }
  unlink(chunk);
  chunk.~Chunk();
  unmap_chunk(&chunk, chunk_bytes);
  --chunks_;
}

BlockPool::Chunk* BlockPool::new_chunk() {
  void* memory = map_chunk(chunk_bytes);
  auto* chunk = ::new (memory) Chunk;
  // Blocks not handed out are poisoned; carving unpoisons them (touching no page before that).
  ASAN_POISON_MEMORY_REGION(static_cast<std::byte*>(memory) + first_offset_,
                            chunk_bytes - first_offset_);
  ++chunks_;
  ++empty_chunks_;
  link_available(*chunk);
  return chunk;
}

void BlockPool::link_available(Chunk& chunk) noexcept {
  chunk.available = true;
  chunk.prev = nullptr;
  chunk.next = available_;
  if (available_ != nullptr) available_->prev = &chunk;
  available_ = &chunk;
}

void BlockPool::link_full(Chunk& chunk) noexcept {
  chunk.available = false;
  chunk.prev = nullptr;
  chunk.next = full_;
  if (full_ != nullptr) full_->prev = &chunk;
  full_ = &chunk;
}

void BlockPool::unlink(Chunk& chunk) noexcept {
  Chunk*& head = chunk.available ? available_ : full_;
  if (chunk.prev != nullptr) chunk.prev->next = chunk.next;
  if (chunk.next != nullptr) chunk.next->prev = chunk.prev;
  if (head == &chunk) head = chunk.next;
  chunk.prev = chunk.next = nullptr;
}

}  // namespace wsx::session
