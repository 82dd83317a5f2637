// permessage-deflate payload transform (RFC 7692 §7.2): raw DEFLATE through zlib, one sync flush
// per fragment, the 00 00 ff ff tail removed by the sender and put back by the receiver.
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include "proto/isal_deflate.hpp"
#include "proto/whole_message_inflate.hpp"
#include "proto/zlib_stream_pool.hpp"
#include "wsx/proto/deflate.hpp"

namespace wsx::proto {
namespace {

// The empty stored block every sync flush ends with; removed from the wire by RFC 7692 §7.2.1.
constexpr std::uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

// zlib counts input and output in uInt; larger spans go through in pieces.
constexpr std::size_t max_zlib_span = std::numeric_limits<uInt>::max();

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

// Between messages a deflater keeps only its window: the last 2^window bits bytes it compressed,
// which the next message may refer back to (context takeover). The zlib stream is leased from
// the thread for the span of a message and primed with that window again.
struct WindowKeeper {
  std::unique_ptr<std::uint8_t[]> bytes;
  uInt size = 0;  // bytes of it in use
  uInt capacity = 0;

  std::size_t memory_in_use() const noexcept { return capacity; }

  // Copies the stream's window out (getter: deflateGetDictionary or inflateGetDictionary).
  // `at_most` bounds it: what it held before plus what the message added, capped at 2^window.
  template <typename Getter>
  void save(z_stream& z, Getter getter, std::size_t at_most, int window_bits) {
    reserve(std::min(at_most, std::size_t{1} << window_bits), window_bits, false);
    uInt got = capacity;
    if (getter(&z, bytes.get(), &got) != Z_OK || got > capacity)
      throw std::logic_error("zlib could not hand out its window");
    size = got;
  }

  // Replaces the window with the last 2^window_bits bytes of [data, data+n).
  void assign(const std::uint8_t* data, std::size_t n, int window_bits) {
    size = 0;
    if (n > 0) append(data, n, window_bits);
  }

  // Slides [data, data+n) into the window (for ISA-L, which cannot hand its window out).
  void append(const std::uint8_t* data, std::size_t n, int window_bits) {
    const std::size_t limit = std::size_t{1} << window_bits;
    if (n >= limit) {
      reserve(limit, window_bits, false);
      std::memcpy(bytes.get(), data + (n - limit), limit);
      size = static_cast<uInt>(limit);
      return;
    }
    const std::size_t kept = std::min<std::size_t>(size, limit - n);
    reserve(kept + n, window_bits, true);
    std::memmove(bytes.get(), bytes.get() + (size - kept), kept);
    std::memcpy(bytes.get() + kept, data, n);
    size = static_cast<uInt>(kept + n);
  }

