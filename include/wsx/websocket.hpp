// One WebSocket connection as the application sees it, shared by the server and the client.
//
// Callbacks receive a `WebSocket&` on the connection's loop thread; everything on it must be
// called from that thread. To reach a connection from another thread, take a WebSocketHandle
// (handle()) and post to it: the work runs on the loop if the connection still exists then.
//
// Sending never blocks: frames are queued and every frame queued during one loop iteration
// leaves in one writev at its end. Large messages (16 KiB or more) over plain TCP are not
// copied when that can be avoided: one whose payload lies in the message being handled (an
// echo) is referenced and leaves, with the frames around it, before the callback's read ends;
// another is written at once when nothing is queued. Only what the socket did not take is
// copied. send() tells the caller what happened
// (SendStatus): queued, queued but the peer is behind (wait for drain), refused by the
// backpressure limit, or not sent because the connection is closing.
//
// Timeouts (all per connection, one timer in the wheel):
// - idle: after `idle_timeout` without a byte from the peer a ping is sent; if still nothing
//   arrives within `idle_ping_wait`, the connection is closed with 1001 (going away: this end
//   leaves a connection it considers dead; 1011 would claim an internal error, 1008 a policy
//   breach by the peer). Sending does not count as activity: a peer that only receives must still
//   answer pings, which every conforming peer does automatically.
// - closing handshake: after our close frame, `close_timeout` for the peer's reply; then the
//   connection is dropped and the close callback reports 1006, not clean.
// - lingering close: the close callback fires as soon as the closing handshake ends (the peer's
//   close frame arrived) or the peer broke a rule (1002, 1007, 1009, ...: our close frame is
//   queued), but TCP is closed with care: our close frame goes out, then our FIN — the server
//   closes TCP first; a client after a clean close waits for the server's FIN instead (RFC 6455
//   §7.1.1) — and whatever the peer still sends is read and dropped, because closing a socket
//   with unread input resets the connection, which can destroy the close frame before the peer
//   reads it. It ends at the peer's FIN, after `close_timeout`, or once 1 MiB was dropped (then
//   the connection is reset). No callback fires meanwhile; a client's `done` (and reconnect)
//   comes after it. Not needed after a clean close of a server over plain TCP, which closes the
//   socket as soon as its last bytes are in the kernel (FIN first still, RFC 6455 §7.1.1: "MUST
//   close the underlying TCP connection immediately") when no reset can follow: after its own
//   close (the peer's reply shows it read our close frame), or after the peer's when nothing
//   followed the peer's close frame and no input is left unread.
//
// Exceptions: a callback that throws never takes the thread down. The connection it belongs to
// fails with close code 1011 (our close frame goes out, then the lingering close), the close
// callback still fires once with 1011 so the application can clean up (unless it was the close
// callback that threw), every other connection goes on, and the error hook is told (see
// error_report.hpp: ServerOptions::error_hook, ClientOptions::error_hook; stderr without one).
//
// Streaming receive: set `fragment` instead of `message` to receive each message as it arrives,
// in pieces, without the library ever holding it whole: the way to take uploads larger than
// memory (raise max_message_size for them; it still bounds each message's total). Pieces follow
// the bytes as they come off the socket (a frame larger than one read arrives in several
// pieces, a compressed one as its inflated output in pieces of at most ~128 KiB), `first` marks
// a message's first piece and `fin` its last one (which may be empty). A text message is checked
// for UTF-8 across pieces (1007 at the first invalid byte; a piece may end inside a character),
// and permessage-deflate works as usual. With `fragment` set, `message` is never called.
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "wsx/export.hpp"
#include "wsx/proto/connection.hpp"

