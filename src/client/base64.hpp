// Base64 (RFC 4648 §4, with padding) for Basic credentials.
#pragma once

#include <string>
#include <string_view>

namespace wsx::client_detail {

std::string base64_encode(std::string_view bytes);

}  // namespace wsx::client_detail
