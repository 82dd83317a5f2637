// The per-connection state machine (RFC 6455 §5-§7, RFC 7692 §6).
//
// Receiving is a two-step frame reader (header, payload) feeding a message assembler:
//   - a header split across reads waits in a 14-byte array;
//   - payload is unmasked in place in the caller's bytes;
//   - an unfragmented, uncompressed message whose payload is wholly inside the bytes of one
//     receive() call is delivered as a view into them (no copy, no allocation);
//   - anything else (fragments, a payload split across reads, compressed data) is appended to
//     one message buffer, or handed out piece by piece with deliver_fragments.
// Limits are checked on the frame header, before any byte of the payload is stored.
//
// With deliver_fragments, each data message arrives as one or more `fragment` events whose
// pieces, concatenated, are the message. Pieces follow the bytes as they arrive, not frame
// boundaries (a frame split across two receive() calls gives two pieces; a compressed frame
// gives its inflated output). `first` marks the first piece of a message and `last` the final
// one; empty pieces are only delivered when they end a message. A text piece is valid UTF-8 so
// far, but may end inside a character.
//
// After the peer's close frame nothing more is read: RFC 6455 §5.5.1 forbids the peer to send
// data after it, so any further bytes are dropped without an error.
#include "wsx/proto/connection.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "buffer_pool.hpp"
#include "connection_internals.hpp"
#include "mask_internal.hpp"
#include "wsx/proto/close.hpp"
#include "wsx/proto/mask.hpp"
#include "wsx/proto/random.hpp"
#include "wsx/proto/utf8.hpp"

namespace wsx::proto {
namespace {

// Buffers that grew beyond this are freed once empty, so an idle connection stays small. A
// 64 KiB message with its frame header still fits: echoing such messages reuses the buffers
// instead of freeing and faulting them in again for every message.
constexpr std::size_t retained_buffer_capacity = 64 * 1024 + max_frame_header_size;

// A frame payload that has to be assembled (split across receive() calls) gets room for its
// declared length at once, up to this much, so it is not copied again as it grows. Larger
// frames grow geometrically with the bytes that actually arrive: a declared length alone
// must not make us allocate much.
constexpr std::size_t max_reserve_ahead = 1024 * 1024;

// The rest of a frame being assembled is offered for reading straight into the message
// (direct_receive_buffer) from this size on: below it, copying from the read buffer costs less
// than the transport's second destination.
constexpr std::size_t min_direct_receive = 16 * 1024;

// Larger buffers go back to the thread's pool (or are freed when it has no use for them).
void clear_and_trim(std::vector<std::uint8_t>& buffer) {
  buffer.clear();
  if (buffer.capacity() > retained_buffer_capacity) detail::return_buffer(buffer);
}

// A frame at least this large that starts an empty output buffer takes pooled storage if the
// thread has some (below it, the heap serves small frames better than a pooled block would).
constexpr std::size_t min_pooled_output = 16 * 1024;

// Makes room for `extra` more bytes, at least doubling the capacity when it grows: an exact
// reserve per frame would copy everything still queued on every frame a stalled transport
// leaves behind, O(n^2) in the frames queued.
// Large storage comes from the thread's pool when it has some, also when a buffer already in use
// outgrows what it holds: ten connections each queueing two 64 KiB frames per loop iteration
// otherwise allocated a 64 KiB and then a 128 KiB buffer per connection and iteration, which
// glibc returned to the system and faulted in again (~15 page faults and 0.3 brk calls per
// message, 2,700 echoes/s instead of ~45,000; the pool only ever received them).
void reserve_more(std::vector<std::uint8_t>& buffer, std::size_t extra) {
  const std::size_t needed = buffer.size() + extra;
  if (needed <= buffer.capacity()) return;
  const std::size_t wanted = std::max(needed, 2 * buffer.capacity());
  if (buffer.empty()) {
    if (needed >= min_pooled_output && detail::borrow_buffer(buffer, needed)) return;
  } else if (wanted > retained_buffer_capacity) {
    std::vector<std::uint8_t> larger;
    if (detail::borrow_buffer(larger, wanted)) {
      larger.insert(larger.end(), buffer.begin(), buffer.end());
      buffer.swap(larger);
      clear_and_trim(larger);  // the storage outgrown: back to the pool if large, else freed
      return;
    }
  }
  buffer.reserve(wanted);
}

Opcode opcode_for(MessageKind kind) {
  return kind == MessageKind::text ? Opcode::text : Opcode::binary;
}

}  // namespace

struct Connection::Impl : detail::ConnectionHead {
  explicit Impl(const ConnectionOptions& opts) : options(opts) {}
  // The head the Connection points at is always an Impl's.
  static Impl& of(Connection& c) noexcept { return static_cast<Impl&>(*c.impl_); }
  static const Impl& of(const Connection& c) noexcept { return static_cast<const Impl&>(*c.impl_); }

  // Our compressor and its output buffer, created with the first compressed message.
  struct Compressor {
    Compressor(std::uint8_t window_bits, bool no_context_takeover, const DeflateTuning& tuning)
        : deflater(window_bits, no_context_takeover, tuning) {}
    MessageDeflater deflater;
    std::vector<std::uint8_t> deflated;
    DeflateTotals totals;  // for metrics: what went in and came out, since creation
  };
  using ControlBuffer = std::array<std::uint8_t, max_control_payload>;

  // Fields are ordered and sized so that an idle connection stays small: what most
  // connections never use (a control frame split across reads, compression) lives behind
  // pointers allocated on first use.
  // First: in the head's tail padding (after its state).
  bool close_sent = false;
  bool input_after_close = false;     // see Connection::input_after_close()
  std::uint16_t sent_close_code = 0;  // of our close frame, once sent (1005: none)
  ConnectionOptions options;

