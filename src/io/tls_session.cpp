#include "wsx/io/tls_session.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "tls_error.hpp"
#include "tls_socket_bio.hpp"
#include "wsx/io/socket_address.hpp"

namespace wsx::io {
namespace {

// Leaves bytes a resize() adds uninitialised: the ciphertext buffer is grown and then filled by
// BIO_read at once, and zeroing it first cost a memset of every byte sent (~1/3 of the memset
// time of a wss echo of 64 KiB messages, the largest user-space item in its profile).
template <typename T>
struct UninitialisedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitialisedAllocator<U>;
  };
  UninitialisedAllocator() = default;
  template <typename U>
  explicit UninitialisedAllocator(const UninitialisedAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* where) noexcept {
    ::new (static_cast<void*>(where)) U;  // default-initialised: no value for std::uint8_t
  }
  template <typename U, typename... Args>
  void construct(U* where, Args&&... args) {
    ::new (static_cast<void*>(where)) U(std::forward<Args>(args)...);
  }
};

// Socket mode: ciphertext OpenSSL may read ahead in one system call (four full records), so a
// 64 KiB message comes in with one read instead of one or two per 16 KiB record. Held only
// while bytes are buffered: SSL_MODE_RELEASE_BUFFERS gives it back once it is empty.
constexpr std::size_t read_ahead_bytes = 4 * (16 * 1024 + 256);

// How the server's name is matched. Only subjectAltName counts: OpenSSL otherwise falls back to
// the subject's CN when the certificate has no DNS name in it, which browsers stopped accepting
// and RFC 6125 §6.4.4 / the CA/Browser Forum deprecate; a CN-only certificate would pass here and
// fail everywhere else. Wildcards cover a whole left-most label only ("*.example.com").
constexpr unsigned int host_check_flags =
    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;

// OpenSSL's "hostname mismatch" leaves out what was expected, and a certificate whose subject
// CN names the host fails too (host_check_flags): say which name was looked for, and where.
std::string name_mismatch_detail(long verify, const std::string& host) {
  if (verify == X509_V_ERR_HOSTNAME_MISMATCH) {
    return " (" + host +
           " is not among the certificate's subjectAltName DNS names; its subject CN is not used)";
  }
  if (verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return " (" + host + " is not among the certificate's subjectAltName IP addresses)";
  }
  return {};
}

std::string system_reason(const char* what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

}  // namespace

struct TlsSession::Impl {
  explicit Impl(const TlsContext& tls_context) : context(tls_context) {}
  ~Impl() { SSL_free(ssl); }  // frees both BIOs too

  bool start(TlsRole role);
  void set_server_name(std::string_view name);
  void advance_handshake();
  void collect_output();
  void fail(std::string reason);
  void fail_from_openssl(const char* what);
  bool encrypt(const std::uint8_t* data, std::size_t size, bool more = false);
  void set_more_follows(bool more, std::size_t left) noexcept;
  void send_close_notify();
  bool attach_socket(int fd);
  bool socket_mode() const noexcept { return socket.fd >= 0; }
  bool send_raw_pending();
  bool send_backlog();
  bool peer_left() const noexcept { return socket.peer_finished && socket.error == 0; }
  bool refuse_write();

  TlsContext context;  // keeps the SSL_CTX and its ALPN list alive
  SSL* ssl = nullptr;
  BIO* input = nullptr;   // ciphertext from the peer, read by OpenSSL
  BIO* output = nullptr;  // ciphertext for the peer, written by OpenSSL
  std::vector<std::uint8_t, UninitialisedAllocator<std::uint8_t>> pending;
  std::size_t pending_head = 0;    // bytes of `pending` already consumed
  std::vector<std::uint8_t> held;  // plaintext written before the handshake completed
  // Socket mode: plaintext taken while the socket was full. Its first bytes are those of the
  // record OpenSSL holds half-sent, which must be offered again from the same start.
  std::vector<std::uint8_t> backlog;
  std::size_t backlog_head = 0;
  detail::SocketBioState socket;
  TlsState state = TlsState::handshaking;
  bool close_requested = false;
  bool handshake_blocked = false;  // socket mode: a handshake flight waits for room
  bool close_blocked = false;      // socket mode: close_notify waits for room
  std::string error;
  std::string expected_host;  // client: the name or address the certificate must list
};

