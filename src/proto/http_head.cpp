// Strict, incremental HTTP/1.1 head parser (RFC 9112 §2-§5) and header lookups (RFC 9110 §5).
#include "wsx/proto/http_head.hpp"

#include <algorithm>
#include <cstring>

#include "http_chars.hpp"

namespace wsx::proto {

using http_chars::is_field_char;
using http_chars::is_obs_text;
using http_chars::is_ows;
using http_chars::is_tchar;
using http_chars::is_vchar;
using http_chars::trim_ows;

std::string_view describe(HttpError error) noexcept {
  switch (error) {
    case HttpError::none:
      return "no error";
    case HttpError::head_too_large:
      return "HTTP head larger than the configured maximum";
    case HttpError::too_many_headers:
      return "more header fields than the configured maximum";
    case HttpError::bad_request_line:
      return "malformed request line (RFC 9112 §3)";
    case HttpError::bad_status_line:
      return "malformed status line (RFC 9112 §4)";
    case HttpError::bad_header:
      return "malformed header field line (RFC 9112 §5)";
    case HttpError::bad_line_ending:
      return "line not ended by CRLF (RFC 9112 §2.2)";
    case HttpError::unsupported_version:
      return "HTTP version is not HTTP/1.x";
  }
  return "unknown HTTP error";
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  // Names usually come spelled as the RFCs spell them: one memcmp settles those.
  if (a.size() != 0 && std::memcmp(a.data(), b.data(), a.size()) == 0) return true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (http_chars::to_lower(a[i]) != http_chars::to_lower(b[i])) return false;
  }
  return true;
}

bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

namespace {

// Calls f(element) for each non-empty, trimmed element of a comma-separated list; stops early
// (returning true) when f returns true.
template <typename F>
bool any_list_element(std::string_view list, F&& f) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && f(element)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

enum class VersionMatch { http1, other_http, malformed };

// HTTP-version = "HTTP/" DIGIT "." DIGIT; anything else after "HTTP/" is a version we don't speak.
VersionMatch match_version(std::string_view text, int& major, int& minor) {
  constexpr std::string_view prefix = "HTTP/";
  if (text.substr(0, prefix.size()) != prefix) return VersionMatch::malformed;
  const std::string_view number = text.substr(prefix.size());
  if (number.size() != 3 || number[0] != '1' || number[1] != '.' || number[2] < '0' ||
      number[2] > '9') {
    return VersionMatch::other_http;
  }
  major = 1;
  minor = number[2] - '0';
  return VersionMatch::http1;
}

HttpError parse_request_line(std::string_view line, HttpHead& head) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return HttpError::bad_request_line;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view rest = line.substr(sp1 + 1);
  const std::size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return HttpError::bad_request_line;
  const std::string_view target = rest.substr(0, sp2);
  if (!is_token(method) || target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        return is_vchar(static_cast<unsigned char>(c));
      })) {
    return HttpError::bad_request_line;
  }
  switch (match_version(rest.substr(sp2 + 1), head.version_major, head.version_minor)) {
    case VersionMatch::malformed:
      return HttpError::bad_request_line;
    case VersionMatch::other_http:
      return HttpError::unsupported_version;
    case VersionMatch::http1:
      break;
  }
  head.method = method;
  head.target = target;
  return HttpError::none;
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ]. The SP before an empty reason
// is accepted missing: the reason carries no meaning (RFC 9112 §4) and some servers drop it.
HttpError parse_status_line(std::string_view line, HttpHead& head) {
  const std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos) {
    int major = 0;
    int minor = 0;
    return match_version(line, major, minor) == VersionMatch::other_http
               ? HttpError::unsupported_version
               : HttpError::bad_status_line;
  }
  switch (match_version(line.substr(0, sp), head.version_major, head.version_minor)) {
    case VersionMatch::malformed:
      return HttpError::bad_status_line;
    case VersionMatch::other_http:
      return HttpError::unsupported_version;
    case VersionMatch::http1:
      break;
  }
  const std::string_view rest = line.substr(sp + 1);
  if (rest.size() < 3) return HttpError::bad_status_line;
  int status = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return HttpError::bad_status_line;
    status = status * 10 + (rest[i] - '0');
  }
  if (status < 100 || status > 599) return HttpError::bad_status_line;  // RFC 9110 §15
  std::string_view reason;
  if (rest.size() > 3) {
    if (rest[3] != ' ') return HttpError::bad_status_line;
    reason = rest.substr(4);
    if (!std::all_of(reason.begin(), reason.end(),
                     [](char c) { return is_field_char(static_cast<unsigned char>(c)); })) {
      return HttpError::bad_status_line;
    }
  }
  head.status = status;
  head.reason = reason;
  return HttpError::none;
}