  // --- the frame being read
  enum class ReadStep : std::uint8_t { header, payload };
  ReadStep step = ReadStep::header;
  std::uint8_t partial_header_size = 0;
  std::array<std::uint8_t, max_frame_header_size> partial_header{};
  FrameHeader frame;
  std::uint64_t frame_remaining = 0;  // payload bytes of `frame` not yet read
  std::uint8_t mask_offset = 0;       // 0-3
  std::uint8_t control_size = 0;      // bytes of a split control payload in control_buffer
  // --- the data message being read
  bool in_message = false;
  MessageKind message_kind = MessageKind::text;
  bool message_compressed = false;
  bool message_delivered_piece = false;  // deliver_fragments: `first` already sent
  bool lending_message = false;          // `message` is the view of the event being delivered
  bool sending_message = false;          // a fragmented message is in progress
  bool sending_compressed = false;
  bool receiving = false;  // inside receive() (see Receiving); here, where it fills a gap
  // Messages read_short_messages delivered (wraps), for tests (ConnectionInternals): in the gap
  // before utf8, so Impl keeps its size, and on a cache line the receive path reads anyway.
  std::uint16_t short_messages_read = 0;
  Utf8Validator utf8;
  std::size_t message_frames = 0;
  std::uint64_t message_wire_size = 0;    // payload bytes of an uncompressed message so far
  std::uint64_t message_frame_bytes = 0;  // declared payload bytes of its frames (saturating)
  // The assembled payload of an uncompressed message is message[0, assembled); message.size()
  // may be larger: bytes already initialised (a pooled buffer's, the room of a direct read),
  // overwritten as the message grows instead of zeroed again. A compressed message's inflated
  // output is all of `message`.
  std::vector<std::uint8_t> message;
  std::size_t assembled = 0;
  std::unique_ptr<MessageInflater> inflater;
  std::unique_ptr<ControlBuffer> control_buffer;  // a control payload split across reads

  // --- sending
  // Frames written are output[0, output_end) (ConnectionHead), of which the transport consumed
  // output_read. output.size() may be larger: bytes of frames already sent, initialised, which
  // the next frames overwrite in place instead of resize() zeroing them again (a memset call,
  // ~10 instructions per short frame).
  std::vector<std::uint8_t> output;
  std::unique_ptr<Compressor> compressor;

  bool reading() const noexcept {
    return state == ConnectionState::open || state == ConnectionState::closing;
  }

  // ------------------------------------------------------------------ receiving

  void receive(std::uint8_t* data, std::size_t size, EventHandler& handler) {
    try {
      Receiving receiving_now(receiving);
      receive_frames(data, size, handler);
    } catch (...) {
      fail_after_exception();
      throw;
    }
    if (!reading()) release_receive_state();
  }

  // An exception left the handler (or the frame observer, or an allocation) in the middle of a
  // receive: the frame or message it was in is half processed, and where the caller's bytes
  // stopped being read is lost with the stack. Reading on would turn the rest into events that
  // never were (a message half delivered came again, empty), so the connection fails as a
  // Session fails it when a callback throws: 1011, nothing more read, what receiving held
  // released. Called with the exception in flight, which goes on to the caller.
  void fail_after_exception() noexcept {
    state = ConnectionState::failed;
    in_message = false;
    lending_message = false;
    release_receive_state();
    if (close_sent) return;
    try {
      write_close(static_cast<std::uint16_t>(CloseCode::internal_error), "internal error");
    } catch (...) {
      // No memory for the close frame: the state says failed, the transport closes without it.
    }
  }

  // While set, what receiving holds is in use (a message view handed to the handler, the
  // inflater writing into `message`, a split control payload): it is released only after.
  struct Receiving {
    explicit Receiving(bool& flag) : flag_(flag) { flag_ = true; }
    ~Receiving() { flag_ = false; }
    Receiving(const Receiving&) = delete;
    Receiving& operator=(const Receiving&) = delete;
    bool& flag_;
  };

  // A connection that reads no more (failed, or closed by the peer) gives back at once what
  // receiving held: the part of a message being assembled, the inflater and its window, a split
  // control payload. A failed connection may wait seconds for its close frame to leave; its
  // memory must not.
  void release_receive_state() {
    in_message = false;
    assembled = 0;
    detail::return_buffer(message);
    inflater.reset();
    control_buffer.reset();
    utf8.reset();
  }

  void receive_frames(std::uint8_t* data, std::size_t size, EventHandler& handler) {
    std::size_t pos = 0;
    while (reading()) {
      if (step == ReadStep::header) {
        if (pos == size) break;
        if (const std::size_t taken = read_short_messages(data + pos, size - pos, handler)) {
          pos += taken;
          continue;
        }
        pos += read_header(data + pos, size - pos, handler);
        continue;
      }
      // An empty payload is processed too, so that zero-length frames take effect at once.
      const std::size_t available =
          static_cast<std::size_t>(std::min<std::uint64_t>(frame_remaining, size - pos));
      if (available == 0 && frame_remaining != 0) break;
      std::uint8_t* chunk = data + pos;
      pos += available;
      frame_remaining -= available;
      read_payload(chunk, available, handler);
    }
    if (pos < size && state == ConnectionState::closed) input_after_close = true;
  }

