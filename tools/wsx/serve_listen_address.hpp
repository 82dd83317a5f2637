// `--listen HOST:PORT` for `wsx serve`: "127.0.0.1:8080", "[::1]:8080", "localhost:0", or a
// port alone, "9000", which means 127.0.0.1:9000 (loopback unless a host is named).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsx::tool {

struct ListenAddress {
  std::string host;  // an IP literal (IPv6 without brackets) or "localhost"
  std::uint16_t port = 0;
  bool ipv6 = false;

  // "127.0.0.1:8080", "[::1]:8080": how a URL writes it.
  std::string authority() const;
};

// Nullopt when the text is not HOST:PORT or PORT with a port 0-65535 (an IPv6 host needs brackets).
std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace wsx::tool
