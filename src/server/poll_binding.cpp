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
  // Origins are not secret: a plain comparison. Absent must stay absent (a non-browser client
  // that opened without one cannot be joined by a page, and the other way round).
  if (origin.has_value() != request_origin.has_value() || (origin && *origin != *request_origin)) {
    return BindingVerdict::other_origin;
  }
  if (!csrf) return BindingVerdict::valid;
  if (!request_token || request_token->empty()) return BindingVerdict::missing_token;
  return compare(bytes_of(*csrf), bytes_of(*request_token)) ? BindingVerdict::valid
                                                            : BindingVerdict::wrong_token;
}

}  // namespace wsx::server
