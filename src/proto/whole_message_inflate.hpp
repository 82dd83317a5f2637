// A compressed message that arrives whole (one frame) is inflated in one call with libdeflate:
// about half of zlib's instructions for a 1 KiB JSON message (callgrind: 15,100 against 28,100
// per message, dynamic Huffman blocks from zlib level 6). libdeflate has no preset dictionary and
// no streaming, so the peer's window goes in front of the message as a stored DEFLATE block: its
// bytes come out first, and the message's distances reach back into them as they would into
// zlib's window. After the message come the 00 00 ff ff that RFC 7692 §7.2.1 removed and an
// empty final block. Whatever libdeflate cannot finish that way (invalid data, a final block
// inside the message, output beyond the bound) is left to zlib, which has the last word, so the
// result is zlib's for every stream zlib accepts. Builds without libdeflate have the
// declarations, and whole_message_inflate_built_in() says false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace wsx::proto::detail {

bool whole_message_inflate_built_in() noexcept;

// Messages whose output (or payload) is larger go to zlib.
constexpr std::size_t whole_message_max_output = 32 * 1024;

// The furthest a DEFLATE distance reaches (RFC 1951 §3.2.5), and so the most window plus message
// libdeflate is given: a larger output would let it read distance codes 30 and 31, which zlib
// refuses. Messages that do not fit after the window go to zlib.
constexpr std::size_t deflate_max_distance = 32 * 1024;

struct WholeMessage {
  // The window, then the message: the history to keep is its end.
  std::span<const std::uint8_t> window_and_message;
  std::size_t window_size;
};

// Inflates `payload` (a whole message without its 00 00 ff ff tail) after `window` (at most
// 32 KiB) into a buffer of the calling thread, valid until its next call. nullopt when zlib must
// decide: the data is invalid or holds a final block, or the output would exceed `max_output`
// or whole_message_max_output.
std::optional<WholeMessage> inflate_whole_message(const std::uint8_t* window,
                                                  std::size_t window_size,
                                                  const std::uint8_t* payload, std::size_t size,
                                                  std::size_t max_output);

}  // namespace wsx::proto::detail
