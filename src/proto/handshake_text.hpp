// Helpers shared by the server and client halves of the opening handshake: writing header lines
// that cannot inject anything, reason phrases, and the Sec-WebSocket-Key format. Private.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsx::proto::handshake_text {

// The standard reason phrase of `status` (RFC 9110 §15), or a generic one for its class.
std::string_view reason_phrase(int status) noexcept;

// A field value may hold no CR, LF, NUL or other control character except HTAB.
bool is_safe_value(std::string_view value) noexcept;
// A header line we are willing to write: name a token, value safe.
bool is_safe_header(std::string_view name, std::string_view value) noexcept;
// Appends "name: value\r\n". The caller has checked is_safe_header (or wrote both itself).
void append_header(std::string& out, std::string_view name, std::string_view value);

std::string base64(const std::uint8_t* data, std::size_t size);
// base64 written to out[0, 4 * ((size + 2) / 3)).
void base64_into(const std::uint8_t* data, std::size_t size, char* out) noexcept;

// Sec-WebSocket-Accept is base64 of a 20-byte SHA-1: 28 characters.
inline constexpr std::size_t accept_key_size = 28;
// accept_key() written to `out`, without allocating for a key of the usual 24 characters.
void accept_key_into(std::string_view client_key, char (&out)[accept_key_size]);
// True if `key` is the base64 form of exactly 16 bytes (RFC 6455 §4.2.1 item 5).
bool is_valid_key(std::string_view key) noexcept;

}  // namespace wsx::proto::handshake_text
