#include "redis/envelope.hpp"

namespace wsx::redis {

namespace {
constexpr std::uint8_t version = 1;
constexpr std::size_t fixed_size = 11;
constexpr std::size_t max_position_size = 64;  // "18446744073709551615-18446744073709551615"
}  // namespace

std::string encode_envelope(MessageKind kind, std::uintptr_t origin, std::string_view node,
                            std::span<const std::uint8_t> payload) {
  std::string out;
  const std::size_t node_size = std::min<std::size_t>(node.size(), 255);
  out.reserve(fixed_size + node_size + payload.size());
  out += static_cast<char>(version);
  out += static_cast<char>(kind == MessageKind::text ? 0 : 1);
  std::uint64_t value = origin;
  for (int i = 0; i < 8; ++i) {
    out += static_cast<char>(value & 0xff);
    value >>= 8;
  }
  out += static_cast<char>(node_size);
  out.append(node.substr(0, node_size));
  out.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  return out;
}

std::optional<Envelope> decode_envelope(std::string_view bytes) {
  if (bytes.size() < fixed_size || static_cast<std::uint8_t>(bytes[0]) != version) {
    return std::nullopt;
  }
  const auto kind = static_cast<std::uint8_t>(bytes[1]);
  if (kind > 1) return std::nullopt;
  std::uint64_t origin = 0;
  for (int i = 7; i >= 0; --i) origin = (origin << 8) | static_cast<std::uint8_t>(bytes[2 + i]);
  const std::size_t node_size = static_cast<std::uint8_t>(bytes[10]);
  if (bytes.size() < fixed_size + node_size) return std::nullopt;
  Envelope envelope;
  envelope.kind = kind == 0 ? MessageKind::text : MessageKind::binary;
  envelope.origin = static_cast<std::uintptr_t>(origin);
  envelope.node = bytes.substr(fixed_size, node_size);
  const std::string_view payload = bytes.substr(fixed_size + node_size);
  envelope.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
  return envelope;
}

std::optional<ChannelMessage> decode_channel_message(std::string_view bytes) {
  const std::size_t newline = bytes.substr(0, max_position_size + 1).find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  std::optional<Envelope> envelope = decode_envelope(bytes.substr(newline + 1));
  if (!envelope) return std::nullopt;
  return ChannelMessage{bytes.substr(0, newline), *envelope};
}

}  // namespace wsx::redis