  // The usual frames to a server, whole in the bytes at hand: messages of one frame (FIN, no
  // RSV bit, text or binary), masked, with a 7-bit length, while no fragmented message is in
  // progress and nobody observes frames. Read here one after the other in a tight loop (an echo
  // of 16-byte text: ~100 instructions less per message than reading them one by one with the
  // state the general path keeps), to the same effect as the general path: the same events, the
  // same output and the same state afterwards. A frame that breaks a rule, or comes close to one
  // (the message size limit, fragments_too_small), ends the loop and is left to the general path,
  // which reports it; so is anything else. Returns the bytes consumed.
  //
  // What the general path writes for such a message and the shortcut does not, because nothing
  // reads it afterwards: `frame` (the next header decoded overwrites it whole; nothing reads it
  // while step is header), frame_remaining, assembled (0 whenever step is header and no message
  // is in progress), mask_offset and control_size (set by begin_frame before any use), and the
  // message's fields (message_kind, message_compressed, message_frames, the sizes, utf8: set by
  // begin_data_frame when the next message starts; a continuation frame needs one in progress).
  // While the handler runs, in_message stays false where the general path has it true: the only
  // reader it could reach, assembling_amount(), answers 0 either way (nothing is assembled).
  std::size_t read_short_messages(std::uint8_t* data, std::size_t size, EventHandler& handler) {
    constexpr std::size_t header_size = 6;  // 2 bytes, the mask key
    // Whether `n` bytes at `bytes` start with the header of such a frame (FIN, text or binary,
    // masked, a 7-bit length). Asked of the first frame before anything else, so that a larger
    // message (scenario b's 64 KiB) or a control frame pays a few tests, not the loop's setup.
    const auto short_header = [](const std::uint8_t* bytes, std::size_t n) {
      return n >= header_size && (bytes[0] == 0x81 || bytes[0] == 0x82) && bytes[1] >= 0x80 &&
             bytes[1] < 0x80 + 126;
    };
    if (!short_header(data, size) || partial_header_size != 0 || in_message ||
        options.role != Role::server || options.frame_observer != nullptr ||
        options.deliver_fragments) {
      return 0;
    }
    // The limits, for the connection's options: nothing in the loop can change them.
    const std::size_t max_length = std::min<std::size_t>(125, options.max_message_size);
    const bool short_fragments_checked = fragments_too_small(1, 0);
    // The event the general path delivers for such a message (deliver_message): what differs
    // from one message to the next is set for each.
    Event event;
    event.kind = EventKind::message;
    event.compressed = false;
    std::size_t pos = 0;
    do {  // a frame with a short header at data + pos
      std::uint8_t* const bytes = data + pos;
      const bool text = bytes[0] == 0x81;
      const std::size_t length = bytes[1] & 0x7F;
      if (length > max_length || size - pos - header_size < length ||
          (short_fragments_checked && fragments_too_small(1, length))) {
        break;
      }
      MaskKey key;
      std::memcpy(key.data(), bytes + 2, key.size());
      std::uint8_t* const payload = bytes + header_size;
      const bool ascii = detail::unmask_short_is_ascii(payload, length, key);
      pos += header_size + length;
      if (text && !ascii && !is_valid_utf8(payload, length)) {
        fail(ProtocolError::invalid_utf8, handler);
        break;
      }
      event.message_kind = text ? MessageKind::text : MessageKind::binary;
      event.data = {payload, length};
      event.wire_size = length;
      ++short_messages_read;
      handler.on_event(event);
      if (!reading()) break;  // the handler failed the connection
    } while (short_header(data + pos, size - pos));
    return pos;
  }

  // Returns the bytes of `data` consumed.
  std::size_t read_header(const std::uint8_t* data, std::size_t size, EventHandler& handler) {
    FrameDecodeResult result;
    std::size_t consumed = 0;
    if (partial_header_size == 0) {
      result = decode_frame_header(data, size, frame);
      if (result.status == DecodeStatus::need_more) {
        // need_more means size < header size <= max_frame_header_size.
        std::memcpy(partial_header.data(), data, size);
        partial_header_size = static_cast<std::uint8_t>(size);
        return size;
      }
      consumed = result.header_size;
    } else {
      const std::size_t copied = std::min(size, partial_header.size() - partial_header_size);
      std::memcpy(partial_header.data() + partial_header_size, data, copied);
      result = decode_frame_header(partial_header.data(), partial_header_size + copied, frame);
      if (result.status == DecodeStatus::need_more) {
        partial_header_size += static_cast<std::uint8_t>(copied);
        return copied;
      }
      consumed =
          result.header_size > partial_header_size ? result.header_size - partial_header_size : 0;
      partial_header_size = 0;
    }
    if (result.status == DecodeStatus::error) {
      fail(result.error, handler);
      return size;
    }
    begin_frame(handler);
    return std::min(consumed, size);
  }

  void begin_frame(EventHandler& handler) {
    ProtocolError error = check_frame_header(frame, options.role, options.deflate.has_value());
    if (error == ProtocolError::none) error = check_frame_in_sequence();
    if (error != ProtocolError::none) {
      fail(error, handler);
      return;
    }
    step = ReadStep::payload;
    frame_remaining = frame.payload_length;
    mask_offset = 0;
    control_size = 0;
    if (!is_control(frame.opcode)) begin_data_frame();
  }

  // The rules that need the connection's state: fragmentation (§5.4) and our limits. (RSV1 on
  // a control or continuation frame, RFC 7692 §6.1, is a header rule: check_frame_header.)
  ProtocolError check_frame_in_sequence() const noexcept {
    if (is_control(frame.opcode)) return ProtocolError::none;
    const bool continuation = frame.opcode == Opcode::continuation;
    if (continuation && !in_message) return ProtocolError::unexpected_continuation;
    if (!continuation && in_message) return ProtocolError::expected_continuation;

    const std::size_t frames_before = continuation ? message_frames : 0;
    if (fragments_too_small(
            frames_before + 1,
            saturating_add(continuation ? message_frame_bytes : 0, frame.payload_length))) {
      return ProtocolError::fragments_too_small;
    }
    const bool compressed = continuation ? message_compressed : frame.rsv1;
    if (!compressed) {
      // The declared length is checked, so a huge frame fails before its payload arrives.
      // (Compressed payloads are limited by their inflated size instead.)
      const std::uint64_t size_before = continuation ? message_wire_size : 0;
      if (frame.payload_length > options.max_message_size - size_before) {
        return ProtocolError::message_too_big;
      }
    }
    return ProtocolError::none;
  }

