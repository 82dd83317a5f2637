#include "tls_error.hpp"

#include <openssl/err.h>

namespace wsx::io::detail {

std::string take_openssl_errors(const std::string& what) {
  std::string message = what;
  const char* separator = ": ";
  while (const unsigned long code = ERR_get_error()) {
    // The reason alone ("no such file", "key values mismatch") is what a user can act on.
    const char* reason = ERR_reason_error_string(code);
    message += separator;
    if (reason != nullptr) {
      message += reason;
    } else {
      char buffer[256];
      ERR_error_string_n(code, buffer, sizeof buffer);
      message += buffer;
    }
    separator = "; ";
  }
  return message;
}

}  // namespace wsx::io::detail
