// The per-connection WebSocket state machine (RFC 6455 §5-§7, RFC 7692 §6), for both roles.
// Bytes in, events out; calls in, bytes out. No sockets, threads or clocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "wsx/export.hpp"
#include "wsx/proto/deflate.hpp"
#include "wsx/proto/errors.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::proto {

namespace detail {
struct ConnectionInternals;  // src/proto/connection_internals.hpp, for tests
}

enum class MessageKind : std::uint8_t { text, binary };

// Sees every frame the connection sends and receives, control frames included, for tracing
// tools (`wsx connect --trace`). Unset, it costs one pointer test per frame.
class WSX_API FrameObserver {
 public:
  virtual ~FrameObserver() = default;
  // `payload` is unmasked. Sent frames: the whole payload as it goes out (compressed, when the
  // message is), reported when the frame is queued. Received frames: the payload bytes that
  // came with the frame's first chunk — the whole payload unless the frame was split across
  // receive() calls — reported before the frame takes effect (a ping before its pong).
  // A received frame whose header breaks a rule is not reported (an error event follows).
  virtual void on_frame(bool outgoing, const FrameHeader& header,
                        std::span<const std::uint8_t> payload) = 0;
};

struct WSX_API ConnectionOptions {
  Role role = Role::server;
  std::size_t max_message_size = 16 * 1024 * 1024;  // larger → close 1009
  // What fragmentation may cost. Every frame costs a header's decoding and checks whatever it
  // carries, so a message of endless empty fragments would hold a connection busy without ever
  // reaching max_message_size. A message may use `free_fragments` frames whatever they carry;
  // beyond that its frames must carry `min_fragment_average` payload bytes each on average
  // (counted on the wire, compressed or not), else close 1008 (policy violation: the message
  // is not too big, its fragmentation breaks this policy). The defaults let any message that
  // needs no more than 4096 frames, or whose frames carry 16 bytes or more, through: 4 MiB in
  // 64-byte fragments passes (65,536 frames); an endless stream of empty fragments stops at
  // frame 4097. min_fragment_average 0: no bound.
  std::size_t free_fragments = 4096;
  std::size_t min_fragment_average = 16;
  // Deliver data frames as `fragment` events as they arrive instead of assembling whole
  // messages (for messages too big to hold). max_message_size still applies. Every message then
  // arrives as one or more fragment events: the pieces follow the bytes as they arrive (a frame
  // split across two receive() calls gives two pieces; a compressed message gives its inflated
  // output, in pieces of about MessageInflater::max_output_step at most), `first` is set on the
  // first piece and `last` on the final one, and an empty piece is only delivered when it ends a
  // message. Nothing of a message is kept between pieces, so memory does not grow with its size.
  // A text piece is valid UTF-8 so far but may end inside a character (validated across pieces).
  bool deliver_fragments = false;
  bool auto_pong = true;                 // answer each ping with a pong carrying the same payload
  std::optional<DeflateParams> deflate;  // as negotiated in the handshake
  DeflateTuning deflate_tuning;
  FrameObserver* frame_observer = nullptr;  // not owned; must outlive the connection
};

enum class EventKind : std::uint8_t { message, fragment, ping, pong, close, error };

struct WSX_API Event {
  EventKind kind = EventKind::message;
  MessageKind message_kind = MessageKind::text;  // message, fragment
  // Payload of message, fragment, ping and pong. Valid only during the callback; for an
  // unfragmented, uncompressed message wholly inside the bytes given to receive() it is a view
  // into those bytes.
  std::span<const std::uint8_t> data;
  bool first = false;       // fragment: first piece of a message
  bool last = false;        // fragment: last piece of a message
  bool compressed = false;  // message, fragment: the message came compressed (RFC 7692)
  // message, and a message's last fragment: its payload bytes as they came on the wire (the
  // compressed size when `compressed`; saturates at 2^64-1). 0 on other events.
  std::uint64_t wire_size = 0;
  // close: the peer's code (1005 if none); error: the code of the broken rule, which went out in
  // our close frame unless we had already sent one.
  std::uint16_t close_code = 0;
  std::string_view close_reason;              // close
  ProtocolError error = ProtocolError::none;  // error

  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
};

