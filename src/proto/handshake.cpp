// Sec-WebSocket-Accept (RFC 6455 §4.2.2) and the text helpers both handshake halves share.
#include "wsx/proto/handshake.hpp"

#include <algorithm>
#include <array>
#include <span>

#include "handshake_text.hpp"
#include "http_chars.hpp"
#include "sha1.hpp"

namespace wsx::proto {

namespace handshake_text {

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 421:
      return "Misdirected Request";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      break;
  }
  switch (status / 100) {
    case 1:
      return "Informational";
    case 2:
      return "Success";
    case 3:
      return "Redirection";
    case 4:
      return "Client Error";
    default:
      return "Server Error";
  }
}

bool is_safe_value(std::string_view value) noexcept {
  return std::all_of(value.begin(), value.end(), [](char c) {
    return http_chars::is_field_char(static_cast<unsigned char>(c));
  });
}

bool is_safe_header(std::string_view name, std::string_view value) noexcept {
  return is_token(name) && is_safe_value(value);
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(http_chars::trim_ows(value));
  out.append("\r\n");
}

void base64_into(const std::uint8_t* data, std::size_t size, char* to) noexcept {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const std::uint32_t group = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) |
                                std::uint32_t{data[i + 2]};
    *to++ = alphabet[group >> 18];
    *to++ = alphabet[(group >> 12) & 63];
    *to++ = alphabet[(group >> 6) & 63];
    *to++ = alphabet[group & 63];
  }
  if (i < size) {  // one or two bytes left: padded with '=' (RFC 4648 §4)
    const bool two = i + 1 < size;
    const std::uint32_t group =
        (std::uint32_t{data[i]} << 16) | (two ? std::uint32_t{data[i + 1]} << 8 : 0);
    *to++ = alphabet[group >> 18];
    *to++ = alphabet[(group >> 12) & 63];
    *to++ = two ? alphabet[(group >> 6) & 63] : '=';
    *to = '=';
  }
}

std::string base64(const std::uint8_t* data, std::size_t size) {
  // Sized once and written by index: a push_back per character costs a capacity check each.
  std::string out(4 * ((size + 2) / 3), '\0');
  base64_into(data, size, out.data());
  return out;
}

bool is_valid_key(std::string_view key) noexcept {
  // 16 bytes = 5 groups of 3 plus 1 byte: 22 alphabet characters and "==". The 4 unused bits
  // of the last character are not required to be zero (RFC 4648 §3.5 leaves that to decoders).
  constexpr std::size_t encoded_size = 24;
  if (key.size() != encoded_size || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

}  // namespace handshake_text

namespace handshake_text {

void accept_key_into(std::string_view client_key, char (&out)[accept_key_size]) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  // A key is 24 characters (is_valid_key); longer ones (from other callers) take the heap.
  std::array<std::uint8_t, 24 + guid.size()> small;
  std::string large;
  std::span<std::uint8_t> input;
  if (client_key.size() <= small.size() - guid.size()) {
    input = std::span<std::uint8_t>(small).first(client_key.size() + guid.size());
  } else {
    large.resize(client_key.size() + guid.size());
    input = {reinterpret_cast<std::uint8_t*>(large.data()), large.size()};
  }
  std::copy(client_key.begin(), client_key.end(), input.begin());
  std::copy(guid.begin(), guid.end(),
            input.begin() + static_cast<std::ptrdiff_t>(client_key.size()));
  const Sha1Digest digest = sha1(input);
  static_assert(accept_key_size == 4 * ((std::tuple_size_v<Sha1Digest> + 2) / 3));
  base64_into(digest.data(), digest.size(), out);
}

}  // namespace handshake_text

std::string accept_key(std::string_view client_key) {
  char key[handshake_text::accept_key_size];
  handshake_text::accept_key_into(client_key, key);
  return std::string(key, sizeof key);
}

}  // namespace wsx::proto
