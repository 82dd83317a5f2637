// Long-polling session identifiers: what a client presents (Wsx-Session) on every request after
// the open. 16 bytes from the CSPRNG make it unguessable (128 bits, as the issue asks); two more
// bytes in front name the server thread that owns the session, so a request arriving on any
// thread (another TCP connection) is routed there without a shared table or a lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsx::server {

inline constexpr std::size_t poll_sid_random_bytes = 16;
inline constexpr std::size_t poll_sid_bytes = 2 + poll_sid_random_bytes;
// base64url without padding of poll_sid_bytes (18 bytes: 24 characters, no partial group).
inline constexpr std::size_t poll_sid_text_size = poll_sid_bytes / 3 * 4;

// A new identifier for a session owned by thread `worker`. Throws std::runtime_error when the
// CSPRNG fails (proto::random_bytes).
std::string make_poll_session_id(std::uint16_t worker);

// The thread named by `sid`; nullopt when `sid` is not an identifier's shape (length, alphabet,
// one spelling only). A well-formed sid may still name no session: the owner decides that.
std::optional<std::uint16_t> poll_session_worker(std::string_view sid) noexcept;

}  // namespace wsx::server
