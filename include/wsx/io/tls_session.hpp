// One TLS connection (OpenSSL). Two ways to drive it:
//
// As a byte transform (memory BIOs): ciphertext from the socket goes in, plaintext comes out,
// and the reverse; it never touches a socket, and tests run it purely in memory.
//   socket readable → feed(bytes); then read() until it returns need_more
//   app writes      → write(plaintext)   (buffered until the handshake completes)
//   after any call  → send pending_output(), then consume_output(sent)
//
// On a socket (attach_socket(), what io::Stream does): OpenSSL reads and writes the socket
// itself, so ciphertext is not copied through memory buffers on the way, and where the kernel
// offers TLS (kTLS) OpenSSL hands it the record layer; elsewhere it stays in user space.
//   socket readable → allow_socket_reads(bound); then read() until it returns need_more
//   app writes      → write(plaintext)   (taken whole: what a full socket refuses waits)
//   output_waiting()→ flush_output() when the socket is writable
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "wsx/export.hpp"
#include "wsx/io/tls_context.hpp"

namespace wsx::io {

enum class TlsState : std::uint8_t {
  handshaking,
  open,    // handshake done: application data flows
  closed,  // the peer sent close_notify: no more plaintext will come
  failed,  // see error(); send pending_output() (it may hold an alert), then close
};

enum class TlsReadStatus : std::uint8_t {
  ok,         // `bytes` of plaintext were read
  need_more,  // feed more ciphertext (and send pending output: the handshake may be moving)
  closed,     // the peer's close_notify arrived
  failed,     // see TlsSession::error()
};

struct WSX_API TlsReadResult {
  TlsReadStatus status = TlsReadStatus::need_more;
  std::size_t bytes = 0;
};

class WSX_API TlsSession {
 public:
  // A server session.
  explicit TlsSession(const TlsContext& context);
  // A client session: `server_name` is sent as SNI (unless an IP literal) and the certificate
  // must match it (DNS name, or IP address for a literal) unless the context is insecure. The
  // ClientHello is ready in pending_output() at once.
  TlsSession(const TlsContext& context, std::string_view server_name);
  ~TlsSession();
  TlsSession(TlsSession&&) noexcept;
  TlsSession& operator=(TlsSession&&) noexcept;

  // Ciphertext received from the peer; all of it is taken. Advances the handshake.
  void feed(std::span<const std::uint8_t> ciphertext);
  // Plaintext, once the handshake is done. Call until need_more after every feed().
  TlsReadResult read(std::span<std::uint8_t> plaintext);
  // Encrypts `plaintext` into pending_output(), or holds it until the handshake completes.
  // Returns false (and takes nothing) when the session failed or was closed by close().
  // `more_follows`: the caller writes more at once (the next part of the same flush), so that a
  // socket-attached session lets the kernel pack the records into full segments (MSG_MORE); the
  // caller's last write of a flush must say false.
  bool write(std::span<const std::uint8_t> plaintext, bool more_follows = false);
  bool write(std::string_view plaintext, bool more_follows = false) {
    return write({reinterpret_cast<const std::uint8_t*>(plaintext.data()), plaintext.size()},
                 more_follows);
  }
  // Sends close_notify (after any held plaintext). Further writes are refused.
  void close();

  // Output is pulled, like the protocol core's: a view valid until the next non-const call.
  std::span<const std::uint8_t> pending_output() const noexcept;
  void consume_output(std::size_t n) noexcept;

  TlsState state() const noexcept;
  bool handshake_done() const noexcept;
  // Why the session failed: "certificate verify failed: Hostname mismatch", "tlsv1 alert
  // unknown ca", ...
  const std::string& error() const noexcept;
  std::string_view alpn() const noexcept;     // negotiated protocol, empty if none
  std::string_view version() const noexcept;  // "TLSv1.3"
  bool peer_certificate_present() const noexcept;
  std::string peer_subject() const;             // one line, e.g. "CN = wsx test client"
  std::size_t plaintext_held() const noexcept;  // written before the handshake completed
  std::string_view cipher() const noexcept;     // "TLS_AES_128_GCM_SHA256" once negotiated

  // Socket mode, for good: OpenSSL reads and writes the connected non-blocking socket `fd` (not
  // owned, never closed here), and is asked for kernel TLS. Ciphertext already made (a client's
  // ClientHello) goes out first, by flush_output(). True if attached (again, for the same fd);
  // false, changing nothing, for a session fed ciphertext already or attached elsewhere.
  bool attach_socket(int fd);
  bool socket_attached() const noexcept;
  // Socket mode: at most `bytes` of ciphertext may be read from the socket until the next call
  // (0: none; what OpenSSL holds already is still decrypted by read()). Advances a handshake.
  void allow_socket_reads(std::size_t bytes);
  std::uint64_t socket_bytes_read() const noexcept;  // ciphertext, all told
  // Socket mode: sends what waits (ciphertext from before attach_socket(), a handshake flight or
  // close_notify the socket refused, plaintext written while it was full). True once nothing
  // waits; false while the socket is full, or when the session failed (see state()).
  bool flush_output();
  // Socket mode: errno of a write the peer's reset refused (EPIPE, ECONNRESET), else 0. Once
  // set, write() and flush_output() return false, yet the session is not failed: read() still
  // decrypts what the peer sent before its reset (its last words may explain it), and the
  // caller then ends the connection.
  int write_refused() const noexcept;
  bool output_waiting() const noexcept;
  std::size_t unsent_bytes() const noexcept;  // waiting bytes (plaintext or ciphertext)
  // Kernel TLS. Requested: OpenSSL was asked to use it (socket mode). Send / receive: the kernel
  // took that direction of the record layer. Both false where the kernel has no TLS (Linux
  // without CONFIG_TLS): OpenSSL then encrypts in user space as before.
  bool kernel_tls_requested() const noexcept;
  bool kernel_tls_send() const noexcept;
  bool kernel_tls_receive() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsx::io
