#include "serve_web_console.hpp"

#include <string>

#include "embedded_files.hpp"
#include "serve_static_files.hpp"

namespace wsx::tool {

std::optional<proto::HttpResponse> web_console_response(std::string_view path) {
  const std::string_view name = path == "/" ? std::string_view("index.html") : path.substr(1);
  if (!path.starts_with('/') || name.empty()) return std::nullopt;
  for (const EmbeddedFile& file : embedded_files()) {
    if (file.name != name) continue;
    proto::HttpResponse response;
    response.status = 200;
    response.body = std::string(file.bytes);
    response.headers.emplace_back("Content-Type", std::string(content_type_for(file.name)));
    response.headers.emplace_back("Content-Security-Policy", std::string(web_console_csp));
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Cache-Control", "no-cache");
    return response;
  }
  return std::nullopt;
}

}  // namespace wsx::tool
