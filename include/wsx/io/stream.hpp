// A connected byte stream on an event loop — plain TCP, or TLS through a TlsSession — so the
// server and client drive a protocol Connection the same way over either.
//
// Reads are pushed: plaintext arrives in a buffer the thread lends for the call, writable so
// the protocol core can unmask in place. Writes are pulled, like the core's output: the owner
// says request_flush(), and at the end of the loop iteration the stream gathers the owner's
// buffers and sends them in one writev. While the socket is full the stream stops pulling
// (the owner sees its own buffered amount grow) and calls on_stream_drained() once it empties.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "wsx/export.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/tcp_socket.hpp"
#include "wsx/io/tls_session.hpp"

namespace wsx::io {

class WSX_API StreamHandler {
 public:
  // Plaintext from the peer. The bytes are valid during the call only.
  virtual void on_stream_data(std::span<std::uint8_t> data) = 0;
  // TLS only: the handshake completed (the protocol ALPN chose is known), before any
  // plaintext. A client that offered several protocols learns here which one to speak first
  // (HTTP/2's preface or an HTTP/1.1 request). May destroy the stream.
  virtual void on_stream_secured() {}
  // Asked before every read: at most how many bytes to read now (a memory budget may want
  // fewer than the read buffer holds). 0 reads nothing; the handler must then have paused
  // reading, or it is asked again at once.
  virtual std::size_t read_allowance() { return SIZE_MAX; }
  // Plain TCP: asked before every read, memory of the handler's own where the next bytes are
  // headed anyway (the rest of a large message being assembled). The read puts its first bytes
  // there and what does not fit in the read buffer (one readv), then reports them with
  // on_stream_data_placed() followed, if more came, by on_stream_data(). Saves copying a large
  // message from the read buffer into its storage. Empty (the default): the read buffer only.
  virtual std::span<std::uint8_t> read_destination() { return {}; }
  // The first `n` bytes of the span read_destination() returned hold the peer's next bytes.
  virtual void on_stream_data_placed(std::size_t n) { static_cast<void>(n); }
  // Fills `out` with the next buffers to send, in order, and returns how many; 0 when there
  // is nothing to send. The buffers must stay valid until consume_output().
  virtual std::size_t gather_output(std::span<ConstBuffer> out) = 0;
  // The first `n` bytes of what gather_output() returned are sent (or, with TLS, encrypted).
  virtual void consume_output(std::size_t n) = 0;
  // Whether gather_output() only reports what is queued: it runs no callback and changes
  // nothing. Then the stream's writes may join the other streams' in the loop's batch
  // (EventLoopOptions::batch_sends), which holds the gathered buffers until it is sent. The
  // bytes are in the kernel before consume_output() reports them, and other handlers' callbacks
  // may run in between: meanwhile the output may be appended to, never changed or freed.
  virtual bool gather_is_pure() const noexcept { return false; }
  // The socket was full and now everything gathered has left.
  virtual void on_stream_drained() {}
  // The peer finished sending (FIN or TLS close_notify). Writing is still possible.
  // After close_gracefully(): the lingering close is over (everything sent, the peer's FIN
  // read) and the socket is closed.
  virtual void on_stream_end() {}
  // The stream failed and is closed (reset, TLS failure with its reason). Called once; any
  // callback may destroy the stream. Before a failed write is reported, what the peer sent
  // until then is delivered (on_stream_data, even while reading is paused; TLS too): its last
  // words, a WebSocket close frame say, may explain the failure.
  virtual void on_stream_error(std::string_view reason) = 0;

 protected:
  ~StreamHandler() = default;
};

struct WSX_API StreamOptions {
  // Plaintext gathered into TLS per flush while the socket accepts everything; bounds the
  // ciphertext the stream holds when the socket then fills up.
  std::size_t max_tls_gather = 256 * 1024;
};

class WSX_API Stream final : private IoHandler {
 public:
  // Read buffer lent to on_stream_data (one per thread, shared by all streams). Large enough
  // that a 64 KiB message with its frame header usually arrives in one read and can be handed
  // out in place; untouched pages cost nothing (it is not zeroed).
  static constexpr std::size_t read_buffer_size = 256 * 1024;

