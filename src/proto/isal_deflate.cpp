#include "proto/isal_deflate.hpp"

#include "proto/stream_resume.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#if WSX_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

namespace wsx::proto::detail {

int isal_level_for(int zlib_level) noexcept {
  if (zlib_level <= 2) return 1;
  if (zlib_level <= 5) return 2;
  return 3;
}

#if WSX_HAVE_ISAL

namespace {

// The level buffer holds the hash table and the token buffer of levels 1-3; one sized for the
// largest is enough for all.
constexpr std::size_t level_buffer_size =
    std::max({std::size_t{ISAL_DEF_LVL1_DEFAULT}, std::size_t{ISAL_DEF_LVL2_DEFAULT},
              std::size_t{ISAL_DEF_LVL3_DEFAULT}});

}  // namespace

struct IsalStream {
  isal_zstream stream;
  std::uint64_t resume_tag = 0;  // set while returned by a user that may resume it
  bool resumed = false;          // this lease continues the previous one
  std::unique_ptr<std::uint8_t[]> level_buffer =
      std::make_unique_for_overwrite<std::uint8_t[]>(level_buffer_size);
};

namespace {

// One spare per thread: a thread compresses one message at a time unless it interleaves
// fragmented messages, and those take a stream of their own.
struct Spare {
  std::unique_ptr<IsalStream> stream;
  ~Spare();
};
thread_local bool spare_destroyed = false;  // see zlib_stream_pool.cpp
thread_local Spare spare;
Spare::~Spare() {
  spare_destroyed = true;
}

}  // namespace

bool isal_deflate_built_in() noexcept {
  return true;
}

void ReturnIsalStream::operator()(IsalStream* stream) const noexcept {
  if (spare_destroyed || spare.stream) {
    delete stream;
    return;
  }
  spare.stream.reset(stream);
}

IsalStreamLease lease_isal_stream(int isal_level, int window_bits, std::uint64_t resume_tag,
                                  const std::uint8_t* dictionary, std::size_t dictionary_size) {
  IsalStreamLease lease;
  if (!spare_destroyed && spare.stream) {
    lease.reset(spare.stream.release());
  } else {
    lease.reset(new IsalStream);
  }
  // igzip counts its input in 32 bits; a stream is primed afresh long before that wraps.
  constexpr std::uint32_t resume_input_limit = 1u << 30;
  lease->resumed = resume_tag != 0 && lease->resume_tag == resume_tag &&
                   lease->stream.total_in < resume_input_limit;
  lease->resume_tag = 0;  // whatever happens now, its previous user cannot resume it
  if (lease->resumed) {
    ++resumed_lease_count;
    return lease;
  }
  isal_zstream& z = lease->stream;
  isal_deflate_init(&z);
  z.level = static_cast<std::uint32_t>(isal_level);
  z.level_buf = lease->level_buffer.get();
  z.level_buf_size = static_cast<std::uint32_t>(level_buffer_size);
  // Distances never exceed 2^window_bits: what the peer's inflater was promised.
  z.hist_bits = static_cast<std::uint16_t>(window_bits);
  z.gzip_flag = IGZIP_DEFLATE;
  z.flush = SYNC_FLUSH;
  z.end_of_stream = 0;
  if (dictionary_size > 0 &&
      isal_deflate_set_dict(&z, const_cast<std::uint8_t*>(dictionary),  // only read
                            static_cast<std::uint32_t>(dictionary_size)) != COMP_OK)
    throw std::logic_error("isal_deflate_set_dict failed");
  return lease;
}

void isal_compress(IsalStream& stream, const std::uint8_t* data, std::size_t size,
                   std::vector<std::uint8_t>& out) {
  isal_zstream& z = stream.stream;
  constexpr std::size_t max_span = std::numeric_limits<std::uint32_t>::max() / 2;
  constexpr std::size_t max_step = 256 * 1024;
  std::size_t used = out.size();
  std::size_t remaining = size;
  z.next_in = const_cast<std::uint8_t*>(data);  // only read
  z.avail_in = 0;
  for (;;) {
    if (z.avail_in == 0) {
      z.avail_in = static_cast<std::uint32_t>(std::min(remaining, max_span));
      remaining -= z.avail_in;
    }
    // Stored blocks bound the output: the input plus 5 octets per 64 KiB and the flush.
    const std::size_t step =
        std::clamp<std::size_t>(z.avail_in + z.avail_in / 8 + 64, 64, max_step);
    if (out.size() < used + step) out.resize(used + step);
    z.next_out = out.data() + used;
    z.avail_out = static_cast<std::uint32_t>(out.size() - used);
    const std::size_t offered = z.avail_out;
    const int rc = isal_deflate(&z);
    used += offered - z.avail_out;
    if (rc != COMP_OK) {
      out.resize(used);
      throw std::logic_error("isal_deflate failed");
    }
    // Done once all input went in and the flush completed (output space was left over).
    if (remaining == 0 && z.avail_in == 0 && z.avail_out != 0) break;
  }
  out.resize(used);
  if (z.internal_state.state != ZSTATE_NEW_HDR)
    throw std::logic_error("isal_deflate did not flush");
}

std::uint64_t isal_stream_resumable(IsalStream& stream) noexcept {
  stream.resume_tag = new_resume_tag();
  return stream.resume_tag;
}

bool isal_stream_resumed(const IsalStream& stream) noexcept {
  return stream.resumed;
}

std::size_t isal_stream_bytes(const IsalStream&) noexcept {
  return sizeof(IsalStream) + level_buffer_size;
}

#else  // !WSX_HAVE_ISAL

struct IsalStream {};

bool isal_deflate_built_in() noexcept {
  return false;
}

void ReturnIsalStream::operator()(IsalStream* stream) const noexcept {
  delete stream;
}

IsalStreamLease lease_isal_stream(int, int, std::uint64_t, const std::uint8_t*, std::size_t) {
  throw std::logic_error("wsx was built without ISA-L");
}

std::uint64_t isal_stream_resumable(IsalStream&) noexcept {
  return 0;
}

bool isal_stream_resumed(const IsalStream&) noexcept {
  return false;
}

void isal_compress(IsalStream&, const std::uint8_t*, std::size_t, std::vector<std::uint8_t>&) {
  throw std::logic_error("wsx was built without ISA-L");
}

std::size_t isal_stream_bytes(const IsalStream&) noexcept {
  return 0;
}

#endif

}  // namespace wsx::proto::detail
