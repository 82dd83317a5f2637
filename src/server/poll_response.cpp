#include "server/poll_response.hpp"

#include <cstdio>

namespace wsx::server {
namespace {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || c == '<' || c == '>' || c == '&') {
      // Control characters must be escaped; markup characters are too, so that no body can
      // look like HTML to anything that ignores the Content-Type.
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string poll_open_json(std::string_view sid, std::string_view protocol,
                           std::chrono::milliseconds poll, std::chrono::milliseconds timeout) {
  std::string out = "{\"sid\":";
  append_json_string(out, sid);
  out += ",\"protocol\":";
  append_json_string(out, protocol);
  out += ",\"poll\":" + std::to_string(poll.count());
  out += ",\"timeout\":" + std::to_string(timeout.count()) + "}";
  return out;
}

std::string poll_error_json(std::string_view reason) {
  std::string out = "{\"error\":";
  append_json_string(out, reason);
  out += "}";
  return out;
}

std::string serialize_poll_response(const PollResponse& response) {
  const int status = response.status >= 200 && response.status <= 599 ? response.status : 500;
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(reason_phrase(status)).append("\r\n");
  out += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  if (status == 405) out += "Allow: GET, POST\r\n";
  if (response.offset) out += "Wsx-Offset: " + std::to_string(*response.offset) + "\r\n";
  out += response.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  if (status != 204) {
    if (!response.content_type.empty()) {
      out.append("Content-Type: ").append(response.content_type).append("\r\n");
    }
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  }
  out += "\r\n";
  if (status != 204)
    out.append(reinterpret_cast<const char*>(response.body.data()), response.body.size());
  return out;
}

}  // namespace wsx::server
