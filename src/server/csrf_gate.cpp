#include "server/csrf_gate.hpp"

#include <algorithm>

#include "server/query_parameter.hpp"
#include "server/request_cookies.hpp"

namespace wsx::server {

std::optional<std::string_view> find_csrf_token(const proto::UpgradeRequest& request) noexcept {
  if (const std::optional<std::string_view> token = query_parameter(request.query, "csrf")) {
    return token;
  }
  for (const std::string_view offered : request.subprotocols) {
    if (offered.starts_with(csrf_subprotocol_prefix)) {
      return offered.substr(csrf_subprotocol_prefix.size());
    }
  }
  return std::nullopt;
}

CsrfVerdict check_csrf(const CsrfCheck& check, const proto::UpgradeRequest& request,
                       CsrfTokens::Clock::time_point now) {
  const std::optional<std::string_view> token = find_csrf_token(request);
  if (!token || token->empty()) return CsrfVerdict::missing;
  std::optional<std::string_view> session;
  if (request.head != nullptr) session = find_cookie(*request.head, check.session_cookie);
  if (!session || session->empty()) return CsrfVerdict::no_session;
  if (!check.tokens) return CsrfVerdict::forged;  // a route without tokens accepts none
  return check.tokens->verify(*token, *session, now);
}

void drop_csrf_subprotocols(std::vector<std::string_view>& offered) {
  std::erase_if(offered,
                [](std::string_view entry) { return entry.starts_with(csrf_subprotocol_prefix); });
}

}  // namespace wsx::server
