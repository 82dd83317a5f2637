// What a person can do about a failed connection, for `wsx connect` and `wsx bench`: a
// certificate that did not verify names the options that trust or skip it, a TLS handshake
// answered in clear text asks whether the server speaks TLS there. OpenSSL's words alone
// ("certificate verify failed: self-signed certificate") leave the user to find -k in --help.
#pragma once

#include <string>

#include "wsx/client.hpp"

namespace wsx::tool {

// " (...)" to append to the error's message, or "" when there is nothing to add.
std::string client_error_hint(const ClientError& error);

}  // namespace wsx::tool