  static std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
  }

  // `frames` frames carrying `bytes` in all: beyond free_fragments, each must bring
  // min_fragment_average bytes on average.
  bool fragments_too_small(std::size_t frames, std::uint64_t bytes) const noexcept {
    if (frames <= options.free_fragments || options.min_fragment_average == 0) return false;
    return frames - options.free_fragments > bytes / options.min_fragment_average;
  }

  void begin_data_frame() {
    if (frame.opcode != Opcode::continuation) {
      in_message = true;
      message_kind = frame.opcode == Opcode::text ? MessageKind::text : MessageKind::binary;
      message_compressed = frame.rsv1;
      message_delivered_piece = false;
      message_frames = 0;
      message_wire_size = 0;
      message_frame_bytes = 0;
      utf8.reset();
      assembled = 0;
      if (message_compressed) message.clear();
      if (message_compressed && !inflater) create_inflater();
    }
    ++message_frames;
    message_frame_bytes = saturating_add(message_frame_bytes, frame.payload_length);
    if (!message_compressed) message_wire_size += frame.payload_length;
  }

  void create_inflater() {
    // We inflate what the peer compressed, so the peer's parameters apply.
    const DeflateParams& params = *options.deflate;
    const bool peer_is_client = options.role == Role::server;
    inflater = std::make_unique<MessageInflater>(
        peer_is_client ? params.client_max_window_bits : params.server_max_window_bits,
        peer_is_client ? params.client_no_context_takeover : params.server_no_context_takeover,
        options.deflate_tuning.engine);
  }

  void read_payload(std::uint8_t* chunk, std::size_t size, EventHandler& handler) {
    const bool frame_done = frame_remaining == 0;
    if (frame.masked && size > 0) {
      mask_offset = static_cast<std::uint8_t>(apply_mask(chunk, size, frame.mask_key, mask_offset));
    }
    // The first chunk of a frame is the one that holds its first payload byte (or none).
    if (options.frame_observer != nullptr && frame_remaining + size == frame.payload_length) {
      options.frame_observer->on_frame(false, frame, {chunk, size});
    }
    if (is_control(frame.opcode)) {
      read_control_payload(chunk, size, frame_done, handler);
    } else {
      read_data_payload(chunk, size, frame_done, handler);
    }
    if (frame_done) step = ReadStep::header;
  }

  void read_control_payload(const std::uint8_t* chunk, std::size_t size, bool frame_done,
                            EventHandler& handler) {
    if (frame_done && control_size == 0) {
      handle_control({chunk, size}, handler);  // the whole payload came in one piece
      return;
    }
    if (!control_buffer) control_buffer = std::make_unique<ControlBuffer>();
    // size <= frame length <= max_control_payload, checked with the header.
    std::memcpy(control_buffer->data() + control_size, chunk, size);
    control_size = static_cast<std::uint8_t>(control_size + size);
    if (frame_done) handle_control({control_buffer->data(), control_size}, handler);
  }

  void read_data_payload(std::uint8_t* chunk, std::size_t size, bool frame_done,
                         EventHandler& handler) {
    const bool message_done = frame_done && frame.fin;
    if (message_compressed) {
      inflate_payload(chunk, size, message_done, handler);
      return;
    }
    const bool text = message_kind == MessageKind::text;
    if (options.deliver_fragments) {
      if (text && !validate_utf8(chunk, size, message_done, handler)) return;
      if (size > 0 || message_done) deliver_piece({chunk, size}, message_done, handler);
      if (message_done) end_message();
      return;
    }
    if (message_done && message_frames == 1 && assembled == 0) {
      // The whole message is in this chunk: hand it out in place.
      if (text && !is_valid_utf8(chunk, size)) {
        fail(ProtocolError::invalid_utf8, handler);
        return;
      }
      deliver_message({chunk, size}, handler);
      end_message();
      return;
    }
    if (text && !validate_utf8(chunk, size, message_done, handler)) return;
    reserve_frame(size);
    append_to_message(chunk, size);
    if (message_done) {
      deliver_message({message.data(), assembled}, handler);
      end_message();
    }
  }

  // Room for the rest of the frame whose `chunk` is about to be appended to `message`.
  void reserve_frame(std::size_t chunk) {
    const std::uint64_t rest = chunk + frame_remaining;
    if (assembled + rest <= message.capacity()) return;
    if (rest <= max_reserve_ahead) {
      // Exact when this is the message's only frame (the common case: no copy as it grows).
      reserve_message(assembled + static_cast<std::size_t>(rest));
    } else {
      reserve_message(assembled + chunk);
    }
  }

  // Storage for `needed` bytes of uncompressed message, the assembled part kept. Grows at least
  // twofold (see reserve_more); an empty message first tries the thread's pool.
  void reserve_message(std::size_t needed) {
    if (needed <= message.capacity()) return;
    if (assembled == 0) {
      message.clear();
      if (needed > retained_buffer_capacity && detail::borrow_buffer_uncleared(message, needed)) {
        return;
      }
    } else {
      message.resize(assembled);  // what lies beyond the message is not worth copying
    }
    message.reserve(std::max(needed, 2 * message.capacity()));
  }

  void append_to_message(const std::uint8_t* chunk, std::size_t size) {
    const std::size_t overwritten = std::min(size, message.size() - assembled);
    if (overwritten > 0) std::memcpy(message.data() + assembled, chunk, overwritten);
    message.insert(message.end(), chunk + overwritten, chunk + size);
    assembled += size;
  }