  Stream(EventLoop& loop, TcpSocket socket, StreamHandler& handler,
         std::optional<TlsSession> tls = std::nullopt, const StreamOptions& options = {});
  ~Stream();  // closes the socket at once if still open
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Output is waiting: it is gathered at the end of this iteration.
  void request_flush();
  // Writes `buffers` now, in one system call, when nothing can be waiting ahead of them: not
  // blocked, not shut down. Returns the bytes the kernel took (0 when it cannot write now; an
  // error is left for the next flush to report). With TLS (once its handshake is over) the
  // bytes are taken by encrypting them into the TLS output, sent by the next flush. For a large
  // payload sent straight from the caller's buffer: the caller queues whatever was not taken.
  std::size_t write_now(std::span<const ConstBuffer> buffers) noexcept;
  void pause_reading();
  void resume_reading();
  // Reads now what the socket holds, as if the loop had reported it readable: for a socket known
  // to have input waiting (accepted from a listener that defers accept until the client's first
  // bytes arrive), which saves waiting a loop iteration for the report. Nothing there costs one
  // read that finds none. The handler's callbacks may destroy the stream: the caller must not
  // touch it after this returns unless it knows it is alive.
  void read_now();
  // Graceful: sends what is left, then close_notify (TLS) and FIN. Reading continues until
  // the peer ends too; then the owner destroys the stream.
  void shutdown();
  // A lingering close, for a connection whose protocol is over. Closing a socket that still has
  // unread input makes the kernel send RST, which destroys what we sent last (a close frame, an
  // error response) if the peer has not read it yet (RFC 9112 §9.6). So: what is left of the
  // output goes out, then close_notify (TLS), then FIN unless `send_fin` is false (the peer is
  // to close TCP first: a WebSocket client waits for the server's FIN, RFC 6455 §7.1.1). Input
  // is read and dropped meanwhile — no on_stream_data, TLS records not even decrypted once the
  // handshake is over — up to `discard_limit` bytes; more fails the stream (on_stream_error).
  // When the output is out and the peer's FIN has been read, the socket is closed and
  // on_stream_end() follows. Bounding the time it may take is the owner's job.
  void close_gracefully(std::size_t discard_limit, bool send_fin = true);
  // Abrupt: closes the socket now. No callback follows.
  void close() noexcept;
  // The owner will close() as soon as everything it has queued is taken (consume_output()):
  // plain TCP then holds the last bytes back for the FIN, which leaves with them in one segment
  // instead of a segment of its own (a WebSocket server's close reply, then its FIN at once:
  // one packet fewer for both ends to process). Should the owner keep the socket open after
  // all, the held bytes leave anyway, within about 200 ms (TcpSocket::write). Nothing changes
  // with TLS.
  void close_after_output() noexcept { close_follows_ = true; }
  // From now on the stream's events go to `handler`, also from inside a callback: the rest of
  // what the current read brought goes to it. For a protocol chosen once the connection is up
  // (ALPN: HTTP/2 or HTTP/1.1), whose owner takes the stream over.
  void set_handler(StreamHandler& handler) noexcept {
    handler_ = &handler;
    batchable_ = handler.gather_is_pure();
  }
  // What release() hands back: the connection, ready for a new Stream.
  struct Released {
    TcpSocket socket;
    std::optional<TlsSession> tls;
    std::string plaintext;  // decrypted by TLS but not yet delivered, to be processed first
  };
  // Gives the connection up, for a new Stream of another owner (ALPN chose a protocol whose
  // owner makes its own stream); this one is closed after it and calls nothing more. Safe
  // inside on_stream_data: the current read stops there, and what TLS has decrypted beyond the
  // delivered bytes comes back in `plaintext` (the delivered ones stay valid for the call).
  Released release();

