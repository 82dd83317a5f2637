// The CSRF token itself, sans I/O: its layout, sealing under a secret and checking against a
// session — time is passed in, randomness too. CsrfTokens (wsx/csrf.hpp) adds the clock, the
// CSPRNG, the secrets and their rotation.
//
// Layout (72 bytes, 96 characters of base64url):
//   version (1) | issued, Unix seconds, big-endian (8) | nonce (16) | session tag (15) | MAC (32)
// session tag = HMAC-SHA256(secret, "wsx csrf session\0" + session)[0..15): binds the token to
//               its session and tells "another session" apart from a forgery;
// MAC         = HMAC-SHA256(secret, "wsx csrf token\0" + the 40 bytes before it).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "server/constant_time_equal.hpp"
#include "wsx/csrf.hpp"

namespace wsx::server::csrf {

inline constexpr std::uint8_t token_version = 1;
inline constexpr std::size_t token_size = 72;           // bytes
inline constexpr std::size_t token_text_size = 96;      // base64url characters
inline constexpr std::int64_t allowed_clock_skew = 60;  // seconds a token may come from the future

struct TokenFields {
  std::uint8_t version = token_version;
  std::int64_t issued = 0;  // Unix seconds
  std::array<std::uint8_t, 16> nonce{};
  std::array<std::uint8_t, 15> session_tag{};
  std::array<std::uint8_t, 32> mac{};
};

// The fields of a token's text; nullopt for anything that is not one (length, alphabet,
// version). Says nothing about its validity.
std::optional<TokenFields> parse_token(std::string_view text) noexcept;
std::string format_token(const TokenFields& fields);

// A new token for `session`, issued at `issued`.
std::string seal_token(std::span<const std::uint8_t> secret, std::string_view session,
                       std::int64_t issued, const std::array<std::uint8_t, 16>& nonce);

// The secrets a token may be sealed with.
struct KeyRing {
  std::span<const std::uint8_t> current;
  std::span<const std::uint8_t> previous;  // empty: none
  std::int64_t rotated_at = 0;             // tokens of `previous` must be issued no later than this
  std::int64_t lifetime = 3600;
};

// The verdict on `text` for `session` at `now` (Unix seconds). Every comparison of MACs and
// session tags goes through `compare`.
CsrfVerdict check_token(std::string_view text, std::string_view session, const KeyRing& keys,
                        std::int64_t now, SecretCompare compare = constant_time_equal);

}  // namespace wsx::server::csrf
