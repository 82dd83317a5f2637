#include "wsx/io/tls_context.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <fstream>
#include <string>

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

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A file in the test PKI's directory holding `text`.
std::string pki_file(const std::string& name, const std::string& text) {
  const std::string path = test::test_pki().directory + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(TlsContext, KeyOfAnotherCertificateIsRejected) {
  TlsServerOptions options = server_options();
  options.private_key_file = test::test_pki().client_key;
  const TlsContext context = TlsContext::server(options);
  EXPECT_FALSE(context.ok());
  // Which file, which problem, then OpenSSL's own words as the detail.
  EXPECT_TRUE(contains(context.error(), "the private key in " + test::test_pki().client_key +
                                            " does not belong to the certificate in " +
                                            test::test_pki().server_chain))
      << context.error();
  EXPECT_TRUE(contains(context.error(), "mismatch")) << context.error();
}

TEST(TlsContext, ACertificateFileThatIsNotPemSaysSo) {
  TlsServerOptions options = server_options();
  // A key where the certificate belongs: PEM, but no certificate in it.
  for (const std::string& chain :
       {pki_file("not-a-certificate.txt", "hello\n"), test::test_pki().server_key}) {
    options.certificate_chain_file = chain;
    const TlsContext context = TlsContext::server(options);
    EXPECT_FALSE(context.ok());
    EXPECT_TRUE(contains(context.error(), chain + " is not a PEM certificate (no -----BEGIN " +
                                              "CERTIFICATE----- line)"))
        << context.error();
    EXPECT_TRUE(contains(context.error(), "no start line")) << context.error();
  }
}

TEST(TlsContext, AKeyFileThatIsNotPemSaysSo) {
  TlsServerOptions options = server_options();
  for (const std::string& key :
       {pki_file("not-a-key.txt", "hello\n"), test::test_pki().server_chain}) {
    options.private_key_file = key;
    const TlsContext context = TlsContext::server(options);
    EXPECT_FALSE(context.ok());
    EXPECT_TRUE(contains(context.error(),
                         key + " is not a PEM private key (no -----BEGIN PRIVATE KEY----- line)"))
        << context.error();
  }
}

// Never a prompt for the password (a server would hang on it): an error that says what to do.
TEST(TlsContext, APasswordProtectedKeySaysSo) {
  const std::string key = test::test_pki().directory + "/encrypted.key";
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  ASSERT_NE(pkey, nullptr);
  FILE* file = std::fopen(key.c_str(), "w");
  ASSERT_NE(file, nullptr);
  static const char password[] = "secret";
  const int written = PEM_write_PrivateKey(file, pkey, EVP_aes_256_cbc(),
                                           reinterpret_cast<const unsigned char*>(password),
                                           sizeof password - 1, nullptr, nullptr);
  std::fclose(file);
  EVP_PKEY_free(pkey);
  ASSERT_EQ(written, 1);
  TlsServerOptions options = server_options();
  options.private_key_file = key;
  const TlsContext context = TlsContext::server(options);
  EXPECT_FALSE(context.ok());
  EXPECT_TRUE(contains(context.error(), "the private key in " + key +
                                            " is password-protected, and wsx takes no password"))
      << context.error();
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
