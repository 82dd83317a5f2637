// One query parameter of a request target, for the checks that read one (the CSRF token's
// csrf=, the long-polling wsx-poll=).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace wsx::server {

// The value of the first query parameter `name` ("a=1&b=2"), not decoded; nullopt without one.
inline std::optional<std::string_view> query_parameter(std::string_view query,
                                                       std::string_view name) noexcept {
  while (!query.empty()) {
    const std::size_t end = query.find('&');
    const std::string_view pair = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view{} : query.substr(end + 1);
    const std::size_t equals = pair.find('=');
    if (pair.substr(0, equals) != name) continue;
    return equals == std::string_view::npos ? pair.substr(pair.size()) : pair.substr(equals + 1);
  }
  return std::nullopt;
}

}  // namespace wsx::server
