#include "serve_listen_address.hpp"

#include "wsx/url.hpp"

namespace wsx::tool {

std::string ListenAddress::authority() const {
  const std::string bracketed = ipv6 ? "[" + host + "]" : host;
  return bracketed + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress address;
  std::string_view port_text;
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    address.host = "127.0.0.1";  // a port alone: loopback, as the default address is
    port_text = text;
  } else if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    address.host = std::string(text.substr(1, close - 1));
    address.ipv6 = true;
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    address.host = std::string(text.substr(0, colon));
    if (address.host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs brackets
    port_text = text.substr(colon + 1);
  }
  if (address.host.empty() || port_text.empty()) return std::nullopt;
  const std::optional<std::uint64_t> port = parse_number(port_text);
  if (!port || *port > 65535) return std::nullopt;
  address.port = static_cast<std::uint16_t>(*port);
  return address;
}

}  // namespace wsx::tool
