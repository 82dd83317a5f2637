#include "wsx/metrics_endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace wsx {
namespace {

struct Parsed {
  std::array<std::uint8_t, 16> address{};
  bool ipv6 = false;
};

// An IP literal; an IPv4-mapped IPv6 address becomes the IPv4 address it maps.
std::optional<Parsed> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buffer[INET6_ADDRSTRLEN] = {};
  std::memcpy(buffer, text.data(), text.size());
  Parsed parsed;
  if (inet_pton(AF_INET, buffer, parsed.address.data()) == 1) return parsed;
  if (inet_pton(AF_INET6, buffer, parsed.address.data()) != 1) return std::nullopt;
  static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(parsed.address.data(), mapped_prefix, sizeof mapped_prefix) == 0) {
    std::memmove(parsed.address.data(), parsed.address.data() + 12, 4);
    std::memset(parsed.address.data() + 4, 0, 12);
    return parsed;
  }
  parsed.ipv6 = true;
  return parsed;
}

// "1.2.3.4:80" -> "1.2.3.4", "[::1]:80" -> "::1".
std::string_view host_of(std::string_view remote) {
  if (remote.starts_with('[')) {
    const std::size_t end = remote.find(']');
    return end == std::string_view::npos ? std::string_view() : remote.substr(1, end - 1);
  }
  return remote.substr(0, remote.rfind(':'));
}

bool prefix_matches(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                    unsigned prefix) {
  const unsigned bytes = prefix / 8;
  if (std::memcmp(a.data(), b.data(), bytes) != 0) return false;
  const unsigned bits = prefix % 8;
  if (bits == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

proto::HttpResponse plain(int status, std::string body) {
  proto::HttpResponse response;
  response.status = status;
  response.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  response.body = std::move(body);
  return response;
}

}  // namespace

MetricsAccess::MetricsAccess(const std::vector<std::string>& allowed) {
  if (allowed.empty()) {
    blocks_.push_back({{127}, false, 8});
    Block ipv6_loopback{{}, true, 128};
    ipv6_loopback.address[15] = 1;
    blocks_.push_back(ipv6_loopback);
    return;
  }
  for (const std::string& entry : allowed) {
    const std::size_t slash = entry.find('/');
    const std::optional<Parsed> ip = parse_ip(std::string_view(entry).substr(0, slash));
    if (!ip) throw std::invalid_argument("not an IP address or CIDR block: '" + entry + "'");
    const unsigned bits = ip->ipv6 ? 128 : 32;
    unsigned prefix = bits;
    if (slash != std::string::npos) {
      const char* first = entry.data() + slash + 1;
      const char* last = entry.data() + entry.size();
      const auto [end, error] = std::from_chars(first, last, prefix);
      if (error != std::errc() || end != last || first == last || prefix > bits) {
        throw std::invalid_argument("bad prefix length in '" + entry + "'");
      }
    }
    blocks_.push_back({ip->address, ip->ipv6, prefix});
  }
}

bool MetricsAccess::permits(std::string_view remote_address) const {
  const std::optional<Parsed> peer = parse_ip(host_of(remote_address));
  if (!peer) return false;
  for (const Block& block : blocks_) {
    if (block.ipv6 == peer->ipv6 && prefix_matches(block.address, peer->address, block.prefix)) {
      return true;
    }
  }
  return false;
}

std::optional<proto::HttpResponse> metrics_response(const MetricsRegistry& registry,
                                                    const HttpRequest& request,
                                                    const MetricsAccess& access,
                                                    std::string_view path) {
  if (request.path != path) return std::nullopt;
  if (!access.permits(request.remote_address)) {
    return plain(403, "metrics are not served to this address\n");
  }
  if (request.method != "GET" && request.method != "HEAD") {
    proto::HttpResponse response = plain(405, "GET or HEAD\n");
    response.headers.push_back({"Allow", "GET, HEAD"});
    return response;
  }
  proto::HttpResponse response;
  response.status = 200;
  response.headers.push_back({"Content-Type", std::string(MetricsRegistry::content_type)});
  response.headers.push_back({"Cache-Control", "no-store"});
  response.body = registry.scrape();  // HEAD: the server sends the head only
  return response;
}

}  // namespace wsx