  // See Connection::direct_receive_buffer. Offers only storage the message already holds and
  // has initialised (a pooled buffer's bytes, the retained buffer of an earlier message):
  // nothing is allocated or zeroed here, so a declared length cannot make the connection hold
  // more memory than receive() would, and the storage a large message first fills by copying
  // takes the next one's bytes straight from the socket.
  std::span<std::uint8_t> direct_receive_buffer() noexcept {
    if (!reading() || step != ReadStep::payload || is_control(frame.opcode) || message_compressed ||
        options.deliver_fragments || frame_remaining < min_direct_receive) {
      return {};
    }
    const auto room = static_cast<std::size_t>(
        std::min<std::uint64_t>(frame_remaining, message.size() - assembled));
    if (room < min_direct_receive) return {};
    return {message.data() + assembled, room};
  }

  // See Connection::receive_direct: the bytes are the next payload bytes of the frame being
  // read, already in place at message[assembled, assembled + size).
  void receive_direct(std::size_t size, EventHandler& handler) {
    try {
      Receiving receiving_now(receiving);
      if (reading() && step == ReadStep::payload && !is_control(frame.opcode) &&
          !message_compressed && !options.deliver_fragments && size <= frame_remaining &&
          size <= message.size() - assembled) {
        receive_direct_payload(size, handler);
      }
    } catch (...) {
      fail_after_exception();
      throw;
    }
    if (!reading()) release_receive_state();
  }

  void receive_direct_payload(std::size_t size, EventHandler& handler) {
    std::uint8_t* chunk = message.data() + assembled;
    frame_remaining -= size;
    const bool frame_done = frame_remaining == 0;
    const bool message_done = frame_done && frame.fin;
    if (frame.masked && size > 0) {
      mask_offset = static_cast<std::uint8_t>(apply_mask(chunk, size, frame.mask_key, mask_offset));
    }
    if (options.frame_observer != nullptr && frame_remaining + size == frame.payload_length) {
      options.frame_observer->on_frame(false, frame, {chunk, size});
    }
    if (message_kind == MessageKind::text && !validate_utf8(chunk, size, message_done, handler)) {
      return;
    }
    assembled += size;
    if (frame_done) step = ReadStep::header;
    if (message_done) {
      deliver_message({message.data(), assembled}, handler);
      end_message();
    }
  }

  // deliver_fragments: takes inflated output as it is produced, so a small compressed chunk
  // that inflates to a lot is handed out in bounded pieces instead of held whole.
  struct PieceSink final : InflateSink {
    PieceSink(Impl& connection, EventHandler& event_handler)
        : impl(connection), handler(event_handler) {}
    bool on_inflated(std::span<const std::uint8_t> piece) override {
      if (impl.message_kind == MessageKind::text &&
          !impl.validate_utf8(piece.data(), piece.size(), false, handler)) {
        return false;
      }
      impl.deliver_piece(piece, false, handler);
      return impl.reading();  // the handler may have failed the connection
    }
    Impl& impl;
    EventHandler& handler;
  };

  void inflate_payload(const std::uint8_t* chunk, std::size_t size, bool message_done,
                       EventHandler& handler) {
    if (size == 0 && !message_done) return;
    InflateResult result;
    if (options.deliver_fragments) message.clear();
    const std::size_t before = message.size();  // output of earlier fragments is validated
    if (options.deliver_fragments) {
      PieceSink sink(*this, handler);
      result =
          inflater->inflate(chunk, size, message_done, message, options.max_message_size, sink);
    } else {
      result = inflater->inflate(chunk, size, message_done, message, options.max_message_size);
    }
    switch (result) {
      case InflateResult::ok:
        break;
      case InflateResult::too_big:
        fail(ProtocolError::message_too_big, handler);
        return;
      case InflateResult::corrupt:
        fail(ProtocolError::inflate_failed, handler);
        return;
      case InflateResult::stopped:
        return;  // the sink failed the connection (invalid UTF-8, or the handler did)
    }
    if (message_kind == MessageKind::text &&
        !validate_utf8(message.data() + before, message.size() - before, message_done, handler)) {
      return;
    }
    if (options.deliver_fragments) {
      if (!message.empty() || message_done) deliver_piece(message, message_done, handler);
    } else if (message_done) {
      deliver_message(message, handler);
    }
    if (message_done) end_message();
  }

  // Fails the connection (1007) at the first byte that cannot be UTF-8.
  bool validate_utf8(const std::uint8_t* data, std::size_t size, bool message_done,
                     EventHandler& handler) {
    if (!utf8.feed(data, size) || (message_done && !utf8.complete())) {
      fail(ProtocolError::invalid_utf8, handler);
      return false;
    }
    return true;
  }

  void deliver_message(std::span<const std::uint8_t> data, EventHandler& handler) {
    Event event;
    event.kind = EventKind::message;
    event.message_kind = message_kind;
    event.data = data;
    event.compressed = message_compressed;
    event.wire_size = message_frame_bytes;
    lending_message = !message.empty() && data.data() == message.data();
    handler.on_event(event);
    lending_message = false;
  }

  void deliver_piece(std::span<const std::uint8_t> data, bool last, EventHandler& handler) {
    Event event;
    event.kind = EventKind::fragment;
    event.message_kind = message_kind;
    event.data = data;
    event.first = !message_delivered_piece;
    event.last = last;
    event.compressed = message_compressed;
    if (last) event.wire_size = message_frame_bytes;
    message_delivered_piece = true;
    handler.on_event(event);
  }

  void end_message() {
    in_message = false;
    assembled = 0;
    // Not cleared: its bytes stay initialised for the next message read straight into it
    // (compressed messages clear it when they start).
    if (message.capacity() > retained_buffer_capacity) detail::return_buffer(message);
  }

  void handle_control(std::span<const std::uint8_t> payload, EventHandler& handler) {
    Event event;
    event.data = payload;
    switch (frame.opcode) {
      case Opcode::ping:
        if (options.auto_pong && !close_sent) {
          write_frame(Opcode::pong, true, false, payload.data(), payload.size());
        }
        event.kind = EventKind::ping;
        handler.on_event(event);
        return;
      case Opcode::pong:
        event.kind = EventKind::pong;
        handler.on_event(event);
        return;
      case Opcode::close:
        handle_close(payload, handler);
        return;
      default:
        return;  // decode_frame_header admits no other control opcode
    }
  }