bool TlsSession::Impl::start(TlsRole role) {
  if (!context.ok()) {
    fail("TLS context is not usable: " + context.error());
    return false;
  }
  if (context.role() != role) {
    fail(role == TlsRole::client ? "a client session needs a client TLS context"
                                 : "a server session needs a server TLS context");
    return false;
  }
  ERR_clear_error();
  ssl = SSL_new(static_cast<SSL_CTX*>(context.native_handle()));
  input = BIO_new(BIO_s_mem());
  output = BIO_new(BIO_s_mem());
  if (ssl == nullptr || input == nullptr || output == nullptr) {
    BIO_free(input);
    BIO_free(output);
    fail_from_openssl("cannot create TLS session");
    return false;
  }
  // An empty memory BIO means "no data yet", not end of file.
  BIO_set_mem_eof_return(input, -1);
  BIO_set_mem_eof_return(output, -1);
  SSL_set_bio(ssl, input, output);
  if (role == TlsRole::client) {
    SSL_set_connect_state(ssl);
  } else {
    SSL_set_accept_state(ssl);
  }
  return true;
}

void TlsSession::Impl::set_server_name(std::string_view name) {
  const bool verifying = (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.empty()) {
    if (verifying) fail("a verifying client session needs the server name");
    return;
  }
  const std::string host(name);
  expected_host = host;
  // On the session's own parameters (an IP check uses them too), before either branch.
  SSL_set_hostflags(ssl, host_check_flags);
  if (is_ip_literal(host)) {
    // No SNI for addresses (RFC 6066 §3); the certificate must list the IP instead.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1) {
      fail_from_openssl("cannot set the expected IP address");
    }
    return;
  }
  if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1 || SSL_set1_host(ssl, host.c_str()) != 1) {
    fail_from_openssl("cannot set the server name");
  }
}

void TlsSession::Impl::collect_output() {
  if (output == nullptr) return;  // socket mode: OpenSSL wrote to the socket itself
  const std::size_t available = BIO_ctrl_pending(output);
  if (available == 0) return;
  if (pending_head == pending.size()) {
    pending.clear();
    pending_head = 0;
  }
  const std::size_t old_size = pending.size();
  pending.resize(old_size + available);
  std::size_t got = 0;
  if (BIO_read_ex(output, pending.data() + old_size, available, &got) != 1) got = 0;
  pending.resize(old_size + got);
}

void TlsSession::Impl::fail(std::string reason) {
  if (state == TlsState::failed) return;
  state = TlsState::failed;
  error = std::move(reason);
  held.clear();
}

void TlsSession::Impl::fail_from_openssl(const char* what) {
  // A verification failure is the useful part; OpenSSL's queue only says "verify failed".
  if (ssl != nullptr) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      ERR_clear_error();
      fail(std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify) +
           name_mismatch_detail(verify, expected_host));
      return;
    }
  }
  if (socket.error != 0) {  // socket mode: the system call failed, not TLS
    ERR_clear_error();
    fail(system_reason(socket.error_in_write ? "write failed" : "read failed", socket.error));
    return;
  }
  fail(detail::take_openssl_errors(what));
}

// Socket mode: true when OpenSSL's "retry the write" means the peer reset the connection
// (SocketBioState::write_refused). The session stays readable; error() says why writing ended.
bool TlsSession::Impl::refuse_write() {
  if (socket.write_refused == 0) return false;
  ERR_clear_error();
  if (error.empty()) error = system_reason("write failed", socket.write_refused);
  return true;
}