// field-line = field-name ":" OWS field-value OWS
HttpError parse_field_line(std::string_view line, HttpHeader& out) {
  // A line starting with whitespace is obs-fold (RFC 9112 §5.2), or whitespace between the
  // start-line and the first field (§2.2): both rejected.
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return HttpError::bad_header;
  const std::string_view name = line.substr(0, colon);
  // is_token also refuses whitespace between the name and the colon (RFC 9112 §5.1).
  if (!is_token(name)) return HttpError::bad_header;
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (!std::all_of(value.begin(), value.end(),
                   [](char c) { return is_field_char(static_cast<unsigned char>(c)); })) {
    return HttpError::bad_header;
  }
  out.name = name;
  out.value = value;
  return HttpError::none;
}

}  // namespace

std::optional<std::string_view> HttpHead::header(std::string_view name) const noexcept {
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::size_t HttpHead::count(std::string_view name) const noexcept {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const HttpHeader& h) { return iequals(h.name, name); }));
}

std::string HttpHead::combined(std::string_view name) const {
  std::string out;
  bool first = true;
  for (const HttpHeader& h : headers) {
    if (!iequals(h.name, name)) continue;
    if (!first) out += ", ";
    out += h.value;
    first = false;
  }
  return out;
}

bool HttpHead::has_token(std::string_view name, std::string_view token) const noexcept {
  for (const HttpHeader& h : headers) {
    if (!iequals(h.name, name)) continue;
    if (any_list_element(h.value, [&](std::string_view e) { return iequals(e, token); })) {
      return true;
    }
  }
  return false;
}

std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> out;
  any_list_element(value, [&](std::string_view e) {
    out.push_back(e);
    return false;
  });
  return out;
}

void HttpHeadParser::reset() {
  head_ = HttpHead{};
  scanned_ = 0;
  head_size_ = 0;
  error_ = HttpError::none;
}

HttpParseStatus HttpHeadParser::fail(HttpError error) {
  error_ = error;
  head_.headers.clear();
  return HttpParseStatus::error;
}

HttpParseStatus HttpHeadParser::parse(const char* data, std::size_t size) {
  if (error_ != HttpError::none) return HttpParseStatus::error;
  if (head_size_ != 0) return HttpParseStatus::complete;

  // The head may not be longer than max_head_size, so there is no need to look further.
  const std::size_t limit = std::min(size, limits_.max_head_size);
  // Resume one byte early: a CR that ended the previous buffer could not be checked against the
  // byte after it. Looking back from an LF needs no resumption: the whole buffer is passed again.
  // Nothing at or past `limit` is judged, so the verdict does not depend on how bytes arrive.
  // Line by line (memchr finds the LF, then the line before it must hold no CR but its last
  // byte): every CR must be followed by LF and every LF preceded by CR.
  std::size_t i = scanned_ > 0 ? scanned_ - 1 : 0;
  while (i < limit) {
    const auto* lf = static_cast<const char*>(std::memchr(data + i, '\n', limit - i));
    if (lf == nullptr) {
      // No LF yet: a CR may only be the last byte seen (its LF may still come).
      const auto* cr = static_cast<const char*>(std::memchr(data + i, '\r', limit - i));
      if (cr != nullptr && cr + 1 < data + limit) return fail(HttpError::bad_line_ending);
      break;
    }
    const auto at = static_cast<std::size_t>(lf - data);
    if (at == 0 || data[at - 1] != '\r') return fail(HttpError::bad_line_ending);
    if (at - 1 > i && std::memchr(data + i, '\r', at - 1 - i) != nullptr) {
      return fail(HttpError::bad_line_ending);  // a CR before the line's end, not followed by LF
    }
    if (at >= 3 && data[at - 2] == '\n') {  // data[at - 3] is then '\r', checked with that LF
      scanned_ = at + 1;
      return parse_lines(std::string_view(data, at + 1));
    }
    i = at + 1;
  }
  scanned_ = std::max(scanned_, limit);
  if (size >= limits_.max_head_size) return fail(HttpError::head_too_large);
  return HttpParseStatus::need_more;
}

// `head` is the whole head, every line ended by CRLF (checked by the scan), the last one empty.
HttpParseStatus HttpHeadParser::parse_lines(std::string_view head) {
  std::size_t eol = head.find("\r\n");
  const std::string_view start_line = head.substr(0, eol);
  const HttpError start_error = kind_ == HttpKind::request ? parse_request_line(start_line, head_)
                                                           : parse_status_line(start_line, head_);
  if (start_error != HttpError::none) return fail(start_error);

  // One allocation for the fields (a vector grown field by field reallocates 4 times for a
  // handshake's 5 to 8 fields): one line each, between the start line and the empty one.
  const auto lines = static_cast<std::size_t>(std::count(head.begin(), head.end(), '\n'));
  head_.headers.reserve(std::min(lines - 2, limits_.max_headers));
  std::size_t pos = eol + 2;
  while (true) {
    eol = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, eol - pos);
    if (line.empty()) break;
    if (head_.headers.size() == limits_.max_headers) return fail(HttpError::too_many_headers);
    HttpHeader field;
    const HttpError field_error = parse_field_line(line, field);
    if (field_error != HttpError::none) return fail(field_error);
    head_.headers.push_back(field);
    pos = eol + 2;
  }
  head_size_ = head.size();
  return HttpParseStatus::complete;
}

}  // namespace wsx::proto
