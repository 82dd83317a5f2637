// Fuzzes the server side of the opening handshake: parse a request, validate it, then either
// serialize the rejection or accept with permessage-deflate options drawn from the input. Every
// response we write must parse back as one complete head.
// Input: one selector byte, then the request bytes.
//   bit 0: deflate enabled; bit 1: server_no_context_takeover; bit 2: client_no_context_takeover;
//   bits 3-5: server_max_window_bits 8-15; bits 6-7: client_max_window_bits 9, 11, 13 or 15.
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

HttpHead parse_our_response(const std::string& text) {
  HttpHeadParser parser(HttpKind::response, HttpLimits{1 << 20, 1024});
  check(parser.parse(text.data(), text.size()) == HttpParseStatus::complete);
  return parser.head();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  HttpHeadParser parser(HttpKind::request);
  if (parser.parse(reinterpret_cast<const char*>(data + 1), size - 1) !=
      HttpParseStatus::complete) {
    return 0;
  }
  const UpgradeCheck result = check_upgrade_request(parser.head());
  if (result.error != UpgradeError::none) {
    check(!result.request.has_value());
    const std::string text = serialize(result.rejection);
    const HttpHead head = parse_our_response(text);
    check(head.status == result.rejection.status);
    check(head.status == 400 || head.status == 426);
    return 0;
  }
  check(result.request.has_value());
  const UpgradeRequest& request = *result.request;
  check(!request.path.empty() && request.path.front() == '/');

  AcceptOptions options;
  options.subprotocols = {"chat", "superchat", "mqtt"};
  options.extra_headers = {{"Server", "wsx-fuzz"}};
  if (selector & 1) {
    DeflateServerOptions deflate;
    deflate.server_no_context_takeover = selector & 2;
    deflate.client_no_context_takeover = selector & 4;
    deflate.server_max_window_bits = static_cast<std::uint8_t>(8 + ((selector >> 3) & 7));
    deflate.client_max_window_bits = static_cast<std::uint8_t>(9 + 2 * (selector >> 6));
    options.deflate = deflate;
  }
  const Accepted accepted = accept_upgrade(request, options);
  const HttpHead head = parse_our_response(accepted.response);
  check(head.status == 101);
  check(head.header("Sec-WebSocket-Accept") == accept_key(request.key));
  check(head.count("Sec-WebSocket-Protocol") == (accepted.subprotocol ? 1u : 0u));
  check(head.count("Sec-WebSocket-Extensions") == (accepted.deflate ? 1u : 0u));
  if (accepted.deflate) {
    check(options.deflate.has_value());
    const DeflateParams& p = *accepted.deflate;
    check(p.server_max_window_bits >= 9 && p.server_max_window_bits <= 15);
    check(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15);
    const auto answer = parse_extensions(*head.header("Sec-WebSocket-Extensions"));
    check(answer.has_value() && answer->size() == 1);
  }
  return 0;
}
