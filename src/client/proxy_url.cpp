// Proxy URLs: http://, socks5://, socks5h://, with optional percent-encoded credentials.
#include <cctype>
#include <string>

#include "wsx/proxy.hpp"

namespace wsx {
namespace {

// curl's default proxy port, whatever the scheme: a user moving from curl gets the same proxy.
constexpr std::uint16_t default_proxy_port = 1080;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ProxyParseResult failure(std::string why) {
  ProxyParseResult result;
  result.error = std::move(why);
  return result;
}

}  // namespace

std::string Proxy::authority() const {
  const std::string shown = ipv6_literal ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port);
}

std::string Proxy::to_string() const {
  std::string scheme = kind == ProxyKind::http     ? "http://"
                       : kind == ProxyKind::socks5 ? "socks5://"
                                                   : "socks5h://";
  if (username) scheme += *username + "@";
  return scheme + authority();
}

ProxyParseResult parse_proxy_url(std::string_view text) {
  Proxy proxy;
  std::string_view rest = text;
  if (const std::size_t separator = text.find("://"); separator != std::string_view::npos) {
    const std::string scheme = lower(text.substr(0, separator));
    rest = text.substr(separator + 3);
    if (scheme == "http") {
      proxy.kind = ProxyKind::http;
    } else if (scheme == "socks5") {
      proxy.kind = ProxyKind::socks5;
    } else if (scheme == "socks5h") {
      proxy.kind = ProxyKind::socks5h;
    } else if (scheme == "https") {
      return failure("https:// proxies (TLS to the proxy itself) are not supported; use http://");
    } else if (scheme.starts_with("socks4")) {
      return failure("SOCKS4 proxies are not supported; use socks5:// or socks5h://");
    } else {
      return failure("unknown proxy scheme \"" + scheme +
                     "\" (http://, socks5:// and socks5h:// are supported)");
    }
  }
  // Nothing may follow the authority but one "/": a path would be silently ignored otherwise.
  if (const std::size_t slash = rest.find_first_of("/?#"); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") return failure("a proxy URL has no path, query or fragment");
    rest = rest.substr(0, slash);
  }
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    const auto user = percent_decode(userinfo.substr(0, colon));
    const auto password = percent_decode(
        colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1));
    if (!user || !password) return failure("malformed percent-escape in the proxy credentials");
    if (proxy.kind != ProxyKind::http) {
      // RFC 1929: each is one length byte and at least one byte of name.
      if (user->empty() || user->size() > 255 || password->size() > 255) {
        return failure(
            "SOCKS5 credentials take a user name of 1-255 bytes and a password of at "
            "most 255");
      }
    }
    proxy.username = *user;
    proxy.password = *password;
  }
  if (rest.empty()) return failure("the proxy URL has no host");
  // The host and port follow the same rules as a WebSocket URL's.
  const UrlParseResult host = parse_url("ws://" + std::string(rest) + "/");
  if (!host.ok())
    return failure("invalid proxy address \"" + std::string(rest) + "\": " + host.error);
  proxy.host = host.url->host;
  proxy.ipv6_literal = host.url->ipv6_literal;
  proxy.port = host.url->explicit_port ? host.url->port : default_proxy_port;
  ProxyParseResult result;
  result.proxy = std::move(proxy);
  return result;
}

}  // namespace wsx
