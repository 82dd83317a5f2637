#include "server/request_cookies.hpp"

#include <strings.h>

#include "wsx/server.hpp"

namespace wsx::server {
namespace {

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool is_cookie_header(std::string_view name) noexcept {
  return name.size() == 6 && strncasecmp(name.data(), "Cookie", 6) == 0;
}

}  // namespace

std::optional<std::string_view> find_cookie(std::string_view cookie_header,
                                            std::string_view name) noexcept {
  if (name.empty()) return std::nullopt;
  while (!cookie_header.empty()) {
    const std::size_t end = cookie_header.find(';');
    const std::string_view pair = trim(cookie_header.substr(0, end));
    cookie_header =
        end == std::string_view::npos ? std::string_view{} : cookie_header.substr(end + 1);
    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos || trim(pair.substr(0, equals)) != name) continue;
    std::string_view value = trim(pair.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return std::nullopt;
}

std::optional<std::string_view> find_cookie(const proto::HttpHead& head,
                                            std::string_view name) noexcept {
  for (const proto::HttpHeader& header : head.headers) {
    if (!is_cookie_header(header.name)) continue;
    if (const std::optional<std::string_view> value = find_cookie(header.value, name)) return value;
  }
  return std::nullopt;
}

}  // namespace wsx::server

namespace wsx {

std::optional<std::string_view> UpgradeRequest::cookie(std::string_view name) const noexcept {
  return head != nullptr ? server::find_cookie(*head, name) : std::nullopt;
}

std::optional<std::string_view> HttpRequest::cookie(std::string_view name) const noexcept {
  return head != nullptr ? server::find_cookie(*head, name) : std::nullopt;
}

}  // namespace wsx
