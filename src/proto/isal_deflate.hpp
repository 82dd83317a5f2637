// Raw DEFLATE compression with Intel ISA-L's igzip, for MessageDeflater (DeflateEngine::isal).
// Like the zlib streams (zlib_stream_pool.hpp), an igzip stream (~80 KiB of state plus a level
// buffer) belongs to the thread and is lent for one message; the caller keeps its window and
// primes the stream with it. Builds without ISA-L have the declarations, and
// isal_deflate_built_in() says false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace wsx::proto::detail {

bool isal_deflate_built_in() noexcept;

struct IsalStream;
struct ReturnIsalStream {
  void operator()(IsalStream* stream) const noexcept;
};
using IsalStreamLease = std::unique_ptr<IsalStream, ReturnIsalStream>;

// ISA-L levels are 1-3 (0 is a different, history-less compressor); zlib's 1-9 map onto them.
int isal_level_for(int zlib_level) noexcept;

// A stream for one message, with this level (1-3) and window (9-15), primed with `dictionary`
// (at most 2^window_bits bytes). When the thread's spare still carries `resume_tag` (non-zero:
// what isal_stream_resumable returned when this caller ended its last message on it, see
// stream_resume.hpp) it comes back as it was, its history being that dictionary already, and
// isal_stream_resumed() says so. Throws std::logic_error when built without ISA-L.
IsalStreamLease lease_isal_stream(int isal_level, int window_bits, std::uint64_t resume_tag,
                                  const std::uint8_t* dictionary, std::size_t dictionary_size);

// Tags a stream whose message ended (after a sync flush) so that its user can resume it; returns
// the tag (never 0).
std::uint64_t isal_stream_resumable(IsalStream& stream) noexcept;

// Whether lease_isal_stream resumed this stream instead of priming it (for tests).
bool isal_stream_resumed(const IsalStream& stream) noexcept;

// Compresses [data, data+size) and ends with a sync flush (00 00 ff ff), appending to `out`.
void isal_compress(IsalStream& stream, const std::uint8_t* data, std::size_t size,
                   std::vector<std::uint8_t>& out);

// Bytes the stream holds (state and level buffer), for memory_in_use().
std::size_t isal_stream_bytes(const IsalStream& stream) noexcept;

}  // namespace wsx::proto::detail
