#include "wsx/io/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>

#include "tls_error.hpp"

namespace wsx::io {

struct TlsContext::Impl {
  ~Impl() { SSL_CTX_free(ctx); }
  SSL_CTX* ctx = nullptr;
  TlsRole role = TlsRole::client;
  std::string error;
  std::string alpn_wire;  // server: the protocols we accept, in wire format
};

namespace {

// ALPN wire format: each name prefixed by its length (RFC 7301 §3.1).
bool alpn_wire_format(const std::vector<std::string>& names, std::string& wire) {
  wire.clear();
  for (const std::string& name : names) {
    if (name.empty() || name.size() > 255) return false;
    wire += static_cast<char>(name.size());
    wire += name;
  }
  return true;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void* arg) {
  // `arg` is the context's wire list; every session keeps its context alive.
  const auto& wire = *static_cast<const std::string*>(arg);
  unsigned char* selected = nullptr;
  const auto* ours = reinterpret_cast<const unsigned char*>(wire.data());
  // Server preference order; no overlap means no ALPN rather than a failed handshake.
  if (SSL_select_next_proto(&selected, out_length, ours, static_cast<unsigned int>(wire.size()),
                            offered, offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

bool common_setup(SSL_CTX* ctx, const std::string& tls12_ciphers,
                  const std::string& tls13_ciphersuites, std::string& error) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    error = detail::take_openssl_errors("cannot require TLS 1.2");
    return false;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  // Idle connections give their record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers.c_str()) != 1) {
    error = detail::take_openssl_errors("invalid TLS 1.2 cipher list");
    return false;
  }
  if (SSL_CTX_set_ciphersuites(ctx, tls13_ciphersuites.c_str()) != 1) {
    error = detail::take_openssl_errors("invalid TLS 1.3 cipher suite list");
    return false;
  }
  return true;
}

// The start of a file (a PEM header is near its top), empty if it cannot be read.
std::string file_start(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::string text(64 * 1024, '\0');
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(file.gcount()));
  return text;
}

bool oldest_error_is(int library, int reason) {
  const unsigned long code = ERR_peek_error();
  return code != 0 && ERR_GET_LIB(code) == library && ERR_GET_REASON(code) == reason;
}

// OpenSSL's own words ("no start line; PEM lib", "key values mismatch") say what failed inside
// it, not which file is wrong or what to do: the cases a user meets are named first, OpenSSL's
// text follows as the detail. A missing or unreadable file keeps OpenSSL's system error.
std::string certificate_error(const std::string& chain) {
  if (oldest_error_is(ERR_LIB_PEM, PEM_R_NO_START_LINE)) {
    return detail::take_openssl_errors(
        chain + " is not a PEM certificate (no -----BEGIN CERTIFICATE----- line): give the " +
        "certificate chain in PEM, leaf first (a DER file converts with `openssl x509 -inform " +
        "der -in " + chain + " -out cert.pem`)");
  }
  return detail::take_openssl_errors("cannot load certificate chain " + chain);
}

// Asked for the password of an encrypted key: there is none to give. OpenSSL's default would
// prompt on the terminal (or read standard input), which a server must not do: a service
// would hang, and a test run would wait for a keyboard.
int no_password(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

std::string private_key_error(const std::string& chain, const std::string& key,
                              bool password_asked) {
  if (oldest_error_is(ERR_LIB_X509, X509_R_KEY_VALUES_MISMATCH) ||
      oldest_error_is(ERR_LIB_X509, X509_R_KEY_TYPE_MISMATCH)) {
    return detail::take_openssl_errors("the private key in " + key +
                                       " does not belong to the certificate in " + chain +
                                       ": give the key the certificate was made for");
  }
  if (password_asked) {
    return detail::take_openssl_errors(
        "the private key in " + key + " is password-protected, and wsx takes no password: " +
        "decrypt it once with `openssl pkey -in " + key + " -out key.pem` (keep that file " +
        "readable by the server only)");
  }
  if (ERR_GET_LIB(ERR_peek_error()) != ERR_LIB_SYS) {  // the file was read
    if (file_start(key).find("PRIVATE KEY-----") == std::string::npos) {
      return detail::take_openssl_errors(
          key + " is not a PEM private key (no -----BEGIN PRIVATE KEY----- line): give the " +
          "certificate's key in PEM");
    }
  }
  return detail::take_openssl_errors("cannot load private key " + key);
}

bool load_certificate(SSL_CTX* ctx, const std::string& chain, const std::string& key,
                      std::string& error) {
  if (SSL_CTX_use_certificate_chain_file(ctx, chain.c_str()) != 1) {
    error = certificate_error(chain);
    return false;
  }
  bool password_asked = false;
  SSL_CTX_set_default_passwd_cb(ctx, no_password);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, &password_asked);
  // A key that does not match the certificate fails here already (OpenSSL 3 compares them).
  const int loaded = SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);  // `password_asked` ends here
  if (loaded != 1) {
    error = private_key_error(chain, key, password_asked);
    return false;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = detail::take_openssl_errors("the private key in " + key +
                                        " does not belong to the certificate in " + chain);
    return false;
  }
  return true;
}

}  // namespace

