// Masking (RFC 6455 §5.3): XOR with a 4-byte key, in place.
#pragma once

#include <cstddef>
#include <cstdint>

#include "wsx/export.hpp"
#include "wsx/proto/frame.hpp"

namespace wsx::proto {

// XORs data[i] with key[(key_offset + i) % 4] in place, many bytes per step. Returns the key
// offset for the byte after the last one, so a payload split across reads can be unmasked in
// pieces: offset = apply_mask(p1, n1, key, 0); apply_mask(p2, n2, key, offset). key_offset is
// taken modulo 4. Any alignment of `data` is fine; AVX2 is used when the CPU has it.
WSX_API std::size_t apply_mask(std::uint8_t* data, std::size_t size, const MaskKey& key,
                               std::size_t key_offset = 0) noexcept;

// The same, one byte at a time: the reference the fast version is tested against.
WSX_API std::size_t apply_mask_bytewise(std::uint8_t* data, std::size_t size, const MaskKey& key,
                                        std::size_t key_offset = 0) noexcept;

}  // namespace wsx::proto
