// What a WebSocket session runs on: the carrier moves the session's bytes (the WebSocket frames,
// and during an HTTP/1.1 upgrade the HTTP head before them) to and from the peer. The session
// (session.hpp) does the protocol — phases, callbacks, closing handshake, backpressure, topics,
// the memory budget — and never asks which carrier it has; the carrier knows nothing of frames.
//
// Bytes in: the carrier calls Session::carrier_data() with bytes received, valid during the call
// and writable (the protocol core unmasks in place). It asks Session::carrier_read_allowance()
// before reading (the memory budget may want fewer bytes), and reads nothing between
// pause_reading() and resume_reading(). A carrier reading from a socket also asks
// Session::carrier_read_destination() (TCP: io::StreamHandler::read_destination): when it
// names a place — the rest of a large message being assembled — the read puts its first bytes
// there and reports them with Session::carrier_data_placed(), then any that followed with
// carrier_data(), so a large message reaches its storage without a copy.
// Bytes out: the session says request_flush(); when it can send, the carrier pulls with
// Session::carrier_gather() (buffers in order, valid until consumed) and reports what left with
// Session::carrier_consume(). A carrier that can write at once (writes_in_place()) also takes
// write_now(): a large payload straight from the caller's buffer, or everything gathered while
// received bytes are borrowed — this is how TCP (and TLS, encrypting at once) keeps zero-copy echo
// and one writev per loop iteration. After write_blocked() turned true the carrier calls
// Session::carrier_drained() once everything gathered has left (HTTP/2: once the window
// reopens). Either call may end the reading pause the session took above max_backpressure, and
// only when its buffered amount is back to half of it (hysteresis): not at every few bytes.
// unsent_bytes() is what the carrier itself still holds (TLS ciphertext, a response not yet taken):
// counted in buffered_amount() and in the server's memory budget. Ending: close_gracefully() once
// the protocol is over (what is queued still goes out, input is drained, bounded;
// Session::carrier_end() follows when done); close() drops it now, no call follows.
// Session::carrier_end() without close_gracefully() means the peer finished sending (FIN);
// Session::carrier_error() that the carrier failed — both become close code 1006 when the protocol
// was open.
//
// The carriers:
// - TCP/TLS (tcp_carrier.hpp): io::Stream. Transport::http1; writes_in_place() (with TLS: encrypted
// at once).
// - Long-polling (not built yet; its wire protocol: docs/long-polling-protocol.md, to come): no
//   socket of its own, it lives in the server's session table and is fed by HTTP requests. A send
//   POST's body goes to carrier_data() (a retried prefix skipped by offset); while reading is
//   paused the POST's 204 waits, which is the client's flow control, and carrier_read_allowance()
//   bounds how much of a body is fed at once. request_flush() completes a waiting recv GET: it
//   gathers, copies the bytes into its retransmit buffer and calls carrier_consume() at once — for
//   the session they have left; unsent_bytes() is that buffer (kept until a later GET's ack=), so
//   the budget and buffered_amount() see it, and write_blocked() is "the buffer is over its limit",
//   cleared by an ack, which calls carrier_drained() — as does any ack that shrinks the buffer
//   once the session's queue is empty, for the bytes it frees leave buffered_amount() without a
//   carrier_consume(). writes_in_place() is false (no zero-copy).
//   The session timing out (no request within `timeout`) is carrier_error() (1006);
//   close_gracefully() keeps the buffer until acknowledged or the close timeout, then
//   carrier_end(); close() drops the session from the table. transport() is long_polling.
// - HTTP/2 stream (RFC 8441, not built yet): one nghttp2 stream of a connection that is itself
//   on an io::Stream. DATA frames of the stream go to carrier_data(); pause_reading() stops
//   returning the consumed bytes to the stream's receive window (nghttp2's
//   consume_stream()), resume_reading() returns them. request_flush() resumes the stream's
//   data provider, which gathers/consumes up to the send window and the frame size;
//   write_blocked() is "send window exhausted", a WINDOW_UPDATE that reopens it calls
//   carrier_drained(); unsent_bytes() is the DATA nghttp2 and the connection's TLS still hold
//   for this stream. close_gracefully() ends the stream with END_STREAM after the queued output
//   and discards the peer's DATA until its END_STREAM (then carrier_end()); close() is
//   RST_STREAM(CANCEL); a RST_STREAM from the peer or the connection dying is carrier_error()
//   (1006); the peer's END_STREAM is carrier_end(). writes_in_place() is false; tls() is the
//   connection's. transport() is http2.
#pragma once

