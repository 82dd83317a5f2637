#include "serve_static_files.hpp"

#include <sys/stat.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <utility>

#include "wsx/proto/http_head.hpp"
#include "wsx/url.hpp"

namespace wsx::tool {
namespace {

// "/a%20b/c.txt" → "a b/c.txt" relative to the root; nullopt for anything unsafe.
std::optional<std::string> safe_relative_path(std::string_view path) {
  const std::optional<std::string> decoded_path = percent_decode(path);
  if (!decoded_path) return std::nullopt;
  const std::string& decoded = *decoded_path;
  std::string relative;
  std::size_t start = 0;
  while (start <= decoded.size()) {
    std::size_t end = decoded.find('/', start);
    if (end == std::string::npos) end = decoded.size();
    const std::string_view segment = std::string_view(decoded).substr(start, end - start);
    start = end + 1;
    if (segment.empty()) continue;
    if (segment.starts_with('.') || segment.find('\0') != std::string_view::npos ||
        segment.find('\\') != std::string_view::npos) {
      return std::nullopt;  // "..", "." and hidden files alike
    }
    if (!relative.empty()) relative += '/';
    relative.append(segment);
  }
  return relative;
}

std::optional<std::string> real_path(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return std::nullopt;
  return std::string(resolved);
}

}  // namespace

std::string_view content_type_for(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 22> types{{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".xml", "application/xml"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".wasm", "application/wasm"},
      {".pdf", "application/pdf"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".csv", "text/csv; charset=utf-8"},
  }};
  const std::size_t dot = file_name.rfind('.');
  if (dot != std::string_view::npos && file_name.find('/', dot) == std::string_view::npos) {
    const std::string_view extension = file_name.substr(dot);
    for (const auto& [known, type] : types) {
      if (proto::iequals(known, extension)) return type;
    }
  }
  return "application/octet-stream";
}

StaticFiles::StaticFiles(const std::string& root) {
  struct stat info {};
  const std::optional<std::string> resolved = real_path(root);
  if (resolved && ::stat(resolved->c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    prefix_ = resolved->ends_with('/') ? *resolved : *resolved + "/";
  }
}

std::optional<proto::HttpResponse> StaticFiles::lookup(std::string_view path) const {
  const std::optional<std::string> relative = safe_relative_path(path);
  if (!relative) return std::nullopt;
  std::string candidate = prefix_ + *relative;
  struct stat info {};
  if (::stat(candidate.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    candidate += "/index.html";
  }
  const std::optional<std::string> resolved = real_path(candidate);
  // Symbolic links may point anywhere: the file itself must lie under the root.
  if (!resolved || !resolved->starts_with(prefix_)) return std::nullopt;
  if (::stat(resolved->c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
  proto::HttpResponse response;
  if (static_cast<std::size_t>(info.st_size) > max_static_file_size) {
    response.status = 500;
    response.body = "file too large to serve\n";
    return response;
  }
  std::ifstream file(*resolved, std::ios::binary);
  if (!file) return std::nullopt;
  response.body.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  response.status = 200;
  response.headers.emplace_back("Content-Type", std::string(content_type_for(*resolved)));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Cache-Control", "no-cache");
  return response;
}

}  // namespace wsx::tool
