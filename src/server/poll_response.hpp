// The HTTP answers of the long-polling transport (docs/long-polling-protocol.md): never
// sniffable as HTML or script (a fixed Content-Type, X-Content-Type-Options: nosniff), never
// cached, and nothing of the request reflected in a body.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wsx::server {

// {"sid":"...","protocol":"...","poll":25000,"timeout":60000}
std::string poll_open_json(std::string_view sid, std::string_view protocol,
                           std::chrono::milliseconds poll, std::chrono::milliseconds timeout);

// {"error":"..."}: `reason` is one of the server's own fixed texts, escaped all the same.
std::string poll_error_json(std::string_view reason);

struct PollResponse {
  int status = 200;
  std::string_view content_type;        // empty: none (204)
  std::optional<std::uint64_t> offset;  // Wsx-Offset
  std::span<const std::uint8_t> body;
  bool keep_alive = true;  // Connection: keep-alive, else close
};

// The whole response, head and body. 204 carries no body and no Content-Length.
std::string serialize_poll_response(const PollResponse& response);

}  // namespace wsx::server
