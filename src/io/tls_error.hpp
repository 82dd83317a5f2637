// OpenSSL's thread-local error queue as a sentence.
#pragma once

#include <string>

namespace wsx::io::detail {

// Drains the queue: "what: reason; reason", or just `what` when the queue is empty.
std::string take_openssl_errors(const std::string& what);

}  // namespace wsx::io::detail
