#include "server/address_key.hpp"

#include <netinet/in.h>

#include <cstring>
#include <string_view>

namespace wsx::server {

std::size_t AddressKeyHash::operator()(const AddressKey& key) const noexcept {
  // FNV-1a: keys are chosen by clients, but a shard's table only holds the clients seen lately
  // and the limits bound how fast they come; no need for a keyed hash.
  std::uint64_t hash = 1469598103934665603ull ^ static_cast<std::uint64_t>(key.ipv6);
  for (const std::uint8_t byte : key.bytes) hash = (hash ^ byte) * 1099511628211ull;
  return static_cast<std::size_t>(hash);
}

std::optional<AddressKey> address_key(const io::SocketAddress& address,
                                      unsigned ipv6_prefix_length) {
  AddressKey key;
  switch (address.family()) {
    case io::AddressFamily::ipv4: {
      sockaddr_in v4;
      std::memcpy(&v4, address.native(), sizeof v4);
      std::memcpy(key.bytes.data(), &v4.sin_addr, 4);
      key.loopback = key.bytes[0] == 127;
      return key;
    }
    case io::AddressFamily::ipv6: {
      sockaddr_in6 v6;
      std::memcpy(&v6, address.native(), sizeof v6);
      if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
        std::memcpy(key.bytes.data(), v6.sin6_addr.s6_addr + 12, 4);
        key.loopback = key.bytes[0] == 127;
        return key;
      }
      key.ipv6 = true;
      key.loopback = IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr);
      std::memcpy(key.bytes.data(), v6.sin6_addr.s6_addr, 16);
      const unsigned prefix = ipv6_prefix_length > 128 ? 128 : ipv6_prefix_length;
      for (unsigned bit = prefix; bit < 128; ++bit) {
        key.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
      }
      return key;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace wsx::server
