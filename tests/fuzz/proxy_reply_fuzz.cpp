// Fuzzes the proxy reply parsers (HTTP CONNECT and SOCKS5): whatever a proxy sends, the verdict
// is need_more, established or failed with a message, never a crash, and a CONNECT reply gets
// the same verdict whatever the split.
// Input: one selector byte, then the proxy's bytes.
//   bit 0: SOCKS5 (else HTTP CONNECT); bit 1: with credentials; bit 2: socks5:// with an
//   address (else a name); bits 3-7: seed of the chunk sizes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "client/proxy_negotiation.hpp"

using namespace wsx;
using namespace wsx::client_detail;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

std::unique_ptr<ProxyNegotiation> make(std::uint8_t selector) {
  Proxy proxy;
  proxy.host = "proxy.test";
  proxy.port = 1080;
  proxy.kind = (selector & 1) ? ProxyKind::socks5h : ProxyKind::http;
  if (selector & 2) {
    proxy.username = "user";
    proxy.password = "password";
  }
  TunnelTarget target;
  target.host = "example.com";
  target.port = 443;
  if (selector & 4) target.resolved = io::SocketAddress::parse("192.0.2.1", 443);
  if (selector & 1) return make_socks5(proxy, target);
  return make_http_connect(proxy, target, 1024);
}

// Feeds `wire` in chunks; returns the verdict and checks what every verdict promises.
TunnelStatus drive(std::uint8_t selector, std::string_view wire, bool chunked) {
  auto negotiation = make(selector);
  check(!negotiation->take_output().empty());  // the first request is ready at once
  std::uint32_t state = selector >> 3 | 1u;
  std::size_t fed = 0;
  TunnelStatus status = TunnelStatus::need_more;
  while (status == TunnelStatus::need_more && fed < wire.size()) {
    state = state * 1103515245u + 12345u;
    const std::size_t size = chunked ? 1 + (state >> 16) % 16 : wire.size();
    const std::string_view piece = wire.substr(fed, size);
    fed += piece.size();
    status = negotiation->feed(piece);
    check(negotiation->take_output().size() <= 600);  // a SOCKS5 request is at most 522 bytes
  }
  if (status == TunnelStatus::failed) {
    const ClientError& error = negotiation->error();
    check(!error.message.empty());
    check(error.kind == ClientErrorKind::proxy_refused ||
          error.kind == ClientErrorKind::proxy_failed);
    if (error.kind == ClientErrorKind::proxy_refused && !(selector & 1))
      check(error.status >= 100 && error.status <= 999 &&
            (error.status < 200 || error.status > 299));
  } else {
    check(!negotiation->closed_early("reset").message.empty());
  }
  return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  const TunnelStatus chunked = drive(selector, wire, true);
  if (!(selector & 1)) {
    // One exception: a chunk that ends with the head opens the tunnel before bytes after it
    // are seen; whole, those bytes fail it (they belong to whoever speaks in the tunnel).
    const TunnelStatus whole = drive(selector, wire, false);
    check(chunked == whole ||
          (chunked == TunnelStatus::established && whole == TunnelStatus::failed));
  }
  return 0;
}
