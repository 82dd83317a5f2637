#include "wsx/io/tls_session.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <climits>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "tls_error.hpp"
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
  bool encrypt(const std::uint8_t* data, std::size_t size);
  void send_close_notify();

  TlsContext context;  // keeps the SSL_CTX and its ALPN list alive
  SSL* ssl = nullptr;
  BIO* input = nullptr;   // ciphertext from the peer, read by OpenSSL
  BIO* output = nullptr;  // ciphertext for the peer, written by OpenSSL
  std::vector<std::uint8_t, UninitialisedAllocator<std::uint8_t>> pending;
  std::size_t pending_head = 0;    // bytes of `pending` already consumed
  std::vector<std::uint8_t> held;  // plaintext written before the handshake completed
  TlsState state = TlsState::handshaking;
  bool close_requested = false;
  std::string error;
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
  if (is_ip_literal(host)) {
    // No SNI for addresses (RFC 6066 §3); the certificate must list the IP instead.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1) {
      fail_from_openssl("cannot set the expected IP address");
    }
    return;
  }
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1 || SSL_set1_host(ssl, host.c_str()) != 1) {
    fail_from_openssl("cannot set the server name");
  }
}

void TlsSession::Impl::collect_output() {
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
      fail(std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify));
      return;
    }
  }
  fail(detail::take_openssl_errors(what));
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
  } else {
    const int reason = SSL_get_error(ssl, result);
    if (reason != SSL_ERROR_WANT_READ && reason != SSL_ERROR_WANT_WRITE) {
      fail_from_openssl("TLS handshake failed");
    }
  }
  collect_output();  // the next flight, or the alert that explains a failure to the peer
}

bool TlsSession::Impl::encrypt(const std::uint8_t* data, std::size_t size) {
  ERR_clear_error();
  while (size > 0) {
    std::size_t written = 0;
    if (SSL_write_ex(ssl, data, size, &written) != 1) {
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

void TlsSession::Impl::send_close_notify() {
  ERR_clear_error();
  SSL_shutdown(ssl);  // 0: ours is sent and the peer's not yet seen, which is fine
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
    case SSL_ERROR_WANT_WRITE:
      return {TlsReadStatus::need_more, 0};
    case SSL_ERROR_ZERO_RETURN:
      impl.state = TlsState::closed;
      return {TlsReadStatus::closed, 0};
    default:
      impl.fail_from_openssl("TLS read failed");
      impl.collect_output();
      return {TlsReadStatus::failed, 0};
  }
}

bool TlsSession::write(std::span<const std::uint8_t> plaintext) {
  Impl& impl = *impl_;
  if (impl.state == TlsState::failed || impl.close_requested || impl.ssl == nullptr) return false;
  if (plaintext.empty()) return true;
  if (impl.state == TlsState::handshaking) {
    impl.held.insert(impl.held.end(), plaintext.begin(), plaintext.end());
    return true;
  }
  // After the peer's close_notify we may still send (a half-closed TLS stream).
  return impl.encrypt(plaintext.data(), plaintext.size());
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

}  // namespace wsx::io
