// TLS configuration shared by many sessions (an SSL_CTX, kept opaque). OpenSSL 3, TLS 1.2+.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "wsx/export.hpp"

namespace wsx::io {

enum class TlsRole : unsigned char { client, server };

struct WSX_API TlsServerOptions {
  std::string certificate_chain_file;            // PEM: leaf first, then intermediates
  std::string private_key_file;                  // PEM
  std::vector<std::string> alpn = {"http/1.1"};  // in preference order; empty: no ALPN
  // Client certificates: requested when a CA file is set, required when also `require`.
  std::string client_ca_file;
  bool require_client_certificate = false;
  // TLS 1.2 suites: forward secret AEAD only.
  std::string tls12_ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  // TLS 1.3 suites, in our order of preference (the server's order decides, except that a
  // client preferring ChaCha20-Poly1305, one without AES instructions, gets it). AES-128-GCM
  // first: the suite every TLS 1.3 peer implements (RFC 8446 §9.1), with 10 AES rounds to
  // AES-256's 14 (OpenSSL's default first choice): ~12 % fewer crypto instructions per byte.
  std::string tls13_ciphersuites =
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  // TLS 1.3 session tickets sent after each handshake, for resumption without one (stateless:
  // the server keeps nothing). One serves a client that reconnects: a resumed connection gets a
  // new one. OpenSSL's default of two lets a client resume two connections at once, and costs
  // every handshake a second ticket (~170,000 instructions, a send, ~60 allocations; 6 % of a
  // wss handshake) that clients which never resume, wsx's own among them, throw away. 0: no
  // resumption over TLS 1.3.
  std::size_t session_tickets = 1;
};

struct WSX_API TlsClientOptions {
  // The server is verified (chain and host name) unless insecure_skip_verify is set.
  std::string ca_file;                // PEM bundle to trust; empty: the system store
  bool use_system_ca = true;          // also trust the system store when ca_file is set
  bool insecure_skip_verify = false;  // explicit opt-out: no chain or host check at all
  std::vector<std::string> alpn = {"http/1.1"};
  std::string certificate_chain_file;  // optional client certificate
  std::string private_key_file;
  std::string tls12_ciphers = TlsServerOptions{}.tls12_ciphers;
  std::string tls13_ciphersuites = TlsServerOptions{}.tls13_ciphersuites;  // offered in this order
};

class WSX_API TlsContext {
 public:
  TlsContext();  // empty: ok() is false
  static TlsContext server(const TlsServerOptions& options);
  static TlsContext client(const TlsClientOptions& options);
  ~TlsContext();
  TlsContext(TlsContext&&) noexcept;
  TlsContext& operator=(TlsContext&&) noexcept;
  // Copies share the same SSL_CTX.
  TlsContext(const TlsContext&);
  TlsContext& operator=(const TlsContext&);

  bool ok() const noexcept;
  // Why creation failed: which file could not be loaded and OpenSSL's reason.
  const std::string& error() const noexcept;
  TlsRole role() const noexcept;
  void* native_handle() const noexcept;  // the SSL_CTX*

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wsx::io
