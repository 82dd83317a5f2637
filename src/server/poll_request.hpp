// Which long-polling request an HTTP request is (docs/long-polling-protocol.md), and whether it
// is well formed, before any session is looked up: pure code over the parsed head and query.
//
// A request is a long-polling one when its query has a `wsx-poll` parameter. Then, in order:
//   400  wsx-poll is not open, send or recv, or appears twice; offset= / ack= missing or not a
//        decimal number; a body on open or recv; Content-Length malformed or contradictory
//   405  open and send are POST, recv is GET (with Allow)
//   411  a body sent with Transfer-Encoding (chunked): we read Content-Length bodies only
//   415  open and send without `Content-Type: application/x-wsx-poll` (no HTML form, and no
//        cross-origin fetch() without a CORS preflight, can send that type)
//   413  a send body over the limit
// The session (Wsx-Session), its Origin and CSRF binding are the owner's checks (poll_binding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "server/query_parameter.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::server {

inline constexpr std::string_view poll_content_type = "application/x-wsx-poll";
inline constexpr std::string_view poll_session_header = "Wsx-Session";
inline constexpr std::string_view poll_csrf_header = "Wsx-Csrf";
inline constexpr std::string_view poll_protocol_header = "Wsx-Protocol";
inline constexpr std::string_view poll_offset_header = "Wsx-Offset";

enum class PollKind : std::uint8_t { open, send, recv };

struct PollRequest {
  PollKind kind = PollKind::open;
  std::uint64_t position = 0;            // send: offset= (first body byte); recv: ack=
  std::size_t body_size = 0;             // send: Content-Length
  std::string_view session;              // Wsx-Session as sent (empty when absent)
  std::optional<std::string_view> csrf;  // Wsx-Csrf
};

struct PollClassification {
  std::optional<PollRequest> request;  // set when well formed
  int status = 0;                      // otherwise: the answer
  std::string_view reason;             // and why, for the body and the access log
};

// True when `query` asks for long polling (has a wsx-poll parameter).
bool is_poll_query(std::string_view query) noexcept;

// Decimal digits only (no sign, no spaces), at most 20 of them, within 64 bits.
std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept;

// True for "application/x-wsx-poll", case-insensitively, with or without parameters after ';'.
bool is_poll_content_type(std::optional<std::string_view> value) noexcept;

// `max_body`: the largest send body accepted (413 above it).
PollClassification classify_poll_request(const proto::HttpHead& head, std::string_view query,
                                         std::size_t max_body);

// The send body limit for a route: its max message size plus the largest frame header, or
// 1 MiB when that is larger (a body may carry several small frames).
std::size_t poll_body_limit(std::size_t max_message_size) noexcept;

}  // namespace wsx::server
