#include "wsx/io/socket_address.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>

namespace wsx::io {
namespace {

static_assert(sizeof(sockaddr_in6) <= 28 && sizeof(sockaddr_in) <= 28);

std::string_view strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

std::optional<SocketAddress> SocketAddress::parse(std::string_view ip, std::uint16_t port) {
  const std::string_view inner = strip_brackets(ip);
  const bool bracketed = inner.size() != ip.size();  // only IPv6 is written in brackets
  ip = inner;
  if (ip.empty() || ip.size() > 63) return std::nullopt;
  std::string text(ip);
  std::string zone;
  if (const auto percent = text.find('%'); percent != std::string::npos) {
    zone = text.substr(percent + 1);
    text.resize(percent);
  }
  SocketAddress address;
  if (zone.empty() && !bracketed) {
    sockaddr_in v4{};
    if (::inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
      v4.sin_family = AF_INET;
      v4.sin_port = htons(port);
      std::memcpy(address.storage_.data(), &v4, sizeof v4);
      address.size_ = sizeof v4;
      return address;
    }
  }
  sockaddr_in6 v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) != 1) return std::nullopt;
  if (!zone.empty()) {
    v6.sin6_scope_id = ::if_nametoindex(zone.c_str());
    if (v6.sin6_scope_id == 0) return std::nullopt;
  }
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(port);
  std::memcpy(address.storage_.data(), &v6, sizeof v6);
  address.size_ = sizeof v6;
  return address;
}

SocketAddress SocketAddress::ipv4_loopback(std::uint16_t port) {
  return *parse("127.0.0.1", port);
}
SocketAddress SocketAddress::ipv6_loopback(std::uint16_t port) {
  return *parse("::1", port);
}
SocketAddress SocketAddress::ipv4_any(std::uint16_t port) {
  return *parse("0.0.0.0", port);
}
SocketAddress SocketAddress::ipv6_any(std::uint16_t port) {
  return *parse("::", port);
}

SocketAddress SocketAddress::from_native(const void* sockaddr, std::size_t length) {
  SocketAddress address;
  if (sockaddr == nullptr || length < sizeof(sa_family_t)) return address;
  sa_family_t family{};
  std::memcpy(&family, sockaddr, sizeof family);
  const std::size_t expected = family == AF_INET    ? sizeof(sockaddr_in)
                               : family == AF_INET6 ? sizeof(sockaddr_in6)
                                                    : 0;
  if (expected == 0 || length < expected) return address;
  std::memcpy(address.storage_.data(), sockaddr, expected);
  address.size_ = expected;
  return address;
}

AddressFamily SocketAddress::family() const noexcept {
  if (size_ == sizeof(sockaddr_in)) return AddressFamily::ipv4;
  if (size_ == sizeof(sockaddr_in6)) return AddressFamily::ipv6;
  return AddressFamily::unspecified;
}

std::uint16_t SocketAddress::port() const noexcept {
  switch (family()) {
    case AddressFamily::ipv4: {
      sockaddr_in v4;
      std::memcpy(&v4, storage_.data(), sizeof v4);
      return ntohs(v4.sin_port);
    }
    case AddressFamily::ipv6: {
      sockaddr_in6 v6;
      std::memcpy(&v6, storage_.data(), sizeof v6);
      return ntohs(v6.sin6_port);
    }
    default:
      return 0;
  }
}

std::string SocketAddress::ip() const {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 1] = {};
  switch (family()) {
    case AddressFamily::ipv4: {
      sockaddr_in v4;
      std::memcpy(&v4, storage_.data(), sizeof v4);
      ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
      return text;
    }
    case AddressFamily::ipv6: {
      sockaddr_in6 v6;
      std::memcpy(&v6, storage_.data(), sizeof v6);
      ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
      std::string result = text;
      char zone[IF_NAMESIZE] = {};
      if (v6.sin6_scope_id != 0 && ::if_indextoname(v6.sin6_scope_id, zone) != nullptr) {
        result += '%';
        result += zone;
      }
      return result;
    }
    default:
      return {};
  }
}

std::string SocketAddress::to_string() const {
  switch (family()) {
    case AddressFamily::ipv4:
      return ip() + ':' + std::to_string(port());
    case AddressFamily::ipv6:
      return '[' + ip() + "]:" + std::to_string(port());
    default:
      return "(none)";
  }
}

bool SocketAddress::is_loopback() const noexcept {
  switch (family()) {
    case AddressFamily::ipv4: {
      sockaddr_in v4;
      std::memcpy(&v4, storage_.data(), sizeof v4);
      return (ntohl(v4.sin_addr.s_addr) >> 24) == 127;
    }
    case AddressFamily::ipv6: {
      sockaddr_in6 v6;
      std::memcpy(&v6, storage_.data(), sizeof v6);
      return IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr);
    }
    default:
      return false;
  }
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
  return a.size_ == b.size_ && std::memcmp(a.storage_.data(), b.storage_.data(), a.size_) == 0;
}

bool is_ip_literal(std::string_view host) {
  return SocketAddress::parse(host, 0).has_value();
}

}  // namespace wsx::io
