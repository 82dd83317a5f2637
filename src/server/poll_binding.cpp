#include "server/poll_binding.hpp"

#include <span>

namespace wsx::server {
namespace {

std::span<const std::uint8_t> bytes_of(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace

std::string_view describe(BindingVerdict verdict) noexcept {
  switch (verdict) {
    case BindingVerdict::valid:
      return "valid";
    case BindingVerdict::other_origin:
      return "session opened by another origin";
    case BindingVerdict::missing_token:
      return "csrf token missing";
    case BindingVerdict::wrong_token:
      return "csrf token is not the session's";
  }
  return "invalid";
}

BindingVerdict PollBinding::check(std::optional<std::string_view> request_origin,
                                  std::optional<std::string_view> request_token,
                                  SecretCompare compare) const noexcept {
  // Origins are not secret: a plain comparison. A request without Origin passes: browsers send
  // none on a same-origin GET (the recv), and a cross-origin page cannot make a request without
  // one that carries the Wsx-Session header (custom headers make it a CORS request, Origin
  // included, and its preflight is never granted). A non-browser client could claim any Origin
  // anyway; the token is what binds it. A session opened without Origin (not a browser) is not
  // joined by any page.
  if (request_origin && (!origin || *origin != *request_origin)) {
    return BindingVerdict::other_origin;
  }
  if (!csrf) return BindingVerdict::valid;
  if (!request_token || request_token->empty()) return BindingVerdict::missing_token;
  return compare(bytes_of(*csrf), bytes_of(*request_token)) ? BindingVerdict::valid
                                                            : BindingVerdict::wrong_token;
}

}  // namespace wsx::server
