#include "client_error_hint.hpp"

#include <string_view>

namespace wsx::tool {

std::string client_error_hint(const ClientError& error) {
  if (error.kind == ClientErrorKind::handshake_refused && error.status >= 200 &&
      error.status < 300) {
    // A page or a file came back: the URL names an HTTP resource, not a WebSocket endpoint.
    return " (it answered as for a web page: this URL is not a WebSocket endpoint)";
  }
  if (error.kind != ClientErrorKind::tls_failed) return {};
  const std::string_view message = error.message;
  if (message.find("certificate verify failed") != std::string_view::npos) {
    // Another CA does not help a certificate made for another name, nor one that names the
    // host only in its subject CN, which is not checked (src/io/tls_session.cpp).
    if (message.find("mismatch") != std::string_view::npos) {
      return " (the certificate must name the host in subjectAltName; -k/--insecure skips "
             "verification, for testing only)";
    }
    return " (--ca FILE trusts the CA that signed it; -k/--insecure skips verification, for "
           "testing only)";
  }
  if (message.find("wrong version number") != std::string_view::npos) {
    return " (the server did not answer in TLS: a ws:// server?)";
  }
  return {};
}

}  // namespace wsx::tool
