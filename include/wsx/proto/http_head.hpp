// Strict, incremental HTTP/1.1 message-head parser (RFC 9112) for the opening handshake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wsx/export.hpp"

namespace wsx::proto {

struct WSX_API HttpHeader {
  std::string_view name;   // as sent; compare case-insensitively
  std::string_view value;  // leading/trailing whitespace removed
};

struct WSX_API HttpLimits {
  std::size_t max_head_size = 8192;  // bytes up to and including the blank line
  std::size_t max_headers = 64;
};

enum class HttpParseStatus : std::uint8_t { complete, need_more, error };

enum class HttpError : std::uint8_t {
  none,
  head_too_large,    // → 431
  too_many_headers,  // → 431
  bad_request_line,  // → 400
  bad_status_line,
  bad_header,           // malformed field line, obsolete line folding, bad name characters
  bad_line_ending,      // a bare LF or CR: only CRLF ends a line
  unsupported_version,  // not HTTP/1.x
};

WSX_API std::string_view describe(HttpError error) noexcept;

// A parsed request or response head. All views point into the caller's buffer, which must
// outlive the head and must not move.
struct WSX_API HttpHead {
  // Request line (requests only)
  std::string_view method;
  std::string_view target;
  // Status line (responses only)
  int status = 0;
  std::string_view reason;
  // Both
  int version_major = 1;
  int version_minor = 1;
  std::vector<HttpHeader> headers;
  // HTTP/2 requests (version 2.0), built from the HEADERS frame rather than parsed: the
  // :protocol pseudo-header of an extended CONNECT (RFC 8441 §4), empty otherwise. The
  // :authority is the Host header, :path the target, :method the method.
  std::string_view protocol;

  // First value of a header, case-insensitive name.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  std::size_t count(std::string_view name) const noexcept;
  // All values of a repeated header joined with ", " (RFC 9110 §5.3).
  std::string combined(std::string_view name) const;
  // True if `token` appears (case-insensitively) in the comma-separated lists of all values of
  // header `name`, e.g. has_token("Connection", "upgrade") for "Connection: keep-alive, Upgrade".
  bool has_token(std::string_view name, std::string_view token) const noexcept;
};

enum class HttpKind : std::uint8_t { request, response };

// Feed it the whole buffer received so far, as often as bytes arrive; it scans only the bytes
// it has not seen yet for the end of the head, so a head delivered byte by byte costs linear
// time. On `complete`, head() is filled and head_size() bytes of the buffer belong to the head
// (anything after them is already WebSocket data).
//
// Strict by design: only CRLF ends a line (a bare CR or LF is an error as soon as it is seen);
// no empty line before the start line (RFC 9112 §2.2 allows skipping one; we don't); field names
// are tokens with no whitespace before the colon; obs-fold and control characters in values are
// errors. One leniency: a status line may omit the SP before an empty reason phrase. Errors are
// final until reset(). The verdict never depends on how the bytes were split into calls.
class WSX_API HttpHeadParser {
 public:
  explicit HttpHeadParser(HttpKind kind, HttpLimits limits = {}) : kind_(kind), limits_(limits) {}

  HttpParseStatus parse(const char* data, std::size_t size);

  const HttpHead& head() const noexcept { return head_; }
  HttpHead& head() noexcept { return head_; }
  std::size_t head_size() const noexcept { return head_size_; }
  HttpError error() const noexcept { return error_; }
  // How many bytes of the buffer have been searched for the end of the head; the next parse()
  // starts there (one byte earlier, to judge a CR that was last), which keeps parsing linear.
  std::size_t scanned() const noexcept { return scanned_; }
  void reset();

 private:
  HttpParseStatus fail(HttpError error);
  HttpParseStatus parse_lines(std::string_view head);

  HttpKind kind_;
  HttpLimits limits_;
  HttpHead head_;
  std::size_t scanned_ = 0;  // bytes already searched for CRLFCRLF
  std::size_t head_size_ = 0;
  HttpError error_ = HttpError::none;
};

// Splits a comma-separated list (RFC 9110 §5.6.1), trimming whitespace and skipping empty
// elements. Meant for lists of tokens (Connection, Upgrade, Sec-WebSocket-Protocol): a comma
// inside a quoted-string is not special here.
WSX_API std::vector<std::string_view> split_list(std::string_view value);

WSX_API bool iequals(std::string_view a, std::string_view b) noexcept;

// True if `s` is a non-empty RFC 9110 §5.6.2 token (1*tchar).
WSX_API bool is_token(std::string_view s) noexcept;

// One element of a Sec-WebSocket-Extensions list (RFC 6455 §9.1):
//   extension = token *( ";" param ), param = token [ "=" (token | quoted-string) ]
struct WSX_API ExtensionParam {
  std::string name;
  std::optional<std::string> value;  // unquoted; nullopt for a parameter without "="
};
struct WSX_API ExtensionOffer {
  std::string name;
  std::vector<ExtensionParam> params;
};

// Parses a whole Sec-WebSocket-Extensions value (or several joined with ", "). Returns nullopt
// if the syntax is invalid (then the header as a whole is invalid), including a quoted
// parameter value that is not a token once unquoted (§9.1). Empty list elements are skipped
// (RFC 9110 §5.6.1), so "" yields an empty list.
WSX_API std::optional<std::vector<ExtensionOffer>> parse_extensions(std::string_view value);
// "name; param; param=value". A value that is not a token is written as a quoted-string (with
// '"' and '\\' escaped, control characters other than HTAB dropped) and characters that cannot
// be in a token are dropped from names, so the result can never break out of its header line.
WSX_API std::string format_extension(const ExtensionOffer& ext);

}  // namespace wsx::proto