void TlsSession::Impl::advance_handshake() {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl);
  if (result == 1) {
    state = TlsState::open;
    std::vector<std::uint8_t> plaintext = std::move(held);
    held.clear();
    if (!plaintext.empty()) encrypt(plaintext.data(), plaintext.size());
    if (close_requested && state == TlsState::open) send_close_notify();
    handshake_blocked = false;
  } else {
    const int reason = SSL_get_error(ssl, result);
    handshake_blocked = reason == SSL_ERROR_WANT_WRITE;
    if (peer_left() && reason != SSL_ERROR_WANT_WRITE) {
      // Socket mode: the peer's FIN in the middle of the handshake. It left, as it may over
      // plain TCP (what it sent before was read first: a bad record failed there already).
      ERR_clear_error();
      state = TlsState::closed;
    } else if (reason != SSL_ERROR_WANT_READ && reason != SSL_ERROR_WANT_WRITE) {
      fail_from_openssl("TLS handshake failed");
    }
  }
  collect_output();  // the next flight, or the alert that explains a failure to the peer
}

// Socket mode: a record is sent with MSG_MORE when more of the caller's bytes follow it at once
// (the rest of a message larger than one record, or the caller's next buffer). The last record
// of a write goes without it, which pushes them all: a record sent with MSG_MORE is always
// followed by another send attempt, or sits behind bytes in flight when the socket was full.
void TlsSession::Impl::set_more_follows(bool more, std::size_t left) noexcept {
  socket.more_follows = socket_mode() && (more || left > SSL3_RT_MAX_PLAIN_LENGTH);
}

bool TlsSession::Impl::encrypt(const std::uint8_t* data, std::size_t size, bool more) {
  if (backlog_head < backlog.size()) {  // behind bytes still waiting: keep the order
    backlog.insert(backlog.end(), data, data + size);
    return true;
  }
  ERR_clear_error();
  while (size > 0) {
    std::size_t written = 0;
    set_more_follows(more, size);
    const int wrote = SSL_write_ex(ssl, data, size, &written);
    socket.more_follows = false;
    if (wrote != 1) {
      if (socket_mode() && SSL_get_error(ssl, 0) == SSL_ERROR_WANT_WRITE) {
        if (refuse_write()) return false;
        // The socket is full: the rest waits, starting with the record OpenSSL holds.
        backlog.assign(data, data + size);
        backlog_head = 0;
        return true;
      }
      fail_from_openssl("TLS write failed");
      collect_output();
      return false;
    }
    data += written;
    size -= written;
  }
  collect_output();
  return true;
}

bool TlsSession::Impl::send_backlog() {
  ERR_clear_error();
  while (backlog_head < backlog.size()) {
    std::size_t written = 0;
    set_more_follows(false, backlog.size() - backlog_head);
    const int wrote =
        SSL_write_ex(ssl, backlog.data() + backlog_head, backlog.size() - backlog_head, &written);
    socket.more_follows = false;
    if (wrote != 1) {
      if (SSL_get_error(ssl, 0) == SSL_ERROR_WANT_WRITE) return false;
      fail_from_openssl("TLS write failed");
      return false;
    }
    backlog_head += written;
  }
  backlog.clear();
  backlog.shrink_to_fit();  // an idle connection keeps no room for a burst it had once
  backlog_head = 0;
  return true;
}

