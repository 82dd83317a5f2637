// permessage-deflate payload transform (RFC 7692 §7.2): raw DEFLATE through zlib, one sync flush
// per fragment, the 00 00 ff ff tail removed by the sender and put back by the receiver.
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <limits>
#include <new>
#include <stdexcept>

#include "wsx/proto/deflate.hpp"

namespace wsx::proto {
namespace {

// The empty stored block every sync flush ends with; removed from the wire by RFC 7692 §7.2.1.
constexpr std::uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

// zlib counts input and output in uInt; larger spans go through in pieces.
constexpr std::size_t max_zlib_span = std::numeric_limits<uInt>::max();

// zlib's allocations go through these so each object can say what it holds. Every block carries
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

// A z_stream set up for counting_alloc; init/end are the deflate or inflate pair.
struct ZStream {
  z_stream stream{};
  std::size_t zlib_bytes = 0;

  ZStream() {
    stream.zalloc = counting_alloc;
    stream.zfree = counting_free;
    stream.opaque = &zlib_bytes;
  }
  ZStream(const ZStream&) = delete;
  ZStream& operator=(const ZStream&) = delete;
};

[[noreturn]] void throw_init_failure(int code) {
  if (code == Z_MEM_ERROR) throw std::bad_alloc();
  throw std::logic_error("zlib rejected permessage-deflate parameters");
}

// Makes room for `step` more bytes after out[used] without letting the capacity run past
// `capacity_limit` (the most this call may ever need), so a size limit also bounds allocation.
void grow(std::vector<std::uint8_t>& out, std::size_t used, std::size_t step,
          std::size_t capacity_limit) {
  const std::size_t needed = used + step;
  if (out.capacity() < needed) {
    const std::size_t doubled =
        out.capacity() > capacity_limit / 2 ? capacity_limit : out.capacity() * 2;
    out.reserve(std::max(needed, std::min(doubled, capacity_limit)));
  }
  out.resize(needed);
}

}  // namespace

void check_window_bits(std::uint8_t window_bits) {
  if (!is_valid_window_bits(window_bits)) {
    throw std::invalid_argument("permessage-deflate window bits must be 8-15");
  }
}

// ---------------------------------------------------------------------------------------------
// MessageDeflater

struct MessageDeflater::State : ZStream {
  ~State() { deflateEnd(&stream); }
};

MessageDeflater::MessageDeflater(std::uint8_t window_bits, bool no_context_takeover,
                                 const DeflateTuning& tuning)
    : window_bits_(window_bits), no_context_takeover_(no_context_takeover), tuning_(tuning) {
  check_window_bits(window_bits);
  check_window_bits(tuning.window_bits);
  if (tuning.level < 0 || tuning.level > 9)
    throw std::invalid_argument("permessage-deflate level must be 0-9");
  if (tuning.mem_level < 1 || tuning.mem_level > 9)
    throw std::invalid_argument("permessage-deflate memLevel must be 1-9");
  // window_bits_ and tuning_.level become what zlib is given (see the header on window 8).
  if (window_bits == min_window_bits) {
    tuning_.level = 0;  // stored blocks carry no distances, so any window is respected
    window_bits_ = 9;
  } else {
    window_bits_ = std::max<std::uint8_t>(9, std::min(window_bits, tuning.window_bits));
  }
}

MessageDeflater::~MessageDeflater() = default;

std::size_t MessageDeflater::memory_in_use() const noexcept {
  return state_ ? sizeof(State) + state_->zlib_bytes : 0;
}

void MessageDeflater::compress(const std::uint8_t* data, std::size_t size, bool fin,
                               std::vector<std::uint8_t>& out) {
  if (size == 0) {
    // The stream is flushed to a byte boundary after every call, so an empty message (or an
    // empty last fragment) is just the header of an empty stored block: 00 00 00 ff ff without
    // its tail (RFC 7692 §7.2.3.6). No need to wake zlib for that.
    if (fin) {
      out.push_back(0x00);
      if (no_context_takeover_ && state_) deflateReset(&state_->stream);
    }
    return;
  }
  if (!state_) {
    auto state = std::make_unique<State>();
    const int rc = deflateInit2(&state->stream, tuning_.level, Z_DEFLATED, -int{window_bits_},
                                tuning_.mem_level, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) throw_init_failure(rc);
    state_ = std::move(state);
  }
  z_stream& z = state_->stream;
  constexpr std::size_t min_step = 64;
  constexpr std::size_t max_step = 256 * 1024;
  const std::size_t start = out.size();
  std::size_t used = start;
  std::size_t remaining = size;
  z.next_in = const_cast<Bytef*>(data);  // zlib's API is not const-correct; it only reads
  for (;;) {
    if (z.avail_in == 0) {
      z.avail_in = static_cast<uInt>(std::min(remaining, max_zlib_span));
      remaining -= z.avail_in;
    }
    const int flush = remaining == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    // deflateBound covers a whole stream; the sync flush adds at most an empty stored block.
    const std::size_t estimate = deflateBound(&z, z.avail_in) + 8;
    const std::size_t step = std::clamp(estimate, min_step, max_step);
    grow(out, used, step, std::numeric_limits<std::size_t>::max());
    z.next_out = out.data() + used;
    z.avail_out = static_cast<uInt>(step);
    const int rc = deflate(&z, flush);
    used += step - z.avail_out;
    if (rc == Z_STREAM_ERROR) {
      out.resize(used);
      throw std::logic_error("zlib deflate stream error");
    }
    // Done once all input went in and the flush completed (zlib left output space unused).
    if (flush == Z_SYNC_FLUSH && z.avail_in == 0 && z.avail_out != 0) break;
  }
  out.resize(used);
  if (!fin) return;
  // A sync flush after input always ends with the empty stored block; drop its 4 tail octets.
  if (used - start < sizeof sync_tail ||
      !std::equal(std::begin(sync_tail), std::end(sync_tail), out.end() - sizeof sync_tail))
    throw std::logic_error("zlib sync flush did not end with 00 00 ff ff");
  out.resize(used - sizeof sync_tail);
  if (no_context_takeover_) deflateReset(&z);
}

// ---------------------------------------------------------------------------------------------
// MessageInflater

struct MessageInflater::State : ZStream {
  // Whether the data so far ends exactly between two DEFLATE blocks, as every message must once
  // its tail is appended.
  bool at_block_boundary = true;
  ~State() { inflateEnd(&stream); }
};

MessageInflater::MessageInflater(std::uint8_t window_bits, bool no_context_takeover)
    : window_bits_(window_bits), no_context_takeover_(no_context_takeover) {
  check_window_bits(window_bits);
}

MessageInflater::~MessageInflater() = default;

std::size_t MessageInflater::memory_in_use() const noexcept {
  return state_ ? sizeof(State) + state_->zlib_bytes : 0;
}

InflateResult MessageInflater::inflate(const std::uint8_t* data, std::size_t size, bool fin,
                                       std::vector<std::uint8_t>& out,
                                       std::size_t max_message_size) {
  return inflate_into(data, size, fin, out, max_message_size, nullptr);
}

InflateResult MessageInflater::inflate(const std::uint8_t* data, std::size_t size, bool fin,
                                       std::vector<std::uint8_t>& out, std::size_t max_message_size,
                                       InflateSink& sink) {
  return inflate_into(data, size, fin, out, max_message_size, &sink);
}

InflateResult MessageInflater::inflate_into(const std::uint8_t* data, std::size_t size, bool fin,
                                            std::vector<std::uint8_t>& out,
                                            std::size_t max_message_size, InflateSink* sink) {
  if (failure_ != InflateResult::ok) return failure_;
  if (size == 0 && (!fin || !message_has_input_)) return InflateResult::ok;
  message_has_input_ = true;
  if (!state_) {
    auto state = std::make_unique<State>();
    const int rc = inflateInit2(&state->stream, -int{window_bits_});
    if (rc != Z_OK) throw_init_failure(rc);
    state_ = std::move(state);
  }
  // A caller may lower the limit between fragments; what is already out then counts against it.
  InflateResult result = message_output_ > max_message_size
                             ? InflateResult::too_big
                             : feed(data, size, out, max_message_size, sink);
  if (result == InflateResult::ok && fin) {
    result = feed(sync_tail, sizeof sync_tail, out, max_message_size, sink);
    if (result == InflateResult::ok && !state_->at_block_boundary) result = InflateResult::corrupt;
  }
  if (result != InflateResult::ok) {
    failure_ = result;
    state_.reset();
    return result;
  }
  if (fin) {
    message_output_ = 0;
    message_has_input_ = false;
    if (no_context_takeover_) inflateReset(&state_->stream);
  }
  return InflateResult::ok;
}

InflateResult MessageInflater::feed(const std::uint8_t* data, std::size_t size,
                                    std::vector<std::uint8_t>& out, std::size_t max_message_size,
                                    InflateSink* sink) {
  z_stream& z = state_->stream;
  constexpr std::size_t min_step = 256;
  const std::size_t start = out.size();
  std::size_t used = start;
  std::size_t remaining = size;
  // Room for one byte beyond the limit: producing it is how an oversized message shows itself.
  // message_output_ never exceeds the limit here, so the subtraction cannot wrap.
  const auto room_left = [&] {
    const std::size_t allowed = max_message_size - message_output_;
    return allowed == std::numeric_limits<std::size_t>::max() ? allowed : allowed + 1;
  };
  const std::size_t capacity_limit = [&] {
    const std::size_t room = room_left();
    return room > std::numeric_limits<std::size_t>::max() - start ? room : start + room;
  }();
  std::size_t step = std::clamp(size * 4, min_step, max_output_step);
  z.next_in = const_cast<Bytef*>(data);  // zlib's API is not const-correct; it only reads
  z.avail_in = 0;
  bool output_was_full = false;
  for (;;) {
    if (z.avail_in == 0 && remaining > 0) {
      z.avail_in = static_cast<uInt>(std::min(remaining, max_zlib_span));
      remaining -= z.avail_in;
    }
    // Stop when all input is in and zlib had output space to spare (nothing left pending).
    if (z.avail_in == 0 && !output_was_full) break;
    if (used == out.size() && sink != nullptr && used >= max_output_step) {
      // Hand the output over and reuse its room instead of growing.
      if (!sink->on_inflated({out.data(), used})) {
        out.clear();
        return InflateResult::stopped;
      }
      used = 0;
    }
    if (used == out.size()) {
      grow(out, used, std::min(step, room_left()), capacity_limit);
      step = std::min(step * 2, max_output_step);
    }
    const std::size_t space = std::min(out.size() - used, room_left());
    z.next_out = out.data() + used;
    z.avail_out = static_cast<uInt>(std::min(space, max_zlib_span));
    const std::size_t offered = z.avail_out;
    const int rc = ::inflate(&z, Z_SYNC_FLUSH);
    const std::size_t produced = offered - z.avail_out;
    used += produced;
    message_output_ += produced;
    output_was_full = z.avail_out == 0;
    if (message_output_ > max_message_size) {
      out.resize(used);
      return InflateResult::too_big;
    }
    switch (rc) {
      case Z_OK:
        // zlib sets bit 128 of data_type when it stopped just before a block header.
        state_->at_block_boundary = (z.data_type & 128) != 0;
        break;
      case Z_BUF_ERROR:  // no progress was possible (nothing pending): the state is unchanged
        break;
      case Z_STREAM_END:
        // A block with BFINAL set. RFC 7692 §7.2.1 lets blocks follow it, padded to an octet
        // boundary, and the LZ77 window goes on. inflateResetKeep starts a new raw stream at
        // next_in without dropping the window, in O(1): copying the window out and back in
        // (inflateGetDictionary/SetDictionary) would let a peer sending tiny final blocks make
        // us copy 32 KiB per two input bytes.
        inflateResetKeep(&z);
        state_->at_block_boundary = true;
        break;
      case Z_MEM_ERROR:
        out.resize(used);
        throw std::bad_alloc();
      default:  // Z_DATA_ERROR; Z_NEED_DICT and Z_STREAM_ERROR cannot occur on a raw stream
        out.resize(used);
        return InflateResult::corrupt;
    }
  }
  out.resize(used);
  return InflateResult::ok;
}

}  // namespace wsx::proto
