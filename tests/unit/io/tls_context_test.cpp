#include "wsx/io/tls_context.hpp"

#include <gtest/gtest.h>

#include "test_certs.hpp"

namespace wsx::io {
namespace {

TlsServerOptions server_options() {
  TlsServerOptions options;
  options.certificate_chain_file = test::test_pki().server_chain;
  options.private_key_file = test::test_pki().server_key;
  return options;
}

TEST(TlsContext, ServerLoadsCertificateAndKey) {
  const TlsContext context = TlsContext::server(server_options());
  EXPECT_TRUE(context.ok()) << context.error();
  EXPECT_EQ(context.role(), TlsRole::server);
  EXPECT_NE(context.native_handle(), nullptr);
  const TlsContext copy = context;
  EXPECT_EQ(copy.native_handle(), context.native_handle());
}

TEST(TlsContext, MissingFilesNameTheFile) {
  TlsServerOptions options = server_options();
  options.certificate_chain_file = "/nonexistent/chain.pem";
  const TlsContext missing_chain = TlsContext::server(options);
  EXPECT_FALSE(missing_chain.ok());
  EXPECT_NE(missing_chain.error().find("/nonexistent/chain.pem"), std::string::npos)
      << missing_chain.error();
  options = server_options();
  options.private_key_file = "/nonexistent/key.pem";
  const TlsContext missing_key = TlsContext::server(options);
  EXPECT_FALSE(missing_key.ok());
  EXPECT_NE(missing_key.error().find("/nonexistent/key.pem"), std::string::npos);
  EXPECT_EQ(missing_key.native_handle(), nullptr);
}

TEST(TlsContext, KeyOfAnotherCertificateIsRejected) {
  TlsServerOptions options = server_options();
  options.private_key_file = test::test_pki().client_key;
  const TlsContext context = TlsContext::server(options);
  EXPECT_FALSE(context.ok());
  EXPECT_NE(context.error().find("mismatch"), std::string::npos) << context.error();
}

TEST(TlsContext, InvalidOptionsAreExplained) {
  TlsServerOptions bad_alpn = server_options();
  bad_alpn.alpn = {""};
  EXPECT_NE(TlsContext::server(bad_alpn).error().find("ALPN"), std::string::npos);
  TlsServerOptions require_without_ca = server_options();
  require_without_ca.require_client_certificate = true;
  EXPECT_NE(TlsContext::server(require_without_ca).error().find("client_ca_file"),
            std::string::npos);
  TlsServerOptions bad_ciphers = server_options();
  bad_ciphers.tls12_ciphers = "NOT-A-CIPHER";
  EXPECT_NE(TlsContext::server(bad_ciphers).error().find("cipher"), std::string::npos);
  TlsClientOptions bad_ca;
  bad_ca.ca_file = "/nonexistent/ca.pem";
  const TlsContext client = TlsContext::client(bad_ca);
  EXPECT_FALSE(client.ok());
  EXPECT_NE(client.error().find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(TlsContext, ClientDefaultsUseTheSystemStore) {
  const TlsContext context = TlsContext::client({});
  EXPECT_TRUE(context.ok()) << context.error();
  EXPECT_EQ(context.role(), TlsRole::client);
  TlsClientOptions with_client_certificate;
  with_client_certificate.ca_file = test::test_pki().ca_certificate;
  with_client_certificate.certificate_chain_file = test::test_pki().client_chain;
  with_client_certificate.private_key_file = test::test_pki().client_key;
  EXPECT_TRUE(TlsContext::client(with_client_certificate).ok());
}

TEST(TlsContext, EmptyContextIsNotUsable) {
  const TlsContext empty;
  EXPECT_FALSE(empty.ok());
  EXPECT_FALSE(empty.error().empty());
  EXPECT_EQ(empty.native_handle(), nullptr);
}

}  // namespace
}  // namespace wsx::io
