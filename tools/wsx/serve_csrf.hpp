// `wsx serve --csrf`: /echo and /chat require a CSRF token (wsx/csrf.hpp). The console page
// gets one in a <meta> tag, bound to a session cookie the server sets (HttpOnly, SameSite=Strict,
// and Secure with the __Host- prefix over https), so the console served here connects while a
// page of another origin can neither read the token nor send the cookie.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "wsx/csrf.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/server.hpp"

namespace wsx::tool {

// Where the console's page finds its token.
inline constexpr std::string_view csrf_meta_name = "wsx-csrf-token";

struct ServeCsrf {
  std::shared_ptr<CsrfTokens> tokens;
  std::string cookie_name;  // "wsx_session", "__Host-wsx_session" over https
  bool secure = false;      // https: the cookie is Secure
};

// The secret in `secret_file` (its bytes, one trailing newline dropped), or one generated now
// when it is empty. nullopt, with `error` saying why, for a file that cannot be read or holds
// fewer than 32 bytes; `warning` is set for a file others may read.
std::optional<ServeCsrf> make_serve_csrf(const std::string& secret_file,
                                         std::chrono::seconds lifetime, bool secure,
                                         std::string& error, std::string& warning);

// Adds the token to the console page (`page`: its HTML) for the request's session, and the
// session cookie when the request has none (or one that is not ours in form).
void add_csrf_token(proto::HttpResponse& page, const HttpRequest& request, const ServeCsrf& csrf);

}  // namespace wsx::tool
