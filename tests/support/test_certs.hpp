// A throw-away PKI generated at run time with the OpenSSL API, for TLS tests: a CA, a server
// certificate for localhost / 127.0.0.1 / ::1, a client certificate, an unrelated CA with its
// own server certificate, and certificates of the trusted CA that name their host only in the
// subject CN. Files live in a temporary directory removed at exit.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace wsx::test {

struct TestPki {
  std::string directory;
  std::string ca_certificate;  // trusted CA
  std::string server_chain;    // leaf (localhost, 127.0.0.1, ::1) + nothing else
  std::string server_key;
  std::string client_chain;  // CN "wsx test client", for client authentication
  std::string client_key;
  std::string other_ca_certificate;  // a CA nobody above trusts
  std::string other_server_chain;    // localhost, signed by the other CA
  std::string other_server_key;
  // Signed by the trusted CA, CN "localhost", no subjectAltName: what browsers refuse.
  std::string cn_only_server_chain;
  // CN "localhost", subjectAltName IP:127.0.0.1 only (no DNS name for localhost).
  std::string cn_and_ip_server_chain;
  std::string cn_only_server_key;  // the key of both
};

namespace pki_detail {

inline void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

inline void add_extension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  check(extension != nullptr, "extension");
  check(X509_add_ext(certificate, extension, -1) == 1, "add extension");
  X509_EXTENSION_free(extension);
}

// issuer == nullptr: self-signed.
inline X509* make_certificate(EVP_PKEY* key, const char* common_name, X509* issuer,
                              EVP_PKEY* issuer_key, bool is_ca, const char* alt_names,
                              long serial) {
  X509* certificate = X509_new();
  check(certificate != nullptr, "X509_new");
  X509_set_version(certificate, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate), serial);
  X509_gmtime_adj(X509_getm_notBefore(certificate), -3600);
  X509_gmtime_adj(X509_getm_notAfter(certificate), 2 * 86400);
  X509_set_pubkey(certificate, key);
  X509_NAME* name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(certificate, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer != nullptr ? issuer : certificate;
  add_extension(certificate, signer, NID_basic_constraints,
                is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(certificate, signer, NID_key_usage,
                is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_extension(certificate, signer, NID_subject_key_identifier, "hash");
  if (!is_ca) add_extension(certificate, signer, NID_ext_key_usage, "serverAuth,clientAuth");
  if (alt_names != nullptr) add_extension(certificate, signer, NID_subject_alt_name, alt_names);
  check(X509_sign(certificate, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "sign");
  return certificate;
}

inline void write_certificate(const std::string& path, X509* certificate) {
  FILE* file = std::fopen(path.c_str(), "w");
  check(file != nullptr, "open certificate file");
  check(PEM_write_X509(file, certificate) == 1, "write certificate");
  std::fclose(file);
}

inline void write_key(const std::string& path, EVP_PKEY* key) {
  FILE* file = std::fopen(path.c_str(), "w");
  check(file != nullptr, "open key file");
  check(PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "write key");
  std::fclose(file);
}

struct Generated {
  Generated() {
    char pattern[] = "/tmp/wsx-pki-XXXXXX";
    check(::mkdtemp(pattern) != nullptr, "mkdtemp");
    pki.directory = pattern;
    const std::string dir = pki.directory + "/";

    EVP_PKEY* ca_key = EVP_EC_gen("P-256");
    EVP_PKEY* server_key = EVP_EC_gen("P-256");
    EVP_PKEY* client_key = EVP_EC_gen("P-256");
    EVP_PKEY* other_ca_key = EVP_EC_gen("P-256");
    EVP_PKEY* other_server_key = EVP_EC_gen("P-256");
    check(ca_key && server_key && client_key && other_ca_key && other_server_key, "keys");

    X509* ca = make_certificate(ca_key, "wsx test CA", nullptr, nullptr, true, nullptr, 1);
    X509* server = make_certificate(server_key, "localhost", ca, ca_key, false,
                                    "DNS:localhost,IP:127.0.0.1,IP:::1", 2);
    X509* client = make_certificate(client_key, "wsx test client", ca, ca_key, false, nullptr, 3);
    X509* other_ca =
        make_certificate(other_ca_key, "wsx other CA", nullptr, nullptr, true, nullptr, 4);
    X509* other_server = make_certificate(other_server_key, "localhost", other_ca, other_ca_key,
                                          false, "DNS:localhost,IP:127.0.0.1", 5);
    X509* cn_only = make_certificate(server_key, "localhost", ca, ca_key, false, nullptr, 6);
    X509* cn_and_ip =
        make_certificate(server_key, "localhost", ca, ca_key, false, "IP:127.0.0.1", 7);

    pki.ca_certificate = dir + "ca.pem";
    pki.server_chain = dir + "server.pem";
    pki.server_key = dir + "server.key";
    pki.client_chain = dir + "client.pem";
    pki.client_key = dir + "client.key";
    pki.other_ca_certificate = dir + "other-ca.pem";
    pki.other_server_chain = dir + "other-server.pem";
    pki.other_server_key = dir + "other-server.key";
    pki.cn_only_server_chain = dir + "cn-only-server.pem";
    pki.cn_and_ip_server_chain = dir + "cn-and-ip-server.pem";
    pki.cn_only_server_key = pki.server_key;
    write_certificate(pki.ca_certificate, ca);
    write_certificate(pki.server_chain, server);
    write_key(pki.server_key, server_key);
    write_certificate(pki.client_chain, client);
    write_key(pki.client_key, client_key);
    write_certificate(pki.other_ca_certificate, other_ca);
    write_certificate(pki.other_server_chain, other_server);
    write_key(pki.other_server_key, other_server_key);
    write_certificate(pki.cn_only_server_chain, cn_only);
    write_certificate(pki.cn_and_ip_server_chain, cn_and_ip);

    for (X509* certificate : {ca, server, client, other_ca, other_server, cn_only, cn_and_ip}) {
      X509_free(certificate);
    }
    for (EVP_PKEY* key : {ca_key, server_key, client_key, other_ca_key, other_server_key}) {
      EVP_PKEY_free(key);
    }
  }
  ~Generated() {
    std::error_code ignored;
    std::filesystem::remove_all(pki.directory, ignored);
  }
  TestPki pki;
};

}  // namespace pki_detail

// Generated once per test process.
inline const TestPki& test_pki() {
  static const pki_detail::Generated generated;
  return generated.pki;
}

}  // namespace wsx::test
