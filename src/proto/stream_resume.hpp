// Resuming a thread's compression stream. A codec leases a stream from its thread for one message
// and primes it with its window (priming costs more than compressing a 1 KiB message: igzip
// re-hashes the whole window, zlib's deflateSetDictionary inserts it into its hash chains). But
// the messages of one connection usually come in runs (a read brings several frames, an echo
// answers each), and then the stream a codec gets back is the one it just returned, its history
// already exactly the codec's window. So a codec that ends a message on a stream tags it, keeps
// the tag, and offers it at its next lease: a stream still carrying that tag was used by no one
// since and is handed back as it was, unprimed. Tags are unique in the process, so a stream
// used by another codec, on another thread, or after a failure never matches.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace wsx::proto::detail {

// A tag no stream has carried before; never 0 (0 means "nothing to resume").
inline std::uint64_t new_resume_tag() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

// Leases this thread resumed instead of priming (for tests).
inline thread_local std::size_t resumed_lease_count = 0;

}  // namespace wsx::proto::detail
