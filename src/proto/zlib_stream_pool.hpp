// A per-thread cache of zlib streams, lent to MessageDeflater / MessageInflater for the span of
// one message. A connection keeps only its LZ77 window (the history the next message may refer
// to, 2^window_bits bytes at most) between messages; the ~20 KiB of hash tables, pending buffer
// and Huffman tables belong to the thread and are reused by every connection it serves. An idle
// compressing connection then costs its windows instead of two full zlib states, and a busy
// thread works in one cache-hot state instead of one per connection.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace wsx::proto::detail {

// A z_stream whose allocations are counted (so tests and memory_in_use() can see them), set up
// by deflateInit2 or inflateInit2 with the parameters it is filed under.
struct PooledZStream {
  enum class Kind : unsigned char { deflate, inflate };

  PooledZStream(Kind kind, int level, int window_bits, int mem_level);
  ~PooledZStream();
  PooledZStream(const PooledZStream&) = delete;
  PooledZStream& operator=(const PooledZStream&) = delete;

  // Whether deflateReset/inflateReset2 can turn this stream into one with these parameters.
  bool fits(Kind wanted_kind, int wanted_level, int wanted_window_bits,
            int wanted_mem_level) const noexcept;

  z_stream stream{};
  std::size_t zlib_bytes = 0;  // what zlib holds through the counting allocator
  Kind kind;
  int level;
  int window_bits;
  int mem_level;
  std::uint64_t resume_tag = 0;  // set while returned by a user that may resume it
  bool resumed = false;          // this lease continues the previous one (stream_resume.hpp)
};

struct ReturnToPool {
  void operator()(PooledZStream* stream) const noexcept;
};
using ZStreamLease = std::unique_ptr<PooledZStream, ReturnToPool>;

// A stream ready for a new message: fresh (reset), with these parameters. Reuses one of the
// calling thread's spare streams when one fits, else makes one. Releasing the lease gives the
// stream back to the releasing thread's spares (a few are kept; the rest are freed).
// A spare still carrying `resume_tag` (non-zero: what mark_resumable returned when the caller
// ended its last message on it, see stream_resume.hpp) comes back as it was instead, not reset,
// its history still the caller's window; `resumed` is then set on it.
// Throws std::bad_alloc when zlib cannot allocate.
ZStreamLease lease_deflate_stream(int level, int window_bits, int mem_level,
                                  std::uint64_t resume_tag = 0);
ZStreamLease lease_inflate_stream(int window_bits, std::uint64_t resume_tag = 0);

// Tags a stream whose message ended (after a sync flush) so that its user can resume it; returns
// the tag (never 0).
std::uint64_t mark_resumable(PooledZStream& stream) noexcept;

// Streams the calling thread keeps for reuse, and the bytes they hold (for tests).
std::size_t spare_stream_count() noexcept;
std::size_t spare_stream_bytes() noexcept;

}  // namespace wsx::proto::detail
