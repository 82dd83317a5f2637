// The message of a ClientError for a TLS handshake that failed, from the TLS session's own
// reason. That reason may already start with "TLS handshake failed: " (OpenSSL's error queue,
// as the session words it) or not (a certificate that did not verify): said once either way.
#pragma once

#include <string>
#include <string_view>

namespace wsx::client_detail {

inline std::string tls_failure_message(std::string_view why) {
  constexpr std::string_view prefix = "TLS handshake failed: ";
  if (why.starts_with(prefix)) why.remove_prefix(prefix.size());
  return std::string(prefix) + std::string(why);
}

}  // namespace wsx::client_detail
