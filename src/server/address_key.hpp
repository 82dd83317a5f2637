// Which client a remote address counts as for the per-address limits: an IPv4 address, or an
// IPv6 network of a given prefix length (a host is usually given a whole /64, so counting single
// IPv6 addresses would let one client take 2^64 of them). IPv4-mapped IPv6 addresses (a dual-stack
// listener) count as their IPv4 address.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "wsx/io/socket_address.hpp"

namespace wsx::server {

struct AddressKey {
  std::array<std::uint8_t, 16> bytes{};  // IPv4: the first 4
  bool ipv6 = false;
  bool loopback = false;

  friend bool operator==(const AddressKey& a, const AddressKey& b) noexcept {
    return a.ipv6 == b.ipv6 && a.bytes == b.bytes;
  }
};

struct AddressKeyHash {
  std::size_t operator()(const AddressKey& key) const noexcept;
};

// nullopt for an address that is neither IPv4 nor IPv6 (none is accepted).
std::optional<AddressKey> address_key(const io::SocketAddress& address,
                                      unsigned ipv6_prefix_length);

}  // namespace wsx::server
