// The proxy the environment names for a target: *_proxy variables and no_proxy, read as curl
// reads them so one environment serves both tools.
#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "wsx/proxy.hpp"

namespace wsx {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// An IP address as bytes (4 or 16 of them), for comparing literals and ranges whatever their
// spelling ("::1" and "0::1" are one address).
struct IpBytes {
  std::array<unsigned char, 16> bytes{};
  std::size_t size = 0;
};

std::optional<IpBytes> ip_bytes(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  const std::string copy(text);
  IpBytes ip;
  if (::inet_pton(AF_INET, copy.c_str(), ip.bytes.data()) == 1) {
    ip.size = 4;
    return ip;
  }
  if (::inet_pton(AF_INET6, copy.c_str(), ip.bytes.data()) == 1) {
    ip.size = 16;
    return ip;
  }
  return std::nullopt;
}

bool same_prefix(const IpBytes& a, const IpBytes& b, unsigned bits) {
  if (a.size != b.size || bits > a.size * 8) return false;
  for (std::size_t i = 0; i < a.size && bits > 0; ++i) {
    const unsigned take = bits >= 8 ? 8 : bits;
    const auto mask = static_cast<unsigned char>(0xFF << (8 - take));
    if ((a.bytes[i] & mask) != (b.bytes[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

// One no_proxy entry, split into its host (or address range) and optional port.
struct Entry {
  std::string_view host;
  std::optional<unsigned> prefix_bits;  // "/N" after an address
  std::optional<unsigned> port;
  bool valid = true;
};

std::optional<unsigned> number(std::string_view text) {
  const std::optional<std::uint64_t> value = parse_number(text);
  if (!value || *value > UINT_MAX) return std::nullopt;
  return static_cast<unsigned>(*value);
}

Entry split_entry(std::string_view text) {
  Entry entry;
  std::string_view tail;
  if (text.front() == '[') {  // [v6], [v6]:port, [v6]/bits
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return Entry{text, {}, {}, false};
    entry.host = text.substr(1, close - 1);
    tail = text.substr(close + 1);
  } else if (const std::size_t slash = text.find('/'); slash != std::string_view::npos) {
    entry.host = text.substr(0, slash);  // an address range: v4/bits or bare v6/bits
    tail = text.substr(slash);
  } else if (text.find(':') != std::string_view::npos &&
             text.find(':') == text.rfind(':')) {  // name:port or v4:port
    entry.host = text.substr(0, text.find(':'));
    tail = text.substr(text.find(':'));
  } else {
    entry.host = text;  // a name, a v4 address or a bare v6 address
  }
  if (!tail.empty()) {
    const std::optional<unsigned> value = number(tail.substr(1));
    if (!value) entry.valid = false;
    if (tail.front() == '/') {
      entry.prefix_bits = value;
    } else if (tail.front() == ':') {
      entry.port = value;
    } else {
      entry.valid = false;
    }
  }
  return entry;
}

bool entry_matches(std::string_view text, const Url& target) {
  if (text == "*") return true;
  const Entry entry = split_entry(text);
  if (!entry.valid || entry.host.empty()) return false;
  if (entry.port && *entry.port != target.port) return false;
  const std::optional<IpBytes> entry_ip = ip_bytes(entry.host);
  if (entry_ip) {
    const std::optional<IpBytes> target_ip = ip_bytes(target.host);
    if (!target_ip) return false;  // names are not resolved to compare them with addresses
    return same_prefix(*entry_ip, *target_ip,
                       entry.prefix_bits.value_or(static_cast<unsigned>(entry_ip->size * 8)));
  }
  if (entry.prefix_bits) return false;  // a range needs an address before the "/"
  std::string name = lower(entry.host);
  if (name.starts_with("*.")) name.erase(0, 2);
  if (name.starts_with(".")) name.erase(0, 1);
  if (name.ends_with(".")) name.pop_back();
  std::string host = target.host;
  if (host.ends_with(".")) host.pop_back();
  if (name.empty()) return false;
  return host == name || (host.size() > name.size() && host.ends_with(name) &&
                          host[host.size() - name.size() - 1] == '.');
}

}  // namespace

bool no_proxy_matches(std::string_view no_proxy, const Url& target) {
  std::size_t start = 0;
  while (start < no_proxy.size()) {
    const std::size_t end = no_proxy.find_first_of(", \t", start);
    const std::string_view entry = no_proxy.substr(
        start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!entry.empty() && entry_matches(entry, target)) return true;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return false;
}

std::string proxy_from_environment(const Url& target, const EnvironmentLookup& getenv) {
  const auto read = [&](const char* name) -> std::optional<std::string> {
    const char* value = getenv ? getenv(name) : std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
  std::optional<std::string> proxy;
  if (target.secure) {
    proxy = read("https_proxy");
    if (!proxy) proxy = read("HTTPS_PROXY");
  } else {
    proxy = read("http_proxy");  // never HTTP_PROXY: see the header
  }
  if (!proxy) proxy = read("all_proxy");
  if (!proxy) proxy = read("ALL_PROXY");
  if (!proxy) return {};
  std::optional<std::string> no_proxy = read("no_proxy");
  if (!no_proxy) no_proxy = read("NO_PROXY");
  if (no_proxy && no_proxy_matches(*no_proxy, target)) return {};
  return *proxy;
}

}  // namespace wsx
