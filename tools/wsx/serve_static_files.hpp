// `wsx serve --static DIR`: plain GET/HEAD requests answered with files under DIR.
//
// The request path is percent-decoded and split into segments; "..", segments starting with a
// dot (hidden files), NUL bytes and backslashes are refused, and the file's real path (symbolic
// links resolved) must still lie under the root's. A directory serves its index.html.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "wsx/proto/handshake.hpp"

namespace wsx::tool {

// Larger files are refused (500) rather than read into memory.
constexpr std::size_t max_static_file_size = 64 * 1024 * 1024;

// "style.css" → "text/css; charset=utf-8"; unknown extensions → application/octet-stream.
std::string_view content_type_for(std::string_view file_name);

class StaticFiles {
 public:
  // `root` must be an existing directory; ok() tells.
  explicit StaticFiles(const std::string& root);
  bool ok() const noexcept { return !prefix_.empty(); }

  // The answer for `path` (already split from the query), or nullopt when no file is there —
  // the caller decides what a miss becomes (another page, or 404).
  std::optional<proto::HttpResponse> lookup(std::string_view path) const;

 private:
  std::string prefix_;  // the root's real path with a trailing slash; empty if unusable
};

}  // namespace wsx::tool
