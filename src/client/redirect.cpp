#include "redirect.hpp"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

namespace wsx::client_detail {
namespace {

// RFC 3986 §5.2.4: "." and ".." segments removed from an absolute path.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 1;  // after the leading "/"
  bool trailing_slash = false;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    const bool last = end == path.size();
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      trailing_slash = last;
    } else if (segment == ".") {
      trailing_slash = last;
    } else {
      segments.push_back(segment);
      trailing_slash = false;
    }
    start = end + 1;
  }
  std::string out;
  for (const std::string_view segment : segments) {
    out += '/';
    out += segment;
  }
  if (trailing_slash || out.empty()) out += '/';
  return out;
}

struct Reference {
  std::optional<std::string> scheme;
  std::optional<std::string_view> authority;
  std::string_view path;
  std::optional<std::string_view> query;
};

Reference split_reference(std::string_view text) {
  Reference ref;
  if (const std::size_t hash = text.find('#'); hash != std::string_view::npos)
    text = text.substr(0, hash);
  // A scheme is letters, digits, "+", "-", "." up to a ":" that comes before any "/?".
  const std::size_t colon = text.find(':');
  if (colon != std::string_view::npos && colon > 0 && colon < text.find_first_of("/?") &&
      std::isalpha(static_cast<unsigned char>(text[0]))) {
    const std::string_view scheme = text.substr(0, colon);
    if (std::all_of(scheme.begin(), scheme.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
        })) {
      ref.scheme = std::string(scheme);
      for (char& c : *ref.scheme)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      text = text.substr(colon + 1);
    }
  }
  if (text.starts_with("//")) {
    const std::size_t end = std::min(text.find_first_of("/?", 2), text.size());
    ref.authority = text.substr(2, end - 2);
    text = text.substr(end);
  }
  if (const std::size_t question = text.find('?'); question != std::string_view::npos) {
    ref.query = text.substr(question + 1);
    text = text.substr(0, question);
  }
  ref.path = text;
  return ref;
}

}  // namespace

bool is_redirect_status(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

UrlParseResult resolve_location(const Url& base, std::string_view location) {
  if (location.empty()) return UrlParseResult{std::nullopt, "the Location header is empty"};
  const Reference ref = split_reference(location);
  std::string scheme = base.secure ? "wss" : "ws";
  std::string authority = base.authority();
  std::string path;
  std::optional<std::string_view> query = ref.query;
  if (ref.scheme) {
    if (*ref.scheme == "ws" || *ref.scheme == "http") {
      scheme = "ws";
    } else if (*ref.scheme == "wss" || *ref.scheme == "https") {
      scheme = "wss";
    } else {
      return UrlParseResult{std::nullopt,
                            "it leads to a " + *ref.scheme + ": URL, not ws(s):// or http(s)://"};
    }
    if (!ref.authority) return UrlParseResult{std::nullopt, "an absolute Location has no host"};
  }
  if (ref.authority) {
    authority = std::string(*ref.authority);
    path = remove_dot_segments(ref.path.empty() ? "/" : ref.path);
  } else if (ref.path.empty()) {
    path = base.path;
    if (!query && base.has_query) query = base.query;
  } else if (ref.path.front() == '/') {
    path = remove_dot_segments(ref.path);
  } else {  // merge with the base path's directory (RFC 3986 §5.2.3)
    const std::string directory = base.path.substr(0, base.path.rfind('/') + 1);
    path = remove_dot_segments(directory + std::string(ref.path));
  }
  std::string text = scheme + "://" + authority + path;
  if (query) text += "?" + std::string(*query);
  return parse_url(text);
}

bool same_origin(const Url& a, const Url& b) noexcept {
  return a.secure == b.secure && a.host == b.host && a.port == b.port;
}

HeaderList headers_for_next_hop(const HeaderList& headers, bool same_origin) {
  if (same_origin) return headers;
  HeaderList kept;
  for (const auto& header : headers) {
    if (::strcasecmp(header.first.c_str(), "Authorization") == 0 ||
        ::strcasecmp(header.first.c_str(), "Cookie") == 0)
      continue;
    kept.push_back(header);
  }
  return kept;
}

}  // namespace wsx::client_detail
