// The CSRF check of an upgrade request on a route with Behavior::csrf: where the token and the
// session are found, and the subprotocol entries that carry tokens, which no application sees.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "wsx/csrf.hpp"
#include "wsx/proto/handshake.hpp"

namespace wsx::server {

// Sec-WebSocket-Protocol entries "csrf.TOKEN" carry a token (browsers cannot set headers).
inline constexpr std::string_view csrf_subprotocol_prefix = "csrf.";

// The token of `request`: the query parameter `csrf` (the first), else the first subprotocol
// entry "csrf.TOKEN"; nullopt when there is neither.
std::optional<std::string_view> find_csrf_token(const proto::UpgradeRequest& request) noexcept;

// The verdict on `request` for `check` at `now`.
CsrfVerdict check_csrf(const CsrfCheck& check, const proto::UpgradeRequest& request,
                       CsrfTokens::Clock::time_point now = CsrfTokens::Clock::now());

// Removes the "csrf.*" entries, so that no token is chosen (echoed) as the subprotocol nor
// shown to the application.
void drop_csrf_subprotocols(std::vector<std::string_view>& offered);

}  // namespace wsx::server
