// Files compiled into the `wsx` binary (tools/wsx/console/* and js/wsx.js, see embed_files.cmake).
#pragma once

#include <span>
#include <string_view>

namespace wsx::tool {

struct EmbeddedFile {
  std::string_view name;  // relative to tools/wsx/console: "index.html", "console.js", "wsx.js"
  std::string_view bytes;
};

std::span<const EmbeddedFile> embedded_files() noexcept;

}  // namespace wsx::tool
