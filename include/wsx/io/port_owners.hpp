// Who else listens on a TCP address. SO_REUSEPORT lets a server's threads share one port, but it
// lets any other socket of the same user join that group just as silently: a second server on
// the same port would take a share of the first one's connections. The kernel's socket table
// (sock_diag, what `ss` reads) tells the group's own members from a stranger.
#pragma once

#include <span>
#include <system_error>

#include "wsx/export.hpp"
#include "wsx/io/socket_address.hpp"

namespace wsx::io {

// errc::address_in_use when a TCP socket that is not one of `own` (listening descriptors)
// listens on `address`'s port at the same IP, or where the two overlap (a wildcard address on
// either side, a dual-stack IPv6 wildcard for an IPv4 address). {} when none does — or when the
// table cannot be read (no sock_diag in this kernel or sandbox): then only the kernel's own bind
// rules protect the port, as without this check.
[[nodiscard]] WSX_API std::error_code check_no_other_listener(const SocketAddress& address,
                                                              std::span<const int> own);

}  // namespace wsx::io