  void handle_close(std::span<const std::uint8_t> payload, EventHandler& handler) {
    ClosePayload close;
    const ProtocolError error = parse_close_payload(payload.data(), payload.size(), close);
    if (error != ProtocolError::none) {
      fail(error, handler);
      return;
    }
    // Echo the code (§5.5.1); an empty close is answered with an empty close (1005 encodes as
    // an empty payload).
    if (!close_sent) write_close(close.code, {});
    state = ConnectionState::closed;
    in_message = false;
    Event event;
    event.kind = EventKind::close;
    event.data = payload;
    event.close_code = close.code;
    event.close_reason = close.reason;
    handler.on_event(event);
  }

  // The peer broke a rule (RFC 6455 §7.1.7): queue a close frame with the matching code and
  // stop reading.
  void fail(ProtocolError error, EventHandler& handler) {
    const auto code = static_cast<std::uint16_t>(close_code_for(error));
    if (!close_sent) write_close(code, describe(error));
    state = ConnectionState::failed;
    in_message = false;
    Event event;
    event.kind = EventKind::error;
    event.error = error;
    event.close_code = code;
    handler.on_event(event);
  }

  // ------------------------------------------------------------------ sending

  void write_close(std::uint16_t code, std::string_view reason) {
    std::array<std::uint8_t, max_control_payload> payload;
    const std::size_t size = encode_close_payload(code, reason, payload.data());
    // Before the frame: an observer that closes or fails from inside write_frame must find it
    // sent, or a second close frame would follow the first.
    close_sent = true;
    sent_close_code = code;
    write_frame(Opcode::close, true, false, payload.data(), size);
  }

  // Appends one frame; a client masks it in the output buffer (RFC 6455 §5.3).
  // With `direct` (send_direct) the frame is first offered to the transport.
  void write_frame(Opcode opcode, bool fin, bool rsv1, const std::uint8_t* payload,
                   std::size_t size, DirectOutput* direct = nullptr) {
    if (size <= max_short_payload && direct == nullptr && options.role == Role::server &&
        options.frame_observer == nullptr) {
      write_short_frame(opcode, fin, rsv1, payload, size);
    } else {
      write_encoded_frame(opcode, fin, rsv1, payload, size, direct);
    }
  }

  // Any frame: see write_frame.
  void write_encoded_frame(Opcode opcode, bool fin, bool rsv1, const std::uint8_t* payload,
                           std::size_t size, DirectOutput* direct) {
    FrameHeader header;
    header.fin = fin;
    header.rsv1 = rsv1;
    header.opcode = opcode;
    header.masked = options.role == Role::client;
    header.payload_length = size;
    if (header.masked) header.mask_key = random_mask_key();
    std::array<std::uint8_t, max_frame_header_size> encoded;
    const std::size_t header_size = encode_frame_header(header, encoded.data());
    if (direct != nullptr) {
      write_frame_direct(header, {encoded.data(), header_size}, {payload, size}, *direct);
      return;
    }

    compact_output();
    const std::size_t start = output_end;
    reserve_output(header_size + size);
    append_output(encoded.data(), header_size);
    append_output(payload, size);
    if (header.masked && size > 0) {
      apply_mask(output.data() + start + header_size, size, header.mask_key);
    }
    if (options.frame_observer != nullptr) {
      options.frame_observer->on_frame(true, header, {payload, size});
    }
  }

