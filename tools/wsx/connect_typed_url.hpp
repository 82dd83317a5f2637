// URLs as people type them at `wsx connect`, turned into the strict ws:// or wss:// URL the
// library takes (wsx::parse_url stays strict: a program that builds URLs wants its mistakes
// caught; a person typing wants the obvious meaning):
//   ws.chat://host/, wss.chat://host/  the seed's notation: offer the subprotocol "chat"
//   http://host/, https://host/        taken as ws:// and wss:// (a page's address pasted)
//   host:9000/path                     no scheme: ws:// for a loopback host, wss:// otherwise
//                                      (secure unless the traffic cannot leave the machine)
//   ws://user:pass@host/               credentials for HTTP Basic, percent-decoded (a part
//                                      that is not valid percent-encoding is taken as typed)
// A mistyped "://" ("ws:/host", "ws//host", "wss:host:8443/") is refused with the URL meant,
// as is an empty URL (std::invalid_argument); "ws/path" and "ws:8080/path" are URLs without a
// scheme whose host is named "ws". Anything else is left for the strict parser to report.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wsx::tool {

struct TypedUrl {
  std::string url;                         // for wsx::parse_url
  std::optional<std::string> subprotocol;  // from ws.PROTO://
  std::optional<std::string> credentials;  // "user:password", decoded
};

// Throws std::invalid_argument for an empty URL or a mistyped "://".
TypedUrl interpret_typed_url(std::string_view text);

}  // namespace wsx::tool
