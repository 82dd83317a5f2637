// Private to src/proto and its tests: what a test may observe of a Connection's internals to
// show which path handled its input (the outcome is the same on every path by design).
#pragma once

#include <cstddef>

#include "wsx/proto/connection.hpp"

namespace wsx::proto::detail {

struct ConnectionInternals {
  // Messages the connection read with its shortcut for a whole short frame to a server
  // (read_short_messages) instead of the general frame reader. Counts modulo 65536.
  static std::size_t short_messages_read(const Connection& connection) noexcept;
};

}  // namespace wsx::proto::detail
