// The web console `wsx serve` answers at "/": one self-contained HTML page (no external
// resources) to open a WebSocket to any ws:// or wss:// URL, send text or binary, and watch
// messages, open/close (code, reason, clean) and errors.
//
// Query parameters, for links and scripted use: url=ws://... (default: this server's /echo),
// protocols=a,b, send=TEXT (repeatable: sent in order once open), auto=1 (connect on load),
// close=1 (close with 1000 once every `send` has been echoed).
#pragma once

#include <string_view>

namespace wsx::tool {

std::string_view web_console_page() noexcept;
// Keeps the page from loading anything from elsewhere, whatever a message contains.
inline constexpr std::string_view web_console_csp =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "connect-src ws: wss:; img-src data:; base-uri 'none'; form-action 'none'";

}  // namespace wsx::tool
