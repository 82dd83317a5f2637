#include "server/poll_session_id.hpp"

#include <array>

#include "server/base64url.hpp"
#include "wsx/proto/random.hpp"

namespace wsx::server {

std::string make_poll_session_id(std::uint16_t worker) {
  std::array<std::uint8_t, poll_sid_bytes> bytes{};
  bytes[0] = static_cast<std::uint8_t>(worker >> 8);
  bytes[1] = static_cast<std::uint8_t>(worker & 0xff);
  proto::random_bytes(bytes.data() + 2, poll_sid_random_bytes);
  return base64url_encode(bytes);
}

std::optional<std::uint16_t> poll_session_worker(std::string_view sid) noexcept {
  std::array<std::uint8_t, poll_sid_bytes> bytes{};
  if (sid.size() != poll_sid_text_size || !base64url_decode(sid, bytes)) return std::nullopt;
  return static_cast<std::uint16_t>(bytes[0] << 8 | bytes[1]);
}

}  // namespace wsx::server
