// wss:// from the client's side: verification against the test CA, by name and by address, the
// failures a user must see (untrusted, wrong host), the explicit opt-out, and client certificates.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client_recorder.hpp"
#include "test_certs.hpp"
#include "test_tls_options.hpp"
#include "wsx/client.hpp"

namespace wsx {
namespace {

using test::ClientHarness;

test::TestServerOptions tls_server(bool other_ca = false, bool ipv6 = false) {
  test::TestServerOptions options;
  options.tls = test::test_server_tls(other_ca);
  options.ipv6 = ipv6;
  return options;
}

TEST(ClientTls, EchoOverTlsWithTheTestCa) {
  ClientHarness h(tls_server());
  test::echo_then_close(h.recorder, {"secret", std::string(200'000, 's')});
  ClientOptions options = h.options();
  test::trust_test_ca_only(options.tls);
  h.run(options);
  EXPECT_TRUE(h.recorder.errors.empty()) << h.recorder.errors[0].message;
  ASSERT_EQ(h.recorder.messages.size(), 2u);
  EXPECT_EQ(h.recorder.messages[1].size(), 200'000u);
  EXPECT_TRUE(h.recorder.clean);
}

TEST(ClientTls, ByNameOverTls) {
  ClientHarness h(tls_server());
  test::echo_then_close(h.recorder, {"named"});
  ClientOptions options =
      test::options_for("wss://localhost:" + std::to_string(h.server.port()) + "/");
  options.tls.ca_file = test::test_pki().ca_certificate;
  h.run(options);
  EXPECT_EQ(h.recorder.messages, std::vector<std::string>{"named"});
}

TEST(ClientTls, UntrustedCertificateFailsVerification) {
  ClientHarness h(tls_server(/*other_ca=*/true));
  ClientOptions options = h.options();
  test::trust_test_ca_only(options.tls);
  options.reconnect.enabled = true;  // a verification failure is never retried
  h.run(options);
  const ClientError& error = h.only_error();
  EXPECT_EQ(error.kind, ClientErrorKind::tls_failed);
  EXPECT_NE(error.message.find("certificate verify failed"), std::string::npos) << error.message;
  EXPECT_FALSE(error.will_retry);
  EXPECT_EQ(h.recorder.opens, 0);
}

TEST(ClientTls, HostMismatchFailsVerification) {
  // The other server's certificate names localhost and 127.0.0.1 but not ::1.
  ClientHarness h(tls_server(/*other_ca=*/true, /*ipv6=*/true));
  ClientOptions options = h.options();
  options.tls.ca_file = test::test_pki().other_ca_certificate;
  options.tls.use_system_ca = false;
  h.run(options);
  EXPECT_EQ(h.only_error().kind, ClientErrorKind::tls_failed);
  EXPECT_NE(h.only_error().message.find("mismatch"), std::string::npos) << h.only_error().message;
}

TEST(ClientTls, InsecureSkipVerifyConnectsAnyway) {
  ClientHarness h(tls_server(/*other_ca=*/true));
  test::echo_then_close(h.recorder, {"trust me"});
  ClientOptions options = h.options();
  options.tls.insecure_skip_verify = true;
  h.run(options);
  EXPECT_EQ(h.recorder.messages, std::vector<std::string>{"trust me"});
}

TEST(ClientTls, ClientCertificateWhenTheServerRequiresOne) {
  test::TestServerOptions server_options = tls_server();
  server_options.tls->client_ca_file = test::test_pki().ca_certificate;
  server_options.tls->require_client_certificate = true;
  for (const bool with_certificate : {true, false}) {
    SCOPED_TRACE(with_certificate ? "with a client certificate" : "without");
    ClientHarness h(server_options);
    test::echo_then_close(h.recorder, {"mutual"});
    ClientOptions options = h.options();
    options.tls.ca_file = test::test_pki().ca_certificate;
    if (with_certificate) {
      options.tls.certificate_chain_file = test::test_pki().client_chain;
      options.tls.private_key_file = test::test_pki().client_key;
    }
    h.run(options);
    if (with_certificate) {
      EXPECT_EQ(h.recorder.messages, std::vector<std::string>{"mutual"});
    } else {
      const ClientError& error = h.only_error();
      EXPECT_EQ(h.recorder.opens, 0);
      // TLS 1.3: the client finishes its side before the server rejects the missing certificate,
      // so the alert may arrive as a TLS failure or end the connection during the handshake.
      EXPECT_TRUE(error.kind == ClientErrorKind::tls_failed ||
                  error.kind == ClientErrorKind::connection_lost)
          << error.message;
      EXPECT_NE(error.message.find("certificate"), std::string::npos) << error.message;
    }
  }
}

}  // namespace
}  // namespace wsx
