// Which endings of a client connection are worth another attempt. Transient: the network, the
// server's load or restart. Permanent: the server said no (4xx), broke the protocol, or could
// not prove who it is — retrying those only repeats the failure.
#pragma once

#include <cstdint>

#include "wsx/client.hpp"

namespace wsx::client_detail {

bool is_transient(const ClientError& error) noexcept;

// After a connection that opened: reconnect when it was dropped (not clean) or the server left
// with a code that invites a return (1001 going away, 1011-1014: error, restart, try again
// later, bad gateway). A clean 1000, or any code the application chose, ends the session.
bool should_reconnect_after_close(std::uint16_t code, bool clean) noexcept;

}  // namespace wsx::client_detail