class WSX_API EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void on_event(const Event& event) = 0;
};

enum class ConnectionState : std::uint8_t {
  open,
  closing,  // we sent a close frame and wait for the peer's
  closed,   // both close frames exchanged: the transport may be closed (server first)
  failed,   // the peer broke a rule, or fail() was called: a close frame is queued, then close
            // the transport
};

enum class SendResult : std::uint8_t {
  ok,
  closed,   // a close frame was already sent: nothing after it (RFC 6455 §5.5.1)
  invalid,  // misuse: control payload > 125 bytes, unsendable close code, fragment misuse
};

namespace detail {

// What the owner of a connection reads on every send (its state, the output queued), where an
// inline accessor reaches it: Connection::Impl derives from it. As calls, state() and
// buffered_amount() cost ~17 instructions per message of a small-message echo.
struct ConnectionHead {
  std::size_t output_end = 0;   // bytes of frames written to the output
  std::size_t output_read = 0;  // of those, the bytes the transport consumed
  ConnectionState state = ConnectionState::open;
};

struct WSX_API ConnectionDeleter {  // deletes the Impl around the head
  void operator()(ConnectionHead* head) const noexcept;
};

}  // namespace detail

// What our compressor took and gave since the connection started (metrics).
struct WSX_API DeflateTotals {
  std::uint64_t plain = 0;       // message bytes given to it
  std::uint64_t compressed = 0;  // payload bytes it produced
};

struct WSX_API SendFlags {
  bool compress = true;  // when permessage-deflate was negotiated and above the threshold
};

// The transport, offered a frame to write at once by Connection::send_direct().
class WSX_API DirectOutput {
 public:
  // Writes what it can of `header` then `payload` (one gathered write) and returns the bytes
  // taken, 0 if none; never more than offered.
  virtual std::size_t write_now(std::span<const std::uint8_t> header,
                                std::span<const std::uint8_t> payload) = 0;

 protected:
  ~DirectOutput() = default;
};

class WSX_API Connection {
 public:
  // Throws std::invalid_argument when options.deflate holds a window size outside 8-15.
  explicit Connection(const ConnectionOptions& options);
  // Empty, like a moved-from one: only assignment, destruction and the test below are valid.
  // Lets an owner create the connection late without a flag of its own.
  Connection() noexcept;
  ~Connection();
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  explicit operator bool() const noexcept { return impl_ != nullptr; }

  // Processes bytes from the peer, calling handler.on_event for every event. Unmasks in place,
  // so the bytes must be writable. A partial frame at the end is kept until more bytes come.
  // After a close or failure, further bytes are ignored (the peer must send nothing after its
  // close frame, RFC 6455 §5.5.1). The handler may call the send functions of this connection,
  // but not receive() and must not destroy or move it.
  // An exception from the handler (or the frame observer, or out of memory) leaves receive()
  // with the connection failed, as a Session fails it when a callback throws: a close frame
  // with 1011 is queued unless one was already sent, state() is failed, and no event follows,
  // from these bytes or later ones (where reading them stopped is lost with the exception, so
  // nothing after it could be read correctly). The same holds for receive_direct().
  void receive(std::span<std::uint8_t> bytes, EventHandler& handler);
  // Where the transport may read the next bytes from the peer straight into their final place,
  // instead of into its own buffer for receive() to copy them from: the rest of a large
  // uncompressed data frame (16 KiB or more still to come) whose message is being assembled. A
  // 1 MiB message then reaches its storage without a copy in user space. Empty when there is no
  // such place. The span may hold fewer bytes than the frame still has; it is valid until the
  // next call of this connection. Only storage the message already holds is offered (a buffer an
  // earlier large message filled, kept by the connection or the thread's pool): nothing is
  // allocated or zeroed for it, so the first large message on a thread is copied as before and
  // the ones after it are not.
  std::span<std::uint8_t> direct_receive_buffer() noexcept;
  // The first `n` bytes of the span direct_receive_buffer() returned were filled by the peer's
  // bytes (nothing else was called in between): processed as receive() would process them
  // (unmasked in place, UTF-8, the message event when the message ends).
  void receive_direct(std::size_t n, EventHandler& handler);

