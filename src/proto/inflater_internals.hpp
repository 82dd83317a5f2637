// Private to src/proto and its tests: what a test may observe of a MessageInflater's internals
// to show which path inflated a message (the outcome is the same on every path by design).
#pragma once

#include <cstddef>

#include "wsx/proto/deflate.hpp"

namespace wsx::proto::detail {

struct InflaterInternals {
  // Messages the inflater inflated whole with libdeflate (whole_message_inflate.hpp) instead of
  // zlib. Counts modulo 65536.
  static std::size_t whole_messages_inflated(const MessageInflater& inflater) noexcept {
    return inflater.whole_messages_;
  }
};

}  // namespace wsx::proto::detail