TlsContext::TlsContext() = default;
TlsContext::~TlsContext() = default;
TlsContext::TlsContext(TlsContext&&) noexcept = default;
TlsContext& TlsContext::operator=(TlsContext&&) noexcept = default;
TlsContext::TlsContext(const TlsContext&) = default;
TlsContext& TlsContext::operator=(const TlsContext&) = default;

TlsContext TlsContext::server(const TlsServerOptions& options) {
  ERR_clear_error();
  TlsContext context;
  context.impl_ = std::make_shared<Impl>();
  Impl& impl = *context.impl_;
  impl.role = TlsRole::server;
  impl.ctx = SSL_CTX_new(TLS_server_method());
  if (impl.ctx == nullptr) {
    impl.error = detail::take_openssl_errors("cannot create TLS context");
    return context;
  }
  if (!common_setup(impl.ctx, options.tls12_ciphers, options.tls13_ciphersuites, impl.error) ||
      !load_certificate(impl.ctx, options.certificate_chain_file, options.private_key_file,
                        impl.error)) {
    return context;
  }
  if (!alpn_wire_format(options.alpn, impl.alpn_wire)) {
    impl.error = "invalid ALPN protocol name (1 to 255 bytes)";
    return context;
  }
  if (!impl.alpn_wire.empty()) SSL_CTX_set_alpn_select_cb(impl.ctx, select_alpn, &impl.alpn_wire);
  if (!options.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(impl.ctx, options.client_ca_file.c_str(), nullptr) != 1) {
      impl.error =
          detail::take_openssl_errors("cannot load client CA file " + options.client_ca_file);
      return context;
    }
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(impl.ctx, names);
    }
    int mode = SSL_VERIFY_PEER;
    if (options.require_client_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(impl.ctx, mode, nullptr);
  } else if (options.require_client_certificate) {
    impl.error = "require_client_certificate needs client_ca_file";
    return context;
  }
  // Session tickets let returning clients resume without a full handshake.
  SSL_CTX_set_session_cache_mode(impl.ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_num_tickets(impl.ctx, options.session_tickets);  // see TlsServerOptions
  return context;
}

TlsContext TlsContext::client(const TlsClientOptions& options) {
  ERR_clear_error();
  TlsContext context;
  context.impl_ = std::make_shared<Impl>();
  Impl& impl = *context.impl_;
  impl.role = TlsRole::client;
  impl.ctx = SSL_CTX_new(TLS_client_method());
  if (impl.ctx == nullptr) {
    impl.error = detail::take_openssl_errors("cannot create TLS context");
    return context;
  }
  if (!common_setup(impl.ctx, options.tls12_ciphers, options.tls13_ciphersuites, impl.error)) {
    return context;
  }
  if (options.insecure_skip_verify) {
    SSL_CTX_set_verify(impl.ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(impl.ctx, SSL_VERIFY_PEER, nullptr);
    if (!options.ca_file.empty() &&
        SSL_CTX_load_verify_locations(impl.ctx, options.ca_file.c_str(), nullptr) != 1) {
      impl.error = detail::take_openssl_errors("cannot load CA file " + options.ca_file);
      return context;
    }
    if ((options.ca_file.empty() || options.use_system_ca) &&
        SSL_CTX_set_default_verify_paths(impl.ctx) != 1) {
      impl.error = detail::take_openssl_errors("cannot load the system CA store");
      return context;
    }
  }
  std::string wire;
  if (!alpn_wire_format(options.alpn, wire)) {
    impl.error = "invalid ALPN protocol name (1 to 255 bytes)";
    return context;
  }
  // Unlike most OpenSSL calls, this one returns 0 on success.
  if (!wire.empty() &&
      SSL_CTX_set_alpn_protos(impl.ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned int>(wire.size())) != 0) {
    impl.error = detail::take_openssl_errors("cannot set ALPN protocols");
    return context;
  }
  if (!options.certificate_chain_file.empty() || !options.private_key_file.empty()) {
    if (!load_certificate(impl.ctx, options.certificate_chain_file, options.private_key_file,
                          impl.error)) {
      return context;
    }
  }
  return context;
}

bool TlsContext::ok() const noexcept {
  return impl_ != nullptr && impl_->ctx != nullptr && impl_->error.empty();
}

const std::string& TlsContext::error() const noexcept {
  static const std::string empty_context = "empty TLS context";
  return impl_ != nullptr ? impl_->error : empty_context;
}

TlsRole TlsContext::role() const noexcept {
  return impl_ != nullptr ? impl_->role : TlsRole::client;
}

void* TlsContext::native_handle() const noexcept {
  return ok() ? impl_->ctx : nullptr;
}

}  // namespace wsx::io