  // The usual frame of a small message from a server: unmasked, a payload length that fits the
  // 7-bit field (a 2-byte header), nobody observing. Written without the general encoder: ~60
  // instructions less per frame (an echo of 16 B text cost ~190 in write_frame and the calls
  // it made). The bytes are the ones encode_frame_header() would give.
  static constexpr std::size_t max_short_payload = 125;
  void write_short_frame(Opcode opcode, bool fin, bool rsv1, const std::uint8_t* payload,
                         std::size_t size) {
    compact_output();
    const std::size_t frame_size = 2 + size;
    // Written over stale bytes (see `output`): vector::insert of a range cost ~45 instructions
    // per frame, resize() a memset call.
    if (output.size() - output_end < frame_size) [[unlikely]] {
      reserve_output(frame_size);
      output.resize(output_end + frame_size);  // zeroed once; the frames after reuse them
    }
    std::uint8_t* bytes = output.data() + output_end;
    bytes[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) |
                                         static_cast<std::uint8_t>(opcode));
    bytes[1] = static_cast<std::uint8_t>(size);
    copy_payload(bytes + 2, payload, size);
    output_end += frame_size;
  }

  // memcpy for up to 16 bytes without the call: two overlapping word copies. A 16-byte echo
  // paid ~13 instructions in the call to memcpy.
  static void copy_payload(std::uint8_t* to, const std::uint8_t* from, std::size_t size) noexcept {
    if (size >= 8 && size <= 16) {
      std::uint64_t head;
      std::uint64_t tail;
      std::memcpy(&head, from, 8);
      std::memcpy(&tail, from + size - 8, 8);
      std::memcpy(to, &head, 8);
      std::memcpy(to + size - 8, &tail, 8);
    } else if (size > 0) {
      std::memcpy(to, from, size);
    }
  }

  // Offers the frame to the transport and queues what it did not take. Only for an unmasked
  // frame with nothing queued ahead of it.
  void write_frame_direct(const FrameHeader& header, std::span<const std::uint8_t> encoded,
                          std::span<const std::uint8_t> payload, DirectOutput& direct) {
    const std::size_t total = encoded.size() + payload.size();
    const std::size_t written = std::min(direct.write_now(encoded, payload), total);
    if (written < total) {
      compact_output();
      const std::size_t header_left = encoded.size() - std::min(written, encoded.size());
      const std::size_t payload_from = written - (encoded.size() - header_left);
      reserve_output(total - written);
      append_output(encoded.data() + encoded.size() - header_left, header_left);
      append_output(payload.data() + payload_from, payload.size() - payload_from);
    }
    if (options.frame_observer != nullptr) options.frame_observer->on_frame(true, header, payload);
  }

  // Drops consumed bytes once they are at least half the buffer, so appending stays amortised
  // O(1) while the transport drains slowly.
  void compact_output() {
    if (output_read == 0 || output_read < output_end / 2) return;
    std::memmove(output.data(), output.data() + output_read, output_end - output_read);
    output_end -= output_read;
    output_read = 0;
  }

  // Room for `n` more bytes of output: the stale bytes after output_end when there are enough
  // (append_output overwrites them), else capacity reserved beyond output_end.
  void reserve_output(std::size_t n) {
    if (output.size() - output_end >= n) return;
    output.resize(output_end);  // the stale bytes go (shrinking zeroes nothing)
    reserve_more(output, n);    // its rules see the bytes written, as before
  }

  // After reserve_output(): over stale bytes where there are, appended (copied once, not
  // zeroed first) beyond them.
  void append_output(const std::uint8_t* data, std::size_t n) {
    const std::size_t overwrite = std::min(n, output.size() - output_end);
    if (overwrite > 0) std::memcpy(output.data() + output_end, data, overwrite);
    if (overwrite < n) output.insert(output.end(), data + overwrite, data + n);
    output_end += n;
  }

  bool should_compress(SendFlags flags, std::size_t size) const noexcept {
    return options.deflate && flags.compress && size >= options.deflate_tuning.threshold;
  }

  Compressor& message_compressor() {
    if (!compressor) {
      // Our compressor runs within our side's negotiated parameters.
      const DeflateParams& params = *options.deflate;
      const bool server = options.role == Role::server;
      compressor = std::make_unique<Compressor>(
          server ? params.server_max_window_bits : params.client_max_window_bits,
          server ? params.server_no_context_takeover : params.client_no_context_takeover,
          options.deflate_tuning);
    }
    return *compressor;
  }

  void write_data_frame(Opcode opcode, bool fin, bool compressed, const std::uint8_t* data,
                        std::size_t size) {
    if (!compressed) {
      write_frame(opcode, fin, false, data, size);
      return;
    }
    Compressor& c = message_compressor();
    c.deflated.clear();
    c.deflater.compress(data, size, fin, c.deflated);
    c.totals.plain += size;
    c.totals.compressed += c.deflated.size();
    // RSV1 marks a compressed message on its first frame only (RFC 7692 §6).
    write_frame(opcode, fin, opcode != Opcode::continuation, c.deflated.data(), c.deflated.size());
    clear_and_trim(c.deflated);
  }

  SendResult send(MessageKind kind, std::span<const std::uint8_t> data, SendFlags flags) {
    // The usual message of a server, a short frame (see write_short_frame) into room the output
    // already has, with no consumed bytes to drop first: written here without a call, so that
    // this path saves and restores no registers. Everything else, in the order of the checks
    // (closed before invalid), is send_general's, which writes the same bytes.
    const std::size_t size = data.size();
    const std::size_t frame_size = 2 + size;
    if (size <= max_short_payload && output_read == 0 && output.size() - output_end >= frame_size &&
        !close_sent && !sending_message && options.role == Role::server &&
        options.frame_observer == nullptr && !should_compress(flags, size)) [[likely]] {
      std::uint8_t* const bytes = output.data() + output_end;
      output_end += frame_size;
      bytes[0] = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(opcode_for(kind)));
      bytes[1] = static_cast<std::uint8_t>(size);
      copy_payload(bytes + 2, data.data(), size);
      return SendResult::ok;
    }
    return send_general(kind, data, flags);
  }

  [[gnu::noinline]] SendResult send_general(MessageKind kind, std::span<const std::uint8_t> data,
                                            SendFlags flags) {
    if (close_sent) return SendResult::closed;
    if (sending_message) return SendResult::invalid;
    write_data_frame(opcode_for(kind), true, should_compress(flags, data.size()), data.data(),
                     data.size());
    return SendResult::ok;
  }

  SendResult send_direct(MessageKind kind, std::span<const std::uint8_t> data, SendFlags flags,
                         DirectOutput& out) {
    if (close_sent) return SendResult::closed;
    if (sending_message) return SendResult::invalid;
    if (should_compress(flags, data.size()) || options.role != Role::server ||
        output_end != output_read) {
      return send(kind, data, flags);
    }
    write_frame(opcode_for(kind), true, false, data.data(), data.size(), &out);
    return SendResult::ok;
  }

  SendResult send_fragment(MessageKind kind, std::span<const std::uint8_t> data, bool fin,
                           SendFlags flags) {
    if (close_sent) return SendResult::closed;
    Opcode opcode = Opcode::continuation;
    if (!sending_message) {
      // The total size is unknown, so the threshold does not apply to fragmented messages.
      opcode = opcode_for(kind);
      sending_compressed = options.deflate && flags.compress;
      sending_message = true;
    }
    write_data_frame(opcode, fin, sending_compressed, data.data(), data.size());
    if (fin) sending_message = false;
    return SendResult::ok;
  }

  SendResult send_control(Opcode opcode, std::span<const std::uint8_t> payload) {
    if (close_sent) return SendResult::closed;
    if (payload.size() > max_control_payload) return SendResult::invalid;
    write_frame(opcode, true, false, payload.data(), payload.size());
    return SendResult::ok;
  }

  static bool sendable_close(std::uint16_t code, std::string_view reason) {
    if (code == static_cast<std::uint16_t>(CloseCode::no_status)) {
      if (!reason.empty()) return false;  // a reason needs a code
    } else if (!is_sendable_close_code(code)) {
      return false;
    }
    return reason.size() <= max_close_reason && is_valid_utf8(reason);
  }

  SendResult close(std::uint16_t code, std::string_view reason) {
    if (close_sent) return SendResult::closed;
    if (!sendable_close(code, reason)) return SendResult::invalid;
    write_close(code, reason);
    if (state == ConnectionState::open) state = ConnectionState::closing;
    return SendResult::ok;
  }

  SendResult fail_locally(std::uint16_t code, std::string_view reason) {
    if (!sendable_close(code, reason)) return SendResult::invalid;
    if (!close_sent) write_close(code, reason);
    state = ConnectionState::failed;
    in_message = false;
    if (!receiving) release_receive_state();  // else receive() does, once it is safe
    return SendResult::ok;
  }
};

