// Randomness for Sec-WebSocket-Key and masking keys (RFC 6455 §5.3, §10.3): a CSPRNG.
#pragma once

#include <cstddef>
#include <cstdint>

#include "wsx/export.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::proto {

// Fills `out` from OpenSSL's CSPRNG. Throws std::runtime_error if the CSPRNG fails.
WSX_API void random_bytes(std::uint8_t* out, std::size_t size);

// A masking key from a per-thread buffer refilled from the CSPRNG a few KiB at a time, so a
// key costs a copy, not a call into OpenSSL, per frame.
WSX_API MaskKey random_mask_key();

}  // namespace wsx::proto
