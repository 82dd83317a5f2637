// What a long-polling session is bound to when it opens: the Origin of the page that opened it
// and the CSRF token its open passed. Every later request must present the same token, and its
// Origin, when it sends one, must be the same (issue 10 §2): a sid that leaked to another
// origin, or is presented without its token, gets 403.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/constant_time_equal.hpp"

namespace wsx::server {

enum class BindingVerdict : std::uint8_t { valid, other_origin, missing_token, wrong_token };

// "session opened by another origin", ... (for a 403 body and the access log).
std::string_view describe(BindingVerdict verdict) noexcept;

struct PollBinding {
  std::optional<std::string> origin;  // as sent at open; nullopt when it had none
  std::optional<std::string> csrf;    // the token accepted at open; nullopt: the route has none

  // `compare`: how token bytes are compared (constant time; a test may count its calls).
  BindingVerdict check(std::optional<std::string_view> request_origin,
                       std::optional<std::string_view> request_token,
                       SecretCompare compare = constant_time_equal) const noexcept;
};

}  // namespace wsx::server
