// SHA-1 (FIPS 180-4 §6.1), for Sec-WebSocket-Accept only: the handshake hashes about 60 bytes
// once per connection, and doing it here keeps a plain ws:// server out of libcrypto entirely.
// The first EVP digest of a process initialises OpenSSL's providers, which faults in about 2 MB
// of libcrypto's pages (RSS) and costs a fetch per call. SHA-1 protects nothing here (RFC 6455
// §10.3): it only proves the server read the key, so speed and size are what matter.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace wsx::proto {

using Sha1Digest = std::array<std::uint8_t, 20>;

// With the CPU's SHA extensions where it has them (x86-64 SHA-NI: about a tenth of the
// instructions), else portable code.
Sha1Digest sha1(std::span<const std::uint8_t> data) noexcept;
// Always the portable code: for the test that compares the two.
Sha1Digest sha1_portable(std::span<const std::uint8_t> data) noexcept;

}  // namespace wsx::proto
