// Redirects of the opening handshake: where a Location leads (RFC 3986 §5.2 resolution against
// the request URL) and what may be sent there.
#pragma once

#include <string>
#include <string_view>

#include "wsx/client.hpp"
#include "wsx/url.hpp"

namespace wsx::client_detail {

// 301, 302, 303, 307 and 308: the statuses a handshake redirect may carry.
bool is_redirect_status(int status) noexcept;

// `location` resolved against `base`: an absolute or relative reference; http:// and https://
// become ws:// and wss:// (servers name the page's address), a fragment is dropped. Fails, with
// the reason, for another scheme or a URL parse_url refuses (credentials in it, for one).
UrlParseResult resolve_location(const Url& base, std::string_view location);

// Same scheme, host and port (RFC 6454 origins).
bool same_origin(const Url& a, const Url& b) noexcept;

// The headers to send to the next hop: all of them within one origin; across origins, without
// Authorization and Cookie (credentials for one server are not given to another).
HeaderList headers_for_next_hop(const HeaderList& headers, bool same_origin);

}  // namespace wsx::client_detail