namespace {

const ConnectionOptions& checked(const ConnectionOptions& options) {
  // The inflater and deflater are created lazily, mid-stream; a bad window must fail here.
  if (options.deflate) {
    check_window_bits(options.deflate->server_max_window_bits);
    check_window_bits(options.deflate->client_max_window_bits);
  }
  return options;
}

}  // namespace

Connection::Connection(const ConnectionOptions& options) : impl_(new Impl(checked(options))) {}
Connection::Connection() noexcept = default;
Connection::~Connection() = default;

void detail::ConnectionDeleter::operator()(ConnectionHead* head) const noexcept {
  delete static_cast<Connection::Impl*>(head);
}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;

void Connection::receive(std::span<std::uint8_t> bytes, EventHandler& handler) {
  Impl::of(*this).receive(bytes.data(), bytes.size(), handler);
}

SendResult Connection::send_text(std::string_view text, SendFlags flags) {
  return Impl::of(*this).send(
      MessageKind::text, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, flags);
}

SendResult Connection::send_binary(std::span<const std::uint8_t> data, SendFlags flags) {
  return Impl::of(*this).send(MessageKind::binary, data, flags);
}

SendResult Connection::send(MessageKind kind, std::span<const std::uint8_t> data, SendFlags flags) {
  return Impl::of(*this).send(kind, data, flags);
}

SendResult Connection::send_direct(MessageKind kind, std::span<const std::uint8_t> data,
                                   SendFlags flags, DirectOutput& out) {
  return Impl::of(*this).send_direct(kind, data, flags, out);
}

SendResult Connection::send_fragment(MessageKind kind, std::span<const std::uint8_t> data, bool fin,
                                     SendFlags flags) {
  return Impl::of(*this).send_fragment(kind, data, fin, flags);
}

SendResult Connection::ping(std::span<const std::uint8_t> payload) {
  return Impl::of(*this).send_control(Opcode::ping, payload);
}

SendResult Connection::pong(std::span<const std::uint8_t> payload) {
  return Impl::of(*this).send_control(Opcode::pong, payload);
}

SendResult Connection::close(std::uint16_t code, std::string_view reason) {
  return Impl::of(*this).close(code, reason);
}

SendResult Connection::fail(std::uint16_t code, std::string_view reason) {
  return Impl::of(*this).fail_locally(code, reason);
}

std::span<const std::uint8_t> Connection::pending_output() const noexcept {
  const Impl& impl = Impl::of(*this);
  return {impl.output.data() + impl.output_read, impl.output_end - impl.output_read};
}

void Connection::consume_output(std::size_t n) noexcept {
  Impl& impl = Impl::of(*this);
  impl.output_read += std::min(n, impl.output_end - impl.output_read);
  if (impl.output_read == impl.output_end) {
    impl.output_read = 0;
    impl.output_end = 0;
    // Not cleared: the next frames overwrite its bytes (see Impl::output).
    if (impl.output.capacity() > retained_buffer_capacity) detail::return_buffer(impl.output);
  }
}

std::uint16_t Connection::sent_close_code() const noexcept {
  return Impl::of(*this).sent_close_code;
}

DeflateTotals Connection::deflate_totals() const noexcept {
  return Impl::of(*this).compressor ? Impl::of(*this).compressor->totals : DeflateTotals{};
}

std::size_t detail::ConnectionInternals::short_messages_read(const Connection& c) noexcept {
  return Connection::Impl::of(c).short_messages_read;
}

std::size_t Connection::assembling_amount() const noexcept {
  const Impl& impl = Impl::of(*this);
  if (!impl.in_message) return 0;
  return impl.message_compressed ? impl.message.size() : impl.assembled;
}

std::span<std::uint8_t> Connection::direct_receive_buffer() noexcept {
  return Impl::of(*this).direct_receive_buffer();
}

void Connection::receive_direct(std::size_t n, EventHandler& handler) {
  Impl::of(*this).receive_direct(n, handler);
}

std::vector<std::uint8_t> Connection::take_received_message(
    std::span<const std::uint8_t> data) noexcept {
  Impl& impl = Impl::of(*this);
  const std::vector<std::uint8_t>& message = impl.message;
  std::vector<std::uint8_t> taken;
  if (!impl.lending_message || data.empty() || data.data() < message.data() ||
      data.data() + data.size() > message.data() + message.size()) {
    return taken;
  }
  taken.swap(impl.message);  // end_message() then finds nothing to clear
  // Sized to the message: initialised bytes beyond it (see Impl::message) are not handed over.
  if (!impl.message_compressed) taken.resize(impl.assembled);
  return taken;
}

void recycle_buffer(std::vector<std::uint8_t>& buffer) {
  detail::return_buffer(buffer);
}

Role Connection::role() const noexcept {
  return Impl::of(*this).options.role;
}

bool Connection::input_after_close() const noexcept {
  return Impl::of(*this).input_after_close;
}

bool Connection::finished() const noexcept {
  const ConnectionState s = Impl::of(*this).state;
  return (s == ConnectionState::closed || s == ConnectionState::failed) && buffered_amount() == 0;
}

}  // namespace wsx::proto
