// The BIO a socket-attached TlsSession gives OpenSSL: it reads and writes the connected socket
// itself, so ciphertext goes between the kernel and OpenSSL's record buffers without passing
// through memory BIOs (two copies each way), and it keeps OpenSSL's socket BIO controls, which
// is what lets OpenSSL hand the record layer to the kernel (kTLS).
#pragma once

#include <openssl/bio.h>

#include <cstddef>
#include <cstdint>

namespace wsx::io::detail {

// Shared by the BIO and its session: the session says how much may be read, the BIO reports
// what happened on the socket.
struct SocketBioState {
  int fd = -1;                  // not owned
  std::size_t read_budget = 0;  // ciphertext that may still be read from the socket now
  bool drained = false;         // a read found the socket empty (or emptied it): stop asking
  bool peer_finished = false;   // the peer's FIN was read
  int error = 0;                // errno of a failed read or write (not EAGAIN)
  bool error_in_write = false;  // which of the two it was
  // errno of a write the peer's reset refused (EPIPE, ECONNRESET). The BIO tells OpenSSL
  // "retry" instead of an error: a write error is fatal to an SSL (no SSL_read after it), yet
  // what the peer sent before its reset is still in the kernel and may explain it (a WebSocket
  // close frame with 1009). The session checks this wherever OpenSSL asks to retry a write.
  int write_refused = 0;
  std::uint64_t bytes_read = 0;  // ciphertext read from the socket, all told
  // The session writes more records at once after this one: sent with MSG_MORE, so that the
  // kernel packs a message's records into full segments instead of one segment per record.
  bool more_follows = false;
};

// A BIO on `state.fd` (left open when the BIO is freed). `state` must outlive the BIO.
BIO* new_socket_bio(SocketBioState& state);

// Attaches the kernel's TLS upper layer protocol to the connected socket, which OpenSSL then
// needs to start kTLS on it (OpenSSL's own socket BIO does the same when made). False when the
// kernel has no TLS (CONFIG_TLS unset); remembered, so later sockets skip the system call.
bool attach_kernel_tls(int fd) noexcept;

}  // namespace wsx::io::detail
