// TLS settings of the tests that use the generated test PKI (test_certs.hpp): a server with the
// test certificate, and a client that trusts the test CA and nothing else.
#pragma once

#include "test_certs.hpp"
#include "wsx/io/tls_context.hpp"

namespace wsx::test {

// The certificate for localhost / 127.0.0.1 signed by the test CA; with other_ca, one signed by
// a CA the test clients do not trust.
inline io::TlsServerOptions test_server_tls(bool other_ca = false) {
  io::TlsServerOptions options;
  const TestPki& pki = test_pki();
  options.certificate_chain_file = other_ca ? pki.other_server_chain : pki.server_chain;
  options.private_key_file = other_ca ? pki.other_server_key : pki.server_key;
  return options;
}

// For any client TLS options with ca_file and use_system_ca (io::TlsClientOptions,
// wsx::ClientTlsOptions): the test CA only, so a test never depends on the system's CAs.
template <class ClientTls>
void trust_test_ca_only(ClientTls& options) {
  options.ca_file = test_pki().ca_certificate;
  options.use_system_ca = false;
}

}  // namespace wsx::test
