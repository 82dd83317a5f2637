// The web console `wsx serve` answers at "/": tools/wsx/console/ (index.html, console.css,
// console.js), compiled into the binary (embedded_files.hpp). No external resources; the page
// is a devtools-style panel: a table of messages with a filter, a detail pane (whole payload,
// hex, pretty-printed JSON), why a connection failed, and the server's live connections
// (serve_admin.hpp).
//
// Query parameters, for links and scripted use: url=ws://... (default: this server's /echo),
// protocols=a,b, send=TEXT (repeatable: sent in order once open), auto=1 (connect on load),
// close=1 (close with 1000 once every `send` has been echoed), rows=N (keep the last N rows of
// the message table, default 2000).
#pragma once

#include <optional>
#include <string_view>

#include "wsx/proto/handshake.hpp"

namespace wsx::tool {

// Scripts and styles from this server only (no inline code: a message cannot inject any), the
// WebSocket to anywhere, fetch() to anywhere to learn why a connection failed.
inline constexpr std::string_view web_console_csp =
    "default-src 'none'; style-src 'self'; script-src 'self'; "
    "connect-src 'self' ws: wss: http: https:; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

// "/" → index.html, "/console.js", "/console.css", "/wsx.js" (the browser client, js/wsx.js);
// nullopt for any other path.
std::optional<proto::HttpResponse> web_console_response(std::string_view path);

}  // namespace wsx::tool
