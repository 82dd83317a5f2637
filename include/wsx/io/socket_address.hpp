// An IPv4 or IPv6 socket address, stored without exposing <sys/socket.h>.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wsx/export.hpp"

namespace wsx::io {

enum class AddressFamily : std::uint8_t { unspecified, ipv4, ipv6 };

class WSX_API SocketAddress {
 public:
  SocketAddress() = default;

  // An IP literal: "127.0.0.1", "::1", "[::1]" (brackets allowed), "fe80::1%lo". No names.
  static std::optional<SocketAddress> parse(std::string_view ip, std::uint16_t port);
  static SocketAddress ipv4_loopback(std::uint16_t port);
  static SocketAddress ipv6_loopback(std::uint16_t port);
  static SocketAddress ipv4_any(std::uint16_t port);
  static SocketAddress ipv6_any(std::uint16_t port);
  // From a sockaddr of `length` bytes (as filled by accept/getsockname); empty if unsupported.
  static SocketAddress from_native(const void* sockaddr, std::size_t length);

  AddressFamily family() const noexcept;
  std::uint16_t port() const noexcept;
  std::string ip() const;         // "127.0.0.1", "::1"
  std::string to_string() const;  // "127.0.0.1:1234", "[::1]:1234"
  bool is_loopback() const noexcept;

  const void* native() const noexcept { return storage_.data(); }  // a struct sockaddr
  std::size_t native_size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  friend WSX_API bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

 private:
  alignas(8) std::array<std::byte, 28> storage_{};  // large enough for sockaddr_in6
  std::size_t size_ = 0;
};

// True for an IPv4 or IPv6 literal (brackets allowed): such hosts need no resolution, get no
// SNI and are verified against the certificate's IP addresses.
WSX_API bool is_ip_literal(std::string_view host);

}  // namespace wsx::io
