// Test helper: parse a whole HTTP head from a string. The head's views point into the text, so
// the result owns a heap copy that stays put when the result is moved.
#pragma once

#include <memory>
#include <string>

#include "wsx/proto/http_head.hpp"

namespace wsx::proto::testing {

struct ParsedHead {
  std::shared_ptr<const std::string> text;
  HttpParseStatus status = HttpParseStatus::need_more;
  HttpError error = HttpError::none;
  HttpHead head;
  std::size_t head_size = 0;
};

inline ParsedHead parse_head(HttpKind kind, const std::string& text, HttpLimits limits = {}) {
  ParsedHead parsed;
  parsed.text = std::make_shared<const std::string>(text);
  HttpHeadParser parser(kind, limits);
  parsed.status = parser.parse(parsed.text->data(), parsed.text->size());
  parsed.error = parser.error();
  parsed.head = parser.head();
  parsed.head_size = parser.head_size();
  return parsed;
}

inline ParsedHead parse_request(const std::string& text) {
  return parse_head(HttpKind::request, text);
}

inline ParsedHead parse_response(const std::string& text) {
  return parse_head(HttpKind::response, text);
}

}  // namespace wsx::proto::testing
