// Serving a MetricsRegistry over HTTP to Prometheus, and to no one else.
//
// The counters tell whoever reads them how busy the server is and how its clients behave, so
// the endpoint answers only the addresses it is told to: loopback by default, or an allow-list
// of CIDR blocks (which then replaces loopback). Anyone else gets 403.
//
//   wsx::ServerOptions options;
//   options.metrics = std::make_shared<wsx::MetricsRegistry>();
//   options.http = [registry = options.metrics, access = wsx::MetricsAccess()](
//                      const wsx::HttpRequest& request) {
//     if (auto answer = wsx::metrics_response(*registry, request, access)) return *answer;
//     return wsx::proto::HttpResponse{.status = 404};
//   };
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wsx/export.hpp"
#include "wsx/metrics.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/server.hpp"

namespace wsx {

// Which peers may read the metrics.
class WSX_API MetricsAccess {
 public:
  // `allowed`: addresses or CIDR blocks ("10.1.2.3", "10.0.0.0/8", "fd00::/8"); empty: loopback
  // only (127.0.0.0/8 and ::1). Throws std::invalid_argument for one that does not parse.
  explicit MetricsAccess(const std::vector<std::string>& allowed = {});
  // `remote_address` as HttpRequest gives it ("127.0.0.1:51234", "[::1]:51234"); an IPv4 peer
  // seen through an IPv6 socket (an IPv4-mapped address) is matched as IPv4.
  bool permits(std::string_view remote_address) const;

 private:
  struct Block {
    std::array<std::uint8_t, 16> address{};  // IPv4 in the first 4 bytes
    bool ipv6 = false;
    unsigned prefix = 0;
  };
  std::vector<Block> blocks_;
};

// The answer to `request` when its path is `path`: 200 with the registry's scrape for GET (the
// head only for HEAD), 405 for another method, 403 for a peer `access` refuses. nullopt for
// any other path, so that the application's own handler can answer it.
WSX_API std::optional<proto::HttpResponse> metrics_response(const MetricsRegistry& registry,
                                                            const HttpRequest& request,
                                                            const MetricsAccess& access,
                                                            std::string_view path = "/metrics");

}  // namespace wsx
