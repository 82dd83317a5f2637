// The environment of a `wsx serve --exec` process: the server's own environment plus the
// request's details as CGI (RFC 3875) and websocketd name them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wsx/server.hpp"

namespace wsx::tool {

struct ExecSite {
  std::string route;        // the --path, e.g. "/p": SCRIPT_NAME
  bool tls = false;         // HTTPS=on
  std::string server_port;  // the port the server listens on (first --listen)
  std::string version;      // SERVER_SOFTWARE=wsx/VERSION
};

// "NAME=value" strings: `inherited` (the server's environ) without any HTTP_* variable or one
// this function sets, then REMOTE_ADDR, REMOTE_PORT, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL,
// SERVER_SOFTWARE, GATEWAY_INTERFACE, REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME, PATH_INFO,
// QUERY_STRING, HTTPS and one HTTP_NAME per request header. Header names become upper case
// with '-' as '_'; a name with '_' or any character other than letters, digits and '-' is
// dropped (it could pose as another header), and so is Proxy (HTTP_PROXY would redirect the
// process's own HTTP clients: "httpoxy"). Control characters in values become '?'.
std::vector<std::string> exec_environment(const UpgradeRequest& request, const ExecSite& site,
                                          const char* const* inherited);

}  // namespace wsx::tool