  EventLoop& loop() noexcept { return loop_; }
  bool is_open() const noexcept { return socket_.valid(); }
  bool closing_gracefully() const noexcept { return lingering_; }
  // The last read of the socket took all it held (it returned fewer bytes than asked for, or
  // none: EAGAIN or EOF). Closing a socket that still holds unread input sends RST instead of
  // FIN, which can destroy what we sent last before the peer reads it; after such a read (and
  // before more arrives) close() sends FIN. False before the first read and after a full one.
  bool input_drained() const noexcept { return input_drained_; }
  bool write_blocked() const noexcept { return blocked_; }
  std::size_t unsent_bytes() const noexcept;                 // held by TLS while the socket is full
  const TlsSession* tls() const noexcept;                    // null for plain TCP
  bool has_tls() const noexcept { return tls_ != nullptr; }  // tls() != nullptr, inline
  const TcpSocket& socket() const noexcept { return socket_; }
  // The peer's address while the socket is open, and during on_stream_error() too (a reset:
  // the handler may want to say who it was); empty once closed.
  SocketAddress peer_address() const;

 private:
  void on_readable() override;
  void on_writable() override;
  void on_flush() override;
  std::size_t gather_batched(std::span<ConstBuffer> out) override;
  void on_batched_write(const IoResult& result, std::size_t total, bool more_may_wait) override;
  void discard_input();  // on_readable while lingering
  void read_tls(std::span<std::uint8_t> buffer, std::size_t allowance, const bool& destroyed);
  // Reads from the socket into `into`: the bytes read, or 0 when there are none to process
  // (nothing yet, or a failure or the peer's FIN, both dealt with here).
  std::size_t read_socket(std::span<std::uint8_t> into, std::span<std::uint8_t> then = {});
  void read_into_destination(std::span<std::uint8_t> destination, std::size_t allowance);
  bool discarding() const noexcept;  // lingering, and past a TLS handshake: input is dropped
  void peer_ended();                 // the peer's FIN or close_notify was read
  void end_linger();                 // output out and the peer's FIN read: close, tell the handler
  void flush();
  std::size_t encrypt_now(std::span<const ConstBuffer> buffers) noexcept;  // write_now with TLS
  bool write_tls_output();  // false while the socket is full
  void fail(std::string_view reason);
  // A write failed with `error`: the input the peer sent before is delivered, then fail().
  void fail_write(int error);
  void drain_tls_after_failed_write();  // fail_write's TLS part
  // Tells the loop what the stream now waits for. Returns the loop's refusal, which this
  // iteration's flush asks about once more (and fails the stream if refused again).
  std::error_code update_interest();

  // A TLS session and what only TLS uses (the options), behind one pointer: a plain
  // connection's stream is part of what an idle server holds per client (issue 13: 72 -> 56 bytes).
  struct Tls;

  EventLoop& loop_;
  TcpSocket socket_;
  std::uint32_t discard_left_ = 0;  // close_gracefully(): input bytes still allowed (fills a gap)
  StreamHandler* handler_;
  std::unique_ptr<Tls> tls_;
  bool reading_ = true;
  bool ended_ = false;  // the peer finished sending
  bool blocked_ = false;
  bool input_drained_ = false;  // see input_drained()
  // Changed once or twice per connection: bits, so that the stream stays 56 bytes.
  bool shutdown_requested_ : 1 = false;
  bool shutdown_done_ : 1 = false;
  bool lingering_ : 1 = false;  // close_gracefully(): input is dropped
  bool send_fin_ : 1 = true;
  bool close_follows_ : 1 = false;     // close_after_output()
  bool write_interest_ : 1 = false;    // blocked_ as update_interest() last told the loop
  bool read_interest_ : 1 = true;      // reading as the loop last accepted it (added for reading)
  bool interest_refused_ : 1 = false;  // the loop refused an interest: this iteration's flush
                                       // asks once more
  bool end_deferred_ : 1 = false;      // the peer's end waits for that answer (peer_ended)
  bool batchable_ : 1 = false;         // handler_->gather_is_pure()
  bool* destroyed_ = nullptr;          // set while a callback runs: it may destroy the stream
};

}  // namespace wsx::io