 private:
  // Powers of two from 256 up to 2^window_bits: a connection's window reaches its final size in
  // a few steps, and one that only saw short messages stays short.
  void reserve(std::size_t needed, int window_bits, bool keep_content) {
    if (needed <= capacity) return;
    std::size_t grown = std::max<std::size_t>(capacity, 256);
    while (grown < needed) grown *= 2;
    grown = std::min(grown, std::size_t{1} << window_bits);
    auto fresh = std::make_unique_for_overwrite<std::uint8_t[]>(grown);
    if (keep_content && size > 0) std::memcpy(fresh.get(), bytes.get(), size);
    bytes = std::move(fresh);
    capacity = static_cast<uInt>(grown);
  }
};

struct MessageDeflater::State {
  detail::ZStreamLease stream;    // during a message only (zlib)
  detail::IsalStreamLease isal;   // during a message only (ISA-L)
  WindowKeeper window;            // with context takeover
  std::size_t message_bytes = 0;  // compressed in this message so far
  // The tag of the stream our last message ended on: while no one else used it, the next message
  // goes on with it unprimed (stream_resume.hpp).
  std::uint64_t resume_tag = 0;
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
  // ISA-L has no level 0 with a history (and stored blocks need no speed).
  use_isal_ =
      tuning_.level > 0 && tuning.engine != DeflateEngine::zlib && detail::isal_deflate_built_in();
}

MessageDeflater::~MessageDeflater() = default;

std::size_t MessageDeflater::memory_in_use() const noexcept {
  if (!state_) return 0;
  std::size_t bytes = sizeof(State) + state_->window.memory_in_use();
  if (state_->stream) bytes += sizeof(detail::PooledZStream) + state_->stream->zlib_bytes;
  if (state_->isal) bytes += detail::isal_stream_bytes(*state_->isal);
  return bytes;
}

bool MessageDeflater::holds_stream() const noexcept {
  return state_ && (state_->stream != nullptr || state_->isal != nullptr);
}

void MessageDeflater::end_message() {
  if (!state_) return;
  if (no_context_takeover_) {
    state_.reset();  // nothing to remember: the stream goes back to the thread
    return;
  }
  if (state_->isal) {
    // Its window was kept as the input went in.
    state_->resume_tag = detail::isal_stream_resumable(*state_->isal);
    state_->isal.reset();
  }
  if (!state_->stream) return;
  // After a sync flush zlib has no lookahead, so this is exactly the last 2^window bytes.
  state_->window.save(state_->stream->stream, deflateGetDictionary,
                      state_->window.size + state_->message_bytes, window_bits_);
  state_->resume_tag = detail::mark_resumable(*state_->stream);
  state_->stream.reset();
}

void MessageDeflater::compress(const std::uint8_t* data, std::size_t size, bool fin,
                               std::vector<std::uint8_t>& out) {
  if (size == 0) {
    // The stream is flushed to a byte boundary after every call, so an empty message (or an
    // empty last fragment) is just the header of an empty stored block: 00 00 00 ff ff without
    // its tail (RFC 7692 §7.2.3.6). No need to wake zlib for that.
    if (fin) {
      out.push_back(0x00);
      end_message();
    }
    return;
  }
  if (!state_) state_ = std::make_unique<State>();
  const std::size_t start = out.size();
  if (use_isal_) {
    compress_isal(data, size, out);
  } else {
    compress_zlib(data, size, out);
  }
  if (!fin) return;
  // A sync flush after input always ends with the empty stored block; drop its 4 tail octets.
  if (out.size() - start < sizeof sync_tail ||
      !std::equal(std::begin(sync_tail), std::end(sync_tail), out.end() - sizeof sync_tail))
    throw std::logic_error("sync flush did not end with 00 00 ff ff");
  out.resize(out.size() - sizeof sync_tail);
  end_message();
}

void MessageDeflater::compress_isal(const std::uint8_t* data, std::size_t size,
                                    std::vector<std::uint8_t>& out) {
  WindowKeeper& window = state_->window;
  if (!state_->isal) {
    state_->isal = detail::lease_isal_stream(detail::isal_level_for(tuning_.level), window_bits_,
                                             state_->resume_tag, window.bytes.get(), window.size);
  }
  detail::isal_compress(*state_->isal, data, size, out);
  if (!no_context_takeover_) window.append(data, size, window_bits_);
}

void MessageDeflater::compress_zlib(const std::uint8_t* data, std::size_t size,
                                    std::vector<std::uint8_t>& out) {
  if (!state_->stream) {
    state_->stream = detail::lease_deflate_stream(tuning_.level, window_bits_, tuning_.mem_level,
                                                  state_->resume_tag);
    state_->message_bytes = 0;
    const WindowKeeper& window = state_->window;
    if (!state_->stream->resumed && window.size > 0 &&
        deflateSetDictionary(&state_->stream->stream, window.bytes.get(), window.size) != Z_OK)
      throw std::logic_error("zlib deflateSetDictionary failed");
  }
  state_->message_bytes += size;
  z_stream& z = state_->stream->stream;
  constexpr std::size_t min_step = 64;
  constexpr std::size_t max_step = 256 * 1024;
  std::size_t used = out.size();
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
}
// ---------------------------------------------------------------------------------------------
// MessageInflater

// Like the deflater, the inflater keeps the peer's window between messages and leases a zlib
// stream for each message.
//
// A peer window of 8 is kept as 256 bytes, not the 512 of zlib's "8 means 9": a zlib peer that
// negotiated 8 compresses with 9 (raw deflateInit2 refuses 8 since zlib 1.2.9; Node raises it to
// 9), but zlib's deflate matches at most w_size - MIN_LOOKAHEAD = 250 bytes back, so its stream
// needs only 256 bytes of history; the test
// DeflateCodecWindows.ZlibPeerAtWindowEightIsReadByAnEightBitInflater checks every distance.
//
// A compressor that reaches further back than its window does not keep to what it agreed to
// (RFC 7692 §7.1.2), and not every such reach fails. Reaching before the start of the kept window
// fails on both paths (corrupt, 1002). Reaching past the window into the message's own earlier
// output: zlib (feed) reads a distance up to the window zlib holds plus what the current
// inflate() call produced, so it may pass or fail with the fragment and output-step boundaries;
// the whole-message path (libdeflate) reads every distance up to 32768 within the kept window
// plus the message so far. A stream that keeps to its window reads the same on both.
struct MessageInflater::State {
  detail::ZStreamLease stream;   // during a message only
  WindowKeeper window;           // with context takeover
  std::uint64_t resume_tag = 0;  // as MessageDeflater::State's
  // Whether the data so far ends exactly between two DEFLATE blocks, as every message must once
  // its tail is appended.
  bool at_block_boundary = true;
};

MessageInflater::MessageInflater(std::uint8_t window_bits, bool no_context_takeover,
                                 DeflateEngine engine)
    : window_bits_(window_bits), no_context_takeover_(no_context_takeover) {
  check_window_bits(window_bits);
  use_whole_message_path_ =
      engine != DeflateEngine::zlib && detail::whole_message_inflate_built_in();
}

MessageInflater::~MessageInflater() = default;

std::size_t MessageInflater::memory_in_use() const noexcept {
  if (!state_) return 0;
  std::size_t bytes = sizeof(State) + state_->window.memory_in_use();
  if (state_->stream) bytes += sizeof(detail::PooledZStream) + state_->stream->zlib_bytes;
  return bytes;
}

bool MessageInflater::holds_stream() const noexcept {
  return state_ && state_->stream != nullptr;
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
  // A message in one piece: libdeflate, unless zlib must decide (whole_message_inflate.hpp). A
  // sink would need the output handed over in pieces only from max_output_step bytes on.
  if (use_whole_message_path_ && fin && !message_has_input_ &&
      (sink == nullptr || out.size() + detail::whole_message_max_output < max_output_step) &&
      inflate_whole(data, size, out, max_message_size)) {
    return InflateResult::ok;
  }
  message_has_input_ = true;
  if (!state_) state_ = std::make_unique<State>();
  if (!state_->stream) {
    state_->stream = detail::lease_inflate_stream(window_bits_, state_->resume_tag);
    state_->at_block_boundary = true;
    const WindowKeeper& window = state_->window;
    if (!state_->stream->resumed && window.size > 0 &&
        inflateSetDictionary(&state_->stream->stream, window.bytes.get(), window.size) != Z_OK)
      throw std::logic_error("zlib inflateSetDictionary failed");
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
    const std::size_t message_output = message_output_;
    message_output_ = 0;
    message_has_input_ = false;
    end_message(message_output);
  }
  return InflateResult::ok;
}

bool MessageInflater::inflate_whole(const std::uint8_t* data, std::size_t size,
                                    std::vector<std::uint8_t>& out, std::size_t max_message_size) {
  const WindowKeeper* window = state_ ? &state_->window : nullptr;
  const auto whole =
      detail::inflate_whole_message(window ? window->bytes.get() : nullptr,
                                    window ? window->size : 0, data, size, max_message_size);
  if (!whole) return false;
  ++whole_messages_;
  const auto message = whole->window_and_message.subspan(whole->window_size);
  out.insert(out.end(), message.begin(), message.end());
  if (no_context_takeover_) {
    state_.reset();
    return true;
  }
  if (!state_) state_ = std::make_unique<State>();
  // The window goes on from the output's end; the thread's zlib stream did not see this message,
  // so the next one it inflates is primed with the window again.
  const std::size_t keep =
      std::min(whole->window_and_message.size(), std::size_t{1} << window_bits_);
  state_->window.assign(whole->window_and_message.data() + whole->window_and_message.size() - keep,
                        keep, window_bits_);
  state_->resume_tag = 0;
  return true;
}

void MessageInflater::end_message(std::size_t message_output) {
  if (no_context_takeover_) {
    state_.reset();  // nothing to remember: the stream goes back to the thread
    return;
  }
  state_->window.save(state_->stream->stream, inflateGetDictionary,
                      state_->window.size + message_output, window_bits_);
  state_->resume_tag = detail::mark_resumable(*state_->stream);
  state_->stream.reset();
}

InflateResult MessageInflater::feed(const std::uint8_t* data, std::size_t size,
                                    std::vector<std::uint8_t>& out, std::size_t max_message_size,
                                    InflateSink* sink) {
  z_stream& z = state_->stream->stream;
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