#include <cstddef>
#include <string>

#include "session/layer_export.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/tcp_socket.hpp"
#include "wsx/io/tls_session.hpp"
#include "wsx/websocket.hpp"

namespace wsx::session {

// Buffers offered per gather: as many as one writev takes.
inline constexpr std::size_t max_gather_buffers = io::TcpSocket::max_write_buffers;

class WSX_LAYER_API Carrier {
 public:
  Carrier() = default;
  Carrier(const Carrier&) = delete;
  Carrier& operator=(const Carrier&) = delete;

  virtual Transport transport() const noexcept = 0;
  // The loop the carrier (and its session) run on.
  virtual io::EventLoop& loop() noexcept = 0;
  // False once closed (or when it could not even be set up).
  virtual bool is_open() const noexcept = 0;
  // The TLS session under the carrier (the connection's, for a stream of one), or null.
  virtual const io::TlsSession* tls() const noexcept = 0;
  // The peer's address as text ("127.0.0.1:51234"); still given in the close callback, empty
  // only where the carrier can no longer know it.
  virtual std::string remote_address() const = 0;

  // ---- bytes out
  // Output is waiting: the carrier gathers it when it can (at the latest at the end of the
  // loop iteration).
  virtual void request_flush() = 0;
  // True when write_now() may hand bytes to the peer at once, so the session can lend buffers
  // it does not own for the duration of the call (plain TCP).
  virtual bool writes_in_place() const noexcept = 0;
  // Sends `buffers` now if nothing is waiting ahead of them; returns the bytes taken (0 when it
  // cannot). Only called when writes_in_place().
  virtual std::size_t write_now(std::span<const io::ConstBuffer> buffers) noexcept = 0;
  // The carrier cannot take more now (socket full, flow-control window exhausted).
  virtual bool write_blocked() const noexcept = 0;
  // Bytes the carrier holds that were consumed from the session but have not reached the peer.
  virtual std::size_t unsent_bytes() const noexcept = 0;
  // Bytes received for the session that it has not read yet and the carrier holds in memory (a
  // long-polling send body waiting while the session does not read; a socket leaves them in
  // the kernel): they count in the session's memory footprint, not in its buffered_amount.
  virtual std::size_t held_input_bytes() const noexcept { return 0; }
  // False when unsent_bytes() and held_input_bytes() are 0 for the carrier's whole life (plain
  // TCP): the session then never asks them, on a path taken several times per message. Asked
  // once, right after the carrier is constructed.
  virtual bool keeps_bytes() const noexcept { return true; }

  // ---- bytes in
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;

  // ---- ending
  // The protocol is over: queued output goes out, then the carrier ends (`send_fin` false: the
  // peer is to end first, as a WebSocket client waits for the server's FIN). Input is read and
  // dropped meanwhile, at most `discard_limit` bytes (more: carrier_error()). carrier_end()
  // follows when done; bounding the time is the session's job.
  virtual void close_gracefully(std::size_t discard_limit, bool send_fin) = 0;
  // True when close() right after everything was consumed still delivers it (plain TCP: the
  // kernel sends it, then FIN), so a finished closing handshake need not linger.
  virtual bool consumed_is_delivered() const noexcept = 0;
  // True when the last read took everything the peer had sent (a socket: the kernel held fewer
  // bytes than asked for), so that close() now leaves no unread input behind — which would make
  // the kernel answer with a reset instead of FIN. False when unsure.
  virtual bool input_drained() const noexcept { return false; }
  // The protocol is over and close() follows as soon as the output queued now is consumed (a
  // finished closing handshake that needs no lingering close): TCP lets the last bytes wait
  // for the FIN, to leave together in one segment.
  virtual void close_after_output() noexcept {}
  // Abrupt: drops the carrier now. No call to the session follows.
  virtual void close() noexcept = 0;

 protected:
  ~Carrier() = default;
};

}  // namespace wsx::session
