// What a person can do about a failed connection, for `wsx connect` and `wsx bench`: a
// certificate that did not verify names the options that trust or skip it, a TLS handshake
// answered in clear text asks whether the server speaks TLS there, a 2xx answer to the upgrade
// (a page) whether the URL names a WebSocket endpoint at all. OpenSSL's words alone
// ("certificate verify failed: self-signed certificate") leave the user to find -k in --help.
#pragma once

#include <string>

#include "wsx/client.hpp"

namespace wsx::tool {

// " (...)" to append to the error's message, or "" when there is nothing to add.
std::string client_error_hint(const ClientError& error);

}  // namespace wsx::tool
