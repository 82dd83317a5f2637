#include "tls_socket_bio.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>

namespace wsx::io::detail {
namespace {

// OpenSSL 3 sets this flag on a kTLS socket BIO when its next write is a TLS control record
// (an alert, a post-handshake message) rather than application data: the socket BIO's own
// write then sends it with the record type the kernel needs (sendmsg with a control message).
// bio_local.h reserves 0x1000-0x4000 for the kTLS flags; 0x1000 is this one.
constexpr int ktls_control_message_flag = 0x1000;

SocketBioState& state_of(BIO* bio) {
  return *static_cast<SocketBioState*>(BIO_get_app_data(bio));
}

bool would_block(int error) {
  return error == EAGAIN || error == EWOULDBLOCK;
}

int read_socket(BIO* bio, char* out, int size) {
  SocketBioState& state = state_of(bio);
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  // A budget spent or a socket known to be empty answers "retry" without a system call: the
  // event loop (level-triggered) reports the socket again while it holds bytes.
  if (state.read_budget == 0 || state.drained) {
    BIO_set_retry_read(bio);
    return -1;
  }
  const int want = static_cast<int>(std::min<std::size_t>(
      static_cast<std::size_t>(size), std::min<std::size_t>(state.read_budget, INT_MAX)));
  int got = 0;
  if (BIO_get_ktls_recv(bio) > 0) {
    // The kernel decrypts and hands over one record with its type: OpenSSL's own read.
    static const auto socket_read = BIO_meth_get_read(BIO_s_socket());
    got = socket_read(bio, out, want);
    if (got < 0 && BIO_should_retry(bio)) state.drained = true;
    if (got < 0 && !BIO_should_retry(bio)) {
      state.error = errno;
      state.error_in_write = false;
    }
  } else {
    ssize_t n = 0;
    do {
      n = ::recv(state.fd, out, static_cast<std::size_t>(want), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (would_block(errno)) {
        state.drained = true;
        BIO_set_retry_read(bio);
      } else {
        state.error = errno;
        state.error_in_write = false;
      }
      return -1;
    }
    got = static_cast<int>(n);
    if (got > 0 && got < want) state.drained = true;  // all the socket had
  }
  if (got == 0) {
    state.peer_finished = true;
    BIO_set_flags(bio, BIO_FLAGS_IN_EOF);  // what OpenSSL asks (BIO_eof) to tell a FIN apart
    return 0;
  }
  if (got > 0) {
    state.read_budget -= static_cast<std::size_t>(got);
    state.bytes_read += static_cast<std::size_t>(got);
  }
  return got;
}

int write_socket(BIO* bio, const char* in, int size) {
  if (BIO_test_flags(bio, ktls_control_message_flag) != 0) {
    static const auto socket_write = BIO_meth_get_write(BIO_s_socket());
    return socket_write(bio, in, size);
  }
  SocketBioState& state = state_of(bio);
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  ssize_t n = 0;
  do {
    // MSG_NOSIGNAL: a peer gone away is an error to report, never SIGPIPE.
    n = ::send(state.fd, in, static_cast<std::size_t>(size),
               MSG_NOSIGNAL | (state.more_follows ? MSG_MORE : 0));
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<int>(n);
  if (would_block(errno)) {
    BIO_set_retry_write(bio);
  } else if (errno == EPIPE || errno == ECONNRESET) {
    state.write_refused = errno;  // see SocketBioState::write_refused
    BIO_set_retry_write(bio);
  } else {
    state.error = errno;
    state.error_in_write = true;
  }
  return -1;
}

// Reads and writes of our own; creation, destruction and every control (the descriptor, the
// kTLS ones) are the socket BIO's.
BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    const BIO_METHOD* socket = BIO_s_socket();
    BIO_METHOD* made = BIO_meth_new(BIO_TYPE_SOCKET, "wsx socket");
    if (made == nullptr) return made;
    BIO_meth_set_read(made, read_socket);
    BIO_meth_set_write(made, write_socket);
    BIO_meth_set_ctrl(made, BIO_meth_get_ctrl(socket));
    BIO_meth_set_create(made, BIO_meth_get_create(socket));
    BIO_meth_set_destroy(made, BIO_meth_get_destroy(socket));
    return made;
  }();
  return method;
}

std::atomic<bool> kernel_without_tls{false};

}  // namespace

BIO* new_socket_bio(SocketBioState& state) {
  BIO_METHOD* method = socket_method();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return nullptr;
  if (BIO_set_app_data(bio, &state) != 1) {
    BIO_free(bio);
    return nullptr;
  }
  BIO_set_fd(bio, state.fd, BIO_NOCLOSE);
  return bio;
}

bool attach_kernel_tls(int fd) noexcept {
  if (kernel_without_tls.load(std::memory_order_relaxed)) return false;
  static constexpr char name[] = "tls";
  if (::setsockopt(fd, SOL_TCP, TCP_ULP, name, sizeof name) == 0) return true;
  // ENOENT: no "tls" upper layer in this kernel (and none to load); other errors are this
  // socket's own.
  if (errno == ENOENT) kernel_without_tls.store(true, std::memory_order_relaxed);
  return false;
}

}  // namespace wsx::io::detail
