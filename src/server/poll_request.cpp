#include "server/poll_request.hpp"

#include <algorithm>
#include <limits>

namespace wsx::server {
namespace {

PollClassification refuse(int status, std::string_view reason) {
  return {std::nullopt, status, reason};
}

// Content-Length (RFC 9112 §6.3): nullopt without one; a malformed value, or several that
// differ, is a framing error (400) reported through `bad`.
std::optional<std::uint64_t> content_length(const proto::HttpHead& head, bool& bad) {
  std::optional<std::uint64_t> length;
  for (const proto::HttpHeader& header : head.headers) {
    if (!proto::iequals(header.name, "Content-Length")) continue;
    for (const std::string_view element : proto::split_list(header.value)) {
      const std::optional<std::uint64_t> value = parse_decimal(element);
      if (!value || (length && *length != *value)) {
        bad = true;
        return std::nullopt;
      }
      length = value;
    }
    if (!length) {
      bad = true;  // "Content-Length: " with no value
      return std::nullopt;
    }
  }
  return length;
}

std::size_t count_parameter(std::string_view query, std::string_view name) noexcept {
  std::size_t count = 0;
  while (!query.empty()) {
    const std::size_t end = query.find('&');
    const std::string_view pair = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view{} : query.substr(end + 1);
    if (pair.substr(0, pair.find('=')) == name) ++count;
  }
  return count;
}

}  // namespace

bool is_poll_query(std::string_view query) noexcept {
  return query_parameter(query, "wsx-poll").has_value();
}

std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

bool is_poll_content_type(std::optional<std::string_view> value) noexcept {
  if (!value) return false;
  std::string_view type = value->substr(0, value->find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return proto::iequals(type, poll_content_type);
}

std::size_t poll_body_limit(std::size_t max_message_size) noexcept {
  constexpr std::size_t floor = 1024 * 1024;
  constexpr std::size_t frame_header = 14;
  if (max_message_size > std::numeric_limits<std::size_t>::max() - frame_header) {
    return std::numeric_limits<std::size_t>::max();
  }
  return std::max(floor, max_message_size + frame_header);
}

PollClassification classify_poll_request(const proto::HttpHead& head, std::string_view query,
                                         std::size_t max_body) {
  const std::optional<std::string_view> mode = query_parameter(query, "wsx-poll");
  if (!mode) return refuse(400, "not a long-polling request");
  // Two values of one thing could make two readers of the request disagree: refuse them.
  for (const std::string_view name : {"wsx-poll", "offset", "ack"}) {
    if (count_parameter(query, name) > 1) return refuse(400, "a query parameter given twice");
  }
  for (const std::string_view name : {"Content-Type", "Wsx-Session", "Wsx-Csrf"}) {
    if (head.count(name) > 1) return refuse(400, "a header given twice");
  }
  PollRequest request;
  if (*mode == "open") {
    request.kind = PollKind::open;
  } else if (*mode == "send") {
    request.kind = PollKind::send;
  } else if (*mode == "recv") {
    request.kind = PollKind::recv;
  } else {
    return refuse(400, "wsx-poll must be open, send or recv");
  }
  const std::string_view method = request.kind == PollKind::recv ? "GET" : "POST";
  if (head.method != method) return refuse(405, "method not allowed");
  bool bad_length = false;
  const std::optional<std::uint64_t> length = content_length(head, bad_length);
  if (bad_length) return refuse(400, "malformed Content-Length");
  if (head.header("Transfer-Encoding")) {
    // A chunked body would be read as the next request: refuse it whole.
    return refuse(411, "send the body with Content-Length");
  }
  if (request.kind != PollKind::recv && !is_poll_content_type(head.header("Content-Type"))) {
    return refuse(415, "Content-Type must be application/x-wsx-poll");
  }
  if (request.kind != PollKind::send && length.value_or(0) != 0) {
    return refuse(400, "this request takes no body");
  }
  if (request.kind == PollKind::send) {
    if (!length) return refuse(411, "send the body with Content-Length");
    if (*length > max_body) return refuse(413, "body larger than the session accepts");
    request.body_size = static_cast<std::size_t>(*length);
  }
  if (request.kind != PollKind::open) {
    const std::string_view name = request.kind == PollKind::send ? "offset" : "ack";
    const std::optional<std::string_view> text = query_parameter(query, name);
    const std::optional<std::uint64_t> position = text ? parse_decimal(*text) : std::nullopt;
    if (!position) {
      return refuse(400, request.kind == PollKind::send ? "offset= must be a decimal number"
                                                        : "ack= must be a decimal number");
    }
    request.position = *position;
    request.session = head.header(poll_session_header).value_or(std::string_view{});
  }
  request.csrf = head.header(poll_csrf_header);
  return {request, 0, {}};
}

}  // namespace wsx::server
