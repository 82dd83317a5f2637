// Reading one cookie of a request (RFC 6265 §5.4: "name=value; name2=value2"), for the session a
// CSRF token is bound to.
#pragma once

#include <optional>
#include <string_view>

#include "wsx/proto/http_head.hpp"

namespace wsx::server {

// The value of the first cookie called `name` in `cookie_header` (quotes around it removed);
// nullopt when there is none. Names compare exactly, as browsers set them.
std::optional<std::string_view> find_cookie(std::string_view cookie_header,
                                            std::string_view name) noexcept;
// The same over every Cookie header of `head` (HTTP/2 proxies may split them).
std::optional<std::string_view> find_cookie(const proto::HttpHead& head,
                                            std::string_view name) noexcept;

}  // namespace wsx::server