// Ciphertext made before the socket was attached (a client's ClientHello), sent as it is.
bool TlsSession::Impl::send_raw_pending() {
  while (pending_head < pending.size()) {
    ssize_t n = 0;
    do {
      n = ::send(socket.fd, pending.data() + pending_head, pending.size() - pending_head,
                 MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      socket.error = errno;
      fail(system_reason("write failed", errno));
      return false;
    }
    pending_head += static_cast<std::size_t>(n);
  }
  pending.clear();
  pending.shrink_to_fit();
  pending_head = 0;
  return true;
}

bool TlsSession::Impl::attach_socket(int fd) {
  if (fd < 0 || ssl == nullptr) return false;
  if (socket_mode()) return socket.fd == fd;
  if (BIO_ctrl_pending(input) != 0) return false;  // ciphertext fed already: it would be lost
  socket.fd = fd;
  BIO* bio = detail::new_socket_bio(socket);
  if (bio == nullptr) {
    socket.fd = -1;
    return false;
  }
  SSL_set_bio(ssl, bio, bio);  // frees the memory BIOs
  input = nullptr;
  output = nullptr;
  // One record per SSL_write, and a record the socket did not take is offered again from a
  // buffer that may have moved (the backlog): a full socket never stops encryption half-way
  // through the caller's bytes.
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A FIN without close_notify ends the stream as it does over plain TCP (the protocol above
  // has its own closing handshake), and leaves our side able to write, which it would not be
  // after the fatal alert OpenSSL otherwise sends.
  SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_ENABLE_KTLS);
  SSL_set_read_ahead(ssl, 1);
  SSL_set_default_read_buffer_len(ssl, read_ahead_bytes);
  // OpenSSL starts kTLS when the keys are set, on a socket with the kernel's TLS layer; where
  // there is none it goes on in user space.
  detail::attach_kernel_tls(fd);
  return true;
}

void TlsSession::Impl::send_close_notify() {
  ERR_clear_error();
  // 0: ours is sent and the peer's not yet seen, which is fine. Called again only while ours
  // is blocked: once it is out, another call would wait for the peer's.
  const int result = SSL_shutdown(ssl);
  close_blocked = result < 0 && SSL_get_error(ssl, result) == SSL_ERROR_WANT_WRITE;
  collect_output();
}

TlsSession::TlsSession(const TlsContext& context) : impl_(std::make_unique<Impl>(context)) {
  impl_->start(TlsRole::server);
}

TlsSession::TlsSession(const TlsContext& context, std::string_view server_name)
    : impl_(std::make_unique<Impl>(context)) {
  if (!impl_->start(TlsRole::client)) return;
  impl_->set_server_name(server_name);
  if (impl_->state != TlsState::failed) impl_->advance_handshake();  // the ClientHello
}

TlsSession::~TlsSession() = default;
TlsSession::TlsSession(TlsSession&&) noexcept = default;
TlsSession& TlsSession::operator=(TlsSession&&) noexcept = default;

void TlsSession::feed(std::span<const std::uint8_t> ciphertext) {
  Impl& impl = *impl_;
  if (impl.state == TlsState::failed || impl.ssl == nullptr) return;
  if (impl.socket_mode()) {
    if (!ciphertext.empty()) impl.fail("ciphertext fed to a session that reads its socket");
    return;
  }
  while (!ciphertext.empty()) {
    const std::size_t chunk = std::min<std::size_t>(ciphertext.size(), INT_MAX);
    std::size_t written = 0;
    if (BIO_write_ex(impl.input, ciphertext.data(), chunk, &written) != 1 || written == 0) {
      impl.fail_from_openssl("out of memory buffering TLS input");
      return;
    }
    ciphertext = ciphertext.subspan(written);
  }
  if (impl.state == TlsState::handshaking) impl.advance_handshake();
}

TlsReadResult TlsSession::read(std::span<std::uint8_t> plaintext) {
  Impl& impl = *impl_;
  if (impl.state == TlsState::handshaking && impl.ssl != nullptr) impl.advance_handshake();
  switch (impl.state) {
    case TlsState::handshaking:
      return {TlsReadStatus::need_more, 0};
    case TlsState::failed:
      return {TlsReadStatus::failed, 0};
    case TlsState::closed:
      return {TlsReadStatus::closed, 0};
    case TlsState::open:
      break;
  }
  if (plaintext.empty()) return {TlsReadStatus::ok, 0};
  ERR_clear_error();
  std::size_t got = 0;
  const int result = SSL_read_ex(impl.ssl, plaintext.data(), plaintext.size(), &got);
  const int reason = result == 1 ? SSL_ERROR_NONE : SSL_get_error(impl.ssl, result);
  impl.collect_output();  // reading may answer (key update) or alert
  switch (reason) {
    case SSL_ERROR_NONE:
      return {TlsReadStatus::ok, got};
    case SSL_ERROR_WANT_READ:
      if (!impl.peer_left()) return {TlsReadStatus::need_more, 0};
      impl.state = TlsState::closed;  // socket mode: the peer's FIN, and nothing buffered
      return {TlsReadStatus::closed, 0};
    case SSL_ERROR_WANT_WRITE:
      return {TlsReadStatus::need_more, 0};
    case SSL_ERROR_ZERO_RETURN:  // close_notify, or (socket mode) the peer's FIN
      impl.state = TlsState::closed;
      return {TlsReadStatus::closed, 0};
    case SSL_ERROR_SYSCALL:
      if (impl.peer_left()) {
        impl.state = TlsState::closed;
        return {TlsReadStatus::closed, 0};
      }
      [[fallthrough]];
    default:
      impl.fail_from_openssl("TLS read failed");
      impl.collect_output();
      return {TlsReadStatus::failed, 0};
  }
}

bool TlsSession::write(std::span<const std::uint8_t> plaintext, bool more_follows) {
  Impl& impl = *impl_;
  if (impl.state == TlsState::failed || impl.close_requested || impl.ssl == nullptr) return false;
  if (impl.refuse_write()) return false;
  if (plaintext.empty()) return true;
  if (impl.state == TlsState::handshaking) {
    impl.held.insert(impl.held.end(), plaintext.begin(), plaintext.end());
    return true;
  }
  // After the peer's close_notify we may still send (a half-closed TLS stream).
  return impl.encrypt(plaintext.data(), plaintext.size(), more_follows);
}

void TlsSession::close() {
  Impl& impl = *impl_;
  if (impl.close_requested || impl.state == TlsState::failed || impl.ssl == nullptr) return;
  impl.close_requested = true;
  if (impl.state != TlsState::handshaking) impl.send_close_notify();
}

std::span<const std::uint8_t> TlsSession::pending_output() const noexcept {
  return std::span<const std::uint8_t>(impl_->pending.data(), impl_->pending.size())
      .subspan(impl_->pending_head);
}

void TlsSession::consume_output(std::size_t n) noexcept {
  Impl& impl = *impl_;
  impl.pending_head += std::min(n, impl.pending.size() - impl.pending_head);
  if (impl.pending_head == impl.pending.size()) {
    impl.pending.clear();
    impl.pending_head = 0;
  }
}

TlsState TlsSession::state() const noexcept {
  return impl_->state;
}

bool TlsSession::handshake_done() const noexcept {
  return impl_->ssl != nullptr && SSL_is_init_finished(impl_->ssl) == 1;
}

const std::string& TlsSession::error() const noexcept {
  return impl_->error;
}

std::string_view TlsSession::alpn() const noexcept {
  if (impl_->ssl == nullptr) return {};
  const unsigned char* name = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(impl_->ssl, &name, &length);
  if (name == nullptr) return {};
  return {reinterpret_cast<const char*>(name), length};
}

std::string_view TlsSession::version() const noexcept {
  if (impl_->ssl == nullptr || !handshake_done()) return {};
  return SSL_get_version(impl_->ssl);
}

bool TlsSession::peer_certificate_present() const noexcept {
  return impl_->ssl != nullptr && SSL_get0_peer_certificate(impl_->ssl) != nullptr;
}

std::string TlsSession::peer_subject() const {
  if (impl_->ssl == nullptr) return {};
  X509* certificate = SSL_get0_peer_certificate(impl_->ssl);
  if (certificate == nullptr) return {};
  BIO* text = BIO_new(BIO_s_mem());
  if (text == nullptr) return {};
  X509_NAME_print_ex(text, X509_get_subject_name(certificate), 0, XN_FLAG_ONELINE);
  char* data = nullptr;
  const long length = BIO_get_mem_data(text, &data);
  std::string subject(data, length > 0 ? static_cast<std::size_t>(length) : 0);
  BIO_free(text);
  return subject;
}

std::size_t TlsSession::plaintext_held() const noexcept {
  return impl_->held.size();
}

bool TlsSession::attach_socket(int fd) {
  return impl_->attach_socket(fd);
}

bool TlsSession::socket_attached() const noexcept {
  return impl_->socket_mode();
}

void TlsSession::allow_socket_reads(std::size_t bytes) {
  Impl& impl = *impl_;
  if (!impl.socket_mode()) return;
  impl.socket.read_budget = bytes;
  impl.socket.drained = false;
  if (bytes > 0 && impl.state == TlsState::handshaking) impl.advance_handshake();
}

std::uint64_t TlsSession::socket_bytes_read() const noexcept {
  return impl_->socket.bytes_read;
}

bool TlsSession::flush_output() {
  Impl& impl = *impl_;
  if (!impl.socket_mode() || impl.ssl == nullptr) return impl.pending_head == impl.pending.size();
  if (impl.refuse_write()) return false;
  if (!impl.send_raw_pending()) return false;
  if (impl.state == TlsState::failed) return false;
  if (impl.state == TlsState::handshaking) {
    if (impl.handshake_blocked) impl.advance_handshake();
    return !impl.handshake_blocked && impl.state != TlsState::failed &&
           impl.backlog_head == impl.backlog.size();
  }
  // A post-handshake message (a key update's answer) the socket did not take: OpenSSL sends
  // the rest of it from its handshake state machine.
  if (SSL_in_init(impl.ssl) == 1 && SSL_want_write(impl.ssl)) {
    ERR_clear_error();
    const int result = SSL_do_handshake(impl.ssl);
    if (result != 1 && SSL_get_error(impl.ssl, result) == SSL_ERROR_WANT_WRITE) return false;
  }
  if (!impl.send_backlog()) return false;
  if (impl.close_blocked) {
    impl.send_close_notify();
    if (impl.close_blocked) return false;
  }
  return true;
}

int TlsSession::write_refused() const noexcept {
  return impl_->socket.write_refused;
}

bool TlsSession::output_waiting() const noexcept {
  const Impl& impl = *impl_;
  return impl.pending_head < impl.pending.size() || impl.backlog_head < impl.backlog.size() ||
         impl.handshake_blocked || impl.close_blocked ||
         (impl.socket_mode() && impl.state == TlsState::open && SSL_in_init(impl.ssl) == 1 &&
          SSL_want_write(impl.ssl));
}

std::size_t TlsSession::unsent_bytes() const noexcept {
  const Impl& impl = *impl_;
  return impl.pending.size() - impl.pending_head + impl.backlog.size() - impl.backlog_head;
}

bool TlsSession::kernel_tls_requested() const noexcept {
  return impl_->ssl != nullptr && (SSL_get_options(impl_->ssl) & SSL_OP_ENABLE_KTLS) != 0;
}

bool TlsSession::kernel_tls_send() const noexcept {
  return impl_->socket_mode() && BIO_get_ktls_send(SSL_get_wbio(impl_->ssl)) > 0;
}

bool TlsSession::kernel_tls_receive() const noexcept {
  return impl_->socket_mode() && BIO_get_ktls_recv(SSL_get_rbio(impl_->ssl)) > 0;
}

std::string_view TlsSession::cipher() const noexcept {
  if (impl_->ssl == nullptr || !handshake_done()) return {};
  const char* name = SSL_get_cipher_name(impl_->ssl);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

}  // namespace wsx::io
