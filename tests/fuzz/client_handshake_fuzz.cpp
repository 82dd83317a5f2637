// Fuzzes the client's check of the server's answer. The accept value depends on a random key the
// fuzzer cannot know, so every "@@" in the input is replaced by the right Sec-WebSocket-Accept.
// Input: one selector byte, then the response bytes.
//   bit 0: offer subprotocols; bit 1: offer permessage-deflate; bit 2: ask server_no_context_
//   takeover; bits 3-4: client_max_window_bits 0, 10, 15 or 16; bits 5-6: server_max_window_bits
//   0, 8, 10 or 15; bit 7: client_no_context_takeover.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "wsx/proto/handshake.hpp"

using namespace wsx::proto;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  ClientRequestOptions options;
  options.host = "example.com";
  if (selector & 1) options.subprotocols = {"chat", "superchat"};
  if (selector & 2) {
    DeflateClientOptions deflate;
    deflate.server_no_context_takeover = selector & 4;
    static constexpr std::uint8_t client_bits[] = {0, 10, 15, 16};
    static constexpr std::uint8_t server_bits[] = {0, 8, 10, 15};
    deflate.client_max_window_bits = client_bits[(selector >> 3) & 3];
    deflate.server_max_window_bits = server_bits[(selector >> 5) & 3];
    deflate.client_no_context_takeover = selector & 128;
    options.deflate = deflate;
  }
  const ClientHandshake handshake(options);
  const std::string accept = accept_key(handshake.key());

  std::string response(reinterpret_cast<const char*>(data + 1), size - 1);
  for (std::size_t at = response.find("@@"); at != std::string::npos;
       at = response.find("@@", at + accept.size())) {
    response.replace(at, 2, accept);
  }
  HttpHeadParser parser(HttpKind::response);
  if (parser.parse(response.data(), response.size()) != HttpParseStatus::complete) return 0;

  const ClientHandshakeResult result = handshake.check_response(parser.head());
  check(result.message.empty() == (result.error == ClientHandshakeError::none));
  if (result.error == ClientHandshakeError::none) {
    check(parser.head().status == 101);
    check(parser.head().header("Sec-WebSocket-Accept") == accept);
    check(!result.deflate || options.deflate);
    check(!result.subprotocol || !options.subprotocols.empty());
    if (result.deflate) {
      check(result.deflate->client_max_window_bits >= 9);
      check(result.deflate->server_max_window_bits >= 8);
    }
  }
  // The extension checker on its own, against the same offer.
  if (options.deflate) {
    if (const auto offers = parse_extensions(parser.head().combined("Sec-WebSocket-Extensions"))) {
      for (const ExtensionOffer& offer : *offers) {
        std::string why;
        const auto params = accept_deflate_response(offer, *options.deflate, &why);
        check(params.has_value() == why.empty());
      }
    }
  }
  return 0;
}
