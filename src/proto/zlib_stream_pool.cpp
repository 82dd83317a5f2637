#include "proto/zlib_stream_pool.hpp"

#include "proto/stream_resume.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <vector>

namespace wsx::proto::detail {
namespace {

// zlib's allocations go through these so each stream can say what it holds. Every block carries
// its size in a header as wide as the strictest alignment malloc guarantees.
constexpr std::size_t block_header = alignof(std::max_align_t);

voidpf counting_alloc(voidpf opaque, uInt items, uInt size) {
  const std::size_t bytes = static_cast<std::size_t>(items) * size;  // both < 2^32: no overflow
  auto* block = static_cast<unsigned char*>(std::malloc(bytes + block_header));
  if (block == nullptr) return Z_NULL;
  *reinterpret_cast<std::size_t*>(block) = bytes;
  *static_cast<std::size_t*>(opaque) += bytes;
  return block + block_header;
}

void counting_free(voidpf opaque, voidpf address) {
  if (address == Z_NULL) return;
  auto* block = static_cast<unsigned char*>(address) - block_header;
  *static_cast<std::size_t*>(opaque) -= *reinterpret_cast<std::size_t*>(block);
  std::free(block);
}

[[noreturn]] void throw_init_failure(int code) {
  if (code == Z_MEM_ERROR) throw std::bad_alloc();
  throw std::logic_error("zlib rejected permessage-deflate parameters");
}

// A thread serving connections with a few different settings (a client and a server route in
// one process) keeps one spare of each; more would only be memory that an idle thread holds.
constexpr std::size_t max_spares = 4;

struct Spares {
  std::vector<PooledZStream*> streams;  // oldest first
  ~Spares();
};

// Set once the thread's spares are gone (thread exit): a lease released after that, by an object
// destroyed later in the thread's teardown, frees its stream instead of filing it.
thread_local bool spares_destroyed = false;
thread_local Spares spares;

Spares::~Spares() {
  spares_destroyed = true;
  for (PooledZStream* s : streams) delete s;
  streams.clear();
}

PooledZStream* take_spare(PooledZStream::Kind kind, int level, int window_bits, int mem_level,
                          std::uint64_t resume_tag) {
  if (spares_destroyed) return nullptr;
  auto& list = spares.streams;
  auto take = [&](auto it) {
    PooledZStream* s = *it;
    list.erase(std::next(it).base());
    s->resumed = resume_tag != 0 && s->resume_tag == resume_tag;
    s->resume_tag = 0;  // whatever happens now, its previous user cannot resume it
    if (s->resumed) ++resumed_lease_count;
    return s;
  };
  if (resume_tag != 0) {
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
      if ((*it)->resume_tag == resume_tag) return take(it);
    }
  }
  // Newest first: the stream most likely still in cache.
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    if ((*it)->fits(kind, level, window_bits, mem_level)) return take(it);
  }
  return nullptr;
}

}  // namespace

PooledZStream::PooledZStream(Kind k, int lvl, int wbits, int mem)
    : kind(k), level(lvl), window_bits(wbits), mem_level(mem) {
  stream.zalloc = counting_alloc;
  stream.zfree = counting_free;
  stream.opaque = &zlib_bytes;
  // Negative window bits: raw DEFLATE, no zlib header or checksum (RFC 7692 §7.2).
  const int rc = kind == Kind::deflate ? deflateInit2(&stream, level, Z_DEFLATED, -window_bits,
                                                      mem_level, Z_DEFAULT_STRATEGY)
                                       : inflateInit2(&stream, -window_bits);
  if (rc != Z_OK) throw_init_failure(rc);
}

PooledZStream::~PooledZStream() {
  if (kind == Kind::deflate)
    deflateEnd(&stream);
  else
    inflateEnd(&stream);
}

bool PooledZStream::fits(Kind wanted_kind, int wanted_level, int wanted_window_bits,
                         int wanted_mem_level) const noexcept {
  if (kind != wanted_kind) return false;
  // inflateReset2 changes an inflater's window; a deflater's window and memLevel size its
  // tables, so only an identical one will do.
  if (kind == Kind::inflate) return true;
  return level == wanted_level && window_bits == wanted_window_bits &&
         mem_level == wanted_mem_level;
}

void ReturnToPool::operator()(PooledZStream* stream) const noexcept {
  if (stream == nullptr) return;
  if (spares_destroyed) {
    delete stream;
    return;
  }
  auto& list = spares.streams;
  try {
    if (list.size() >= max_spares) {
      delete list.front();
      list.erase(list.begin());
    }
    list.push_back(stream);
  } catch (const std::bad_alloc&) {
    delete stream;  // filing it failed: just free it
  }
}

ZStreamLease lease_deflate_stream(int level, int window_bits, int mem_level,
                                  std::uint64_t resume_tag) {
  if (PooledZStream* s =
          take_spare(PooledZStream::Kind::deflate, level, window_bits, mem_level, resume_tag)) {
    ZStreamLease lease(s);
    if (!s->resumed) deflateReset(&s->stream);
    return lease;
  }
  return ZStreamLease(
      new PooledZStream(PooledZStream::Kind::deflate, level, window_bits, mem_level));
}

ZStreamLease lease_inflate_stream(int window_bits, std::uint64_t resume_tag) {
  if (PooledZStream* s = take_spare(PooledZStream::Kind::inflate, 0, window_bits, 0, resume_tag)) {
    ZStreamLease lease(s);
    if (s->resumed) return lease;
    // A different window size makes zlib free the old window; the new one comes on demand.
    if (inflateReset2(&s->stream, -window_bits) != Z_OK)
      throw std::logic_error("zlib rejected permessage-deflate window");
    s->window_bits = window_bits;
    return lease;
  }
  return ZStreamLease(new PooledZStream(PooledZStream::Kind::inflate, 0, window_bits, 0));
}

std::uint64_t mark_resumable(PooledZStream& stream) noexcept {
  stream.resume_tag = new_resume_tag();
  return stream.resume_tag;
}

std::size_t spare_stream_count() noexcept {
  return spares_destroyed ? 0 : spares.streams.size();
}

std::size_t spare_stream_bytes() noexcept {
  if (spares_destroyed) return 0;
  std::size_t bytes = 0;
  for (const PooledZStream* s : spares.streams) bytes += sizeof(PooledZStream) + s->zlib_bytes;
  return bytes;
}

}  // namespace wsx::proto::detail