  SendResult send_text(std::string_view text, SendFlags flags = {});
  SendResult send_binary(std::span<const std::uint8_t> data, SendFlags flags = {});
  SendResult send(MessageKind kind, std::span<const std::uint8_t> data, SendFlags flags = {});
  // send(), but a large message need not be copied: when no output is pending and the message
  // goes out as one unmasked, uncompressed frame (server role), its header and `data` are first
  // offered to `out`, and only the bytes `out` did not take are queued (copied). Otherwise the
  // same as send(), `out` unused. Worth it for large payloads (the transport's write is a
  // system call of its own).
  SendResult send_direct(MessageKind kind, std::span<const std::uint8_t> data, SendFlags flags,
                         DirectOutput& out);
  // One piece of a message sent as several frames; `kind` of the first piece sets the type and
  // is ignored on later ones. Whether a fragmented message is compressed is decided by the first
  // piece's flags (the threshold does not apply: the total size is not known). While a
  // fragmented message is in progress, send()/send_text()/send_binary() return invalid; control
  // frames may be sent between its pieces.
  SendResult send_fragment(MessageKind kind, std::span<const std::uint8_t> data, bool fin,
                           SendFlags flags = {});
  SendResult ping(std::span<const std::uint8_t> payload = {});
  SendResult pong(std::span<const std::uint8_t> payload = {});
  // Starts the closing handshake. Code 1005 sends an empty close payload. Returns invalid for a
  // code that may not be sent, a reason with code 1005, or a reason longer than 123 bytes or not
  // UTF-8 (it is never cut).
  SendResult close(std::uint16_t code = 1000, std::string_view reason = {});
  // Fails the connection from this side (RFC 6455 §7.1.7), for a reason of our own such as an
  // internal error (1011): queues a close frame with `code` unless one was already sent, stops
  // reading (the rest of a receive() in progress is dropped, no event follows) and enters
  // `failed`: close the transport once the output is out, without waiting for the peer's close.
  // Returns invalid, changing nothing, for a code or reason close() would refuse.
  SendResult fail(std::uint16_t code, std::string_view reason = {});

  // Output is pulled: write what you can of pending_output(), then consume_output(n). The view
  // stays valid until the next call that sends or consumes.
  std::span<const std::uint8_t> pending_output() const noexcept;
  void consume_output(std::size_t n) noexcept;
  std::size_t buffered_amount() const noexcept { return impl_->output_end - impl_->output_read; }
  // Payload bytes of the message being received, held until it is complete (its assembled or
  // inflated part; 0 between messages; with deliver_fragments at most one inflated piece).
  std::size_t assembling_amount() const noexcept;
  // During the message event of a message that was assembled or inflated (not a view into the
  // bytes given to receive()): when `data` lies within that message, hands over its storage, so
  // the rest of a large echo the socket did not take is queued by moving the buffer instead of
  // copying it. The event's view stays valid (the storage moved, its bytes did not). Returns an
  // empty vector otherwise. Give the storage back with recycle_buffer() once sent.
  std::vector<std::uint8_t> take_received_message(std::span<const std::uint8_t> data) noexcept;

  ConnectionState state() const noexcept { return impl_->state; }
  Role role() const noexcept;
  // The code of our close frame once one is queued (1005 when it carries none), else 0.
  std::uint16_t sent_close_code() const noexcept;
  DeflateTotals deflate_totals() const noexcept;
  // Closed or failed, and every queued byte consumed: time to close the transport.
  bool finished() const noexcept;
  // Bytes came after the peer's close frame (and were dropped). Nothing may follow it (RFC 6455
  // §5.5.1); a peer that still sends may have more on the way, which closing the transport at
  // once would answer with a reset.
  bool input_after_close() const noexcept;

 private:
  friend struct detail::ConnectionInternals;
  friend struct detail::ConnectionDeleter;
  struct Impl;  // a detail::ConnectionHead
  std::unique_ptr<detail::ConnectionHead, detail::ConnectionDeleter> impl_;
};

// Gives a large buffer (one from take_received_message()) to this thread's pool, where the next
// large message received or queued on this thread finds it already mapped; frees it when the
// pool has no use for it. `buffer` is left empty without storage.
WSX_API void recycle_buffer(std::vector<std::uint8_t>& buffer);

}  // namespace wsx::proto