namespace wsx {

using MessageKind = proto::MessageKind;

// A whole message. `data` is valid during the callback only (often a view into the read buffer).
struct WSX_API Message {
  std::span<const std::uint8_t> data;
  MessageKind kind = MessageKind::text;

  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
};

// A piece of a message being received (WebSocketHandlers::fragment). `data` is valid during the
// callback only.
struct WSX_API Fragment {
  std::span<const std::uint8_t> data;
  MessageKind kind = MessageKind::text;  // of the whole message
  bool first = false;                    // the message's first piece
  bool fin = false;                      // the message's last piece: it is complete

  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
};

enum class SendStatus : std::uint8_t {
  success,       // queued (or already written); it leaves at the end of this loop iteration
  backpressure,  // queued, but the peer is behind (socket full or over the limit): wait for drain
  dropped,       // NOT queued: more than max_backpressure was already queued ahead of it, with
                 // BackpressurePolicy::refuse, or the server's max_buffered_bytes is nearly
                 // reached and this connection holds or would hold more than a 64 KiB message
                 // (try again after drain). Never for the size of the message itself.
  closed,        // NOT queued: the connection is closing or closed — also when this very send
                 // found more than max_backpressure queued ahead of it with
                 // BackpressurePolicy::close (close 1008 follows)
  invalid,       // NOT queued: misuse (control payload > 125 bytes, unsendable close code, a data
                 // frame in the middle of our own fragmented message, ...)
};

// What happens to a send made while more than max_backpressure bytes are already waiting (the
// peer is that far behind). The message being sent does not count against the limit: one of any
// size is accepted as long as what waits ahead of it is within the limit (a 16 MiB message with
// the default 4 MiB limit included, whatever the transport, even with a few bytes still queued).
// The queue therefore holds at most max_backpressure plus the last message accepted; the send
// that crossed the limit returns backpressure (wait for drain), the next ones get this policy.
enum class BackpressurePolicy : std::uint8_t {
  refuse,  // the send returns dropped; the connection stays open (wait for drain, then resend)
  close,   // the connection is closed with 1008 (policy violation: a consumer too slow)
};

struct WSX_API CloseInfo {
  // The peer's close code (1005 when its close frame had none), or the code of the rule it broke
  // (1002, 1007, 1009, ...), or 1006 when the transport ended without a closing handshake.
  std::uint16_t code = 1006;
  std::string_view reason;
  bool clean = false;  // true when close frames were exchanged and the peer broke no rule
};

struct WSX_API WebSocketOptions {
  std::size_t max_message_size = 16 * 1024 * 1024;                     // larger → close 1009
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(120);  // 0: never idle out
  std::chrono::milliseconds idle_ping_wait = std::chrono::seconds(10);
  std::chrono::milliseconds close_timeout = std::chrono::seconds(5);
  // Bytes queued and not yet on the socket beyond which a send is refused (see
  // BackpressurePolicy: the message being sent does not count).
  std::size_t max_backpressure = 4 * 1024 * 1024;
  BackpressurePolicy backpressure_policy = BackpressurePolicy::refuse;
  // Sees every frame sent and received (tracing); not owned, must outlive the connections.
  proto::FrameObserver* frame_observer = nullptr;
};

class WebSocket;

// Type-erased callbacks; every one is optional. They run on the connection's loop thread and may
// call anything on the WebSocket, including close(). After `close` no callback follows, even
// for frames that arrived in the same read (terminate() reports `close` at once, so nothing of
// that read follows it; after close() the peer's messages still arrive until its close frame).
// An exception escaping a callback fails the connection with 1011 (see the top of this file).
struct WSX_API WebSocketHandlers {
  std::function<void(WebSocket&)> open;
  std::function<void(WebSocket&, Message)> message;
  // Streaming receive (see the top of this file): when set, every message arrives as pieces
  // here and `message` is not called.
  std::function<void(WebSocket&, Fragment)> fragment;
  // The socket had filled up (a send returned backpressure) and everything queued has now left.
  std::function<void(WebSocket&)> drain;
  std::function<void(WebSocket&, std::span<const std::uint8_t>)> ping;  // answered already
  std::function<void(WebSocket&, std::span<const std::uint8_t>)> pong;
  std::function<void(WebSocket&, const CloseInfo&)> close;
  // Every frame sent and received, control frames and pub/sub frames included, for traces:
  // `outgoing`, the header, and the payload as proto::FrameObserver describes it (unmasked; a
  // received frame split across reads shows its first part). Observe only: do not send or
  // close from it. Unset, it costs nothing.
  std::function<void(WebSocket&, bool outgoing, const proto::FrameHeader&,
                     std::span<const std::uint8_t> payload)>
      frame;
};

class WebSocketHandle;

// What a recovering subscriber is told, after what it missed and before live messages.
enum class RecoveryStatus : std::uint8_t {
  complete,     // every message after `since` was delivered: no gap
  truncated,    // the history no longer reaches back to `since`: what it still holds was
                // delivered, older messages are lost
  unavailable,  // nothing could be recovered (no broker with history, broker down, `since`
                // malformed); live messages follow
};

// A subscription that wants to know where it is in the topic (a server with a broker that
// keeps history, see broker.hpp). `positions`: every message arrives as "<position>\n<payload>"
// in its own kind (an empty position when the topic keeps no history). `since`: first the
// messages published after that position, in order, then `recovered` (on the connection's
// thread), then the live ones — no gap and no duplicate between them.
struct WSX_API SubscribeOptions {
  bool positions = false;
  std::optional<std::string> since;
  std::function<void(WebSocket&, RecoveryStatus)> recovered;
};

// What a WebSocket runs on (WebSocket::transport()). The API is the same on every one; whether
// the bytes are encrypted (TLS) is a separate matter.
enum class Transport : std::uint8_t {
  http1,         // an HTTP/1.1 upgrade on its own TCP (or TLS) connection
  http2,         // a stream of an HTTP/2 connection (RFC 8441)
  long_polling,  // the HTTP long-polling fallback
};

// "h1", "h2", "long-polling": how logs, traces and the transport label of /metrics name it.
WSX_API std::string_view transport_name(Transport transport) noexcept;

class WSX_API WebSocket {
 public:
  WebSocket(const WebSocket&) = delete;
  WebSocket& operator=(const WebSocket&) = delete;

  // A text message must be valid UTF-8: send() does not check it (that would cost a pass over
  // every message), and a peer that does fails the connection with 1007.
  SendStatus send(std::span<const std::uint8_t> data, MessageKind kind = MessageKind::binary,
                  bool compress = true);
  SendStatus send(std::string_view text, MessageKind kind = MessageKind::text,
                  bool compress = true);
  // One piece of a message sent as several frames (`kind` of the first piece counts). Until the
  // piece with `fin`, other data sends return invalid (control frames are fine).
  SendStatus send_fragment(std::span<const std::uint8_t> data, MessageKind kind, bool fin,
                           bool compress = true);
  SendStatus ping(std::span<const std::uint8_t> payload = {});
  SendStatus pong(std::span<const std::uint8_t> payload = {});
  // Starts the closing handshake (1005 sends no code). The close callback fires when it ends;
  // until then the peer's messages may still arrive. invalid (nothing sent, the connection
  // stays open) for a code that may not be sent (RFC 6455 §7.4: below 1000, 1004, 1006,
  // 1015-2999, 5000 and up; 1005 with a reason) or a reason over 123 bytes or not UTF-8;
  // closed once our close frame went out.
  SendStatus close(std::uint16_t code = 1000, std::string_view reason = {});
  // Drops the TCP connection now, without a closing handshake (close callback: 1006).
  void terminate();

  // Bytes queued and not yet handed to the kernel (TLS: ciphertext included).
  std::size_t buffered_amount() const noexcept;
  bool is_open() const noexcept;                  // the protocol is open: data may be sent
  std::string_view subprotocol() const noexcept;  // chosen in the handshake, empty if none
  bool compressed() const noexcept;               // permessage-deflate negotiated
  std::string remote_address() const;             // "127.0.0.1:51234", "[::1]:51234"
  Transport transport() const noexcept;           // what the connection runs on

  // Per-connection application data, set at upgrade (server) or by the user at any time.
  std::any& user_data() noexcept;
  template <class T>
  T* data() noexcept {
    return std::any_cast<T>(&user_data());
  }

  // Pub/sub (server connections; a client connection has no topics and returns false / 0).
  bool subscribe(std::string_view topic);
  // With options: positions, and recovery of what was missed (see SubscribeOptions). False when
  // already subscribed (or recovering) to `topic`, or without topics.
  bool subscribe(std::string_view topic, SubscribeOptions options);
  bool unsubscribe(std::string_view topic);
  bool subscribed(std::string_view topic) const;
  // Publishes to every subscriber of `topic` on every thread except this connection. Returns
  // false when the connection has no topics, or as Server::publish does: with a broker, false
  // means it refused the message and nobody gets it.
  bool publish(std::string_view topic, std::span<const std::uint8_t> data,
               MessageKind kind = MessageKind::binary);
  bool publish(std::string_view topic, std::string_view text, MessageKind kind = MessageKind::text);

  // A thread-safe handle to this connection.
  WebSocketHandle handle();

 protected:
  WebSocket() = default;
  ~WebSocket() = default;
};

namespace detail {
struct HandleState;
}

// Reaches a connection from any thread. Copyable; may outlive the connection and its loop:
// work for a connection that is gone by the time it runs is dropped. Each function returns
// false when the work could not even be handed to the loop (the loop no longer exists or the
// handle is empty); true does not mean the connection still existed.
class WSX_API WebSocketHandle {
 public:
  WebSocketHandle() = default;

  // Copies the message and posts its send. Only whether it was posted can be known here: its
  // SendStatus is decided later, on the loop, by what the connection has queued then (and
  // whether it still exists), and waiting for it would block this thread on the loop. It is not
  // reported. A sender that must act on it (stop at backpressure, resend a dropped message after
  // drain) sends from post() instead, where WebSocket::send returns it on the loop's thread.
  bool send(std::span<const std::uint8_t> data, MessageKind kind = MessageKind::binary);
  bool send(std::string_view text, MessageKind kind = MessageKind::text);
  bool close(std::uint16_t code = 1000, std::string_view reason = {});
  // Runs `task` on the connection's loop with the connection, if it still exists then. A task
  // that throws fails that connection with 1011, like a callback.
  bool post(std::function<void(WebSocket&)> task);
  bool empty() const noexcept { return state_ == nullptr; }

 private:
  friend class WebSocket;
  explicit WebSocketHandle(std::shared_ptr<detail::HandleState> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::HandleState> state_;
};

}  // namespace wsx
