// The Sec-WebSocket-Extensions grammar (RFC 6455 §9.1) on top of RFC 9110 lists.
#include <string>

#include "http_chars.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::proto {

namespace {

using http_chars::is_obs_text;
using http_chars::is_ows;
using http_chars::is_tchar;
using http_chars::is_vchar;

// A read position over the header value; every read is bounds-checked.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const noexcept { return pos_ == text_.size(); }
  bool at(char c) const noexcept { return pos_ < text_.size() && text_[pos_] == c; }
  void advance() noexcept { ++pos_; }

  void skip_ows() noexcept {
    while (pos_ < text_.size() && is_ows(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  // 1*tchar, or empty if the next character is not a tchar.
  std::string_view token() noexcept {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && is_tchar(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4), unescaped.
  std::optional<std::string> quoted_string() {
    if (!at('"')) return std::nullopt;
    ++pos_;
    std::string out;
    while (pos_ < text_.size()) {
      const auto c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return out;
      if (c == '\\') {
        if (pos_ == text_.size()) return std::nullopt;
        const auto escaped = static_cast<unsigned char>(text_[pos_++]);
        if (!is_ows(escaped) && !is_vchar(escaped) && !is_obs_text(escaped)) return std::nullopt;
        out.push_back(static_cast<char>(escaped));
      } else if (is_ows(c) || is_vchar(c) || is_obs_text(c)) {
        out.push_back(static_cast<char>(c));
      } else {
        return std::nullopt;  // a control character
      }
    }
    return std::nullopt;  // no closing quote
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// extension-param = token [ "=" (token | quoted-string) ], OWS allowed around "=" (RFC 6455
// uses RFC 2616's implied linear whitespace).
std::optional<ExtensionParam> parse_param(Cursor& cursor) {
  ExtensionParam param;
  param.name = std::string(cursor.token());
  if (param.name.empty()) return std::nullopt;
  cursor.skip_ows();
  if (!cursor.at('=')) return param;
  cursor.advance();
  cursor.skip_ows();
  if (cursor.at('"')) {
    std::optional<std::string> value = cursor.quoted_string();
    // §9.1: a quoted value must still be a token once unquoted.
    if (!value || !is_token(*value)) return std::nullopt;
    param.value = std::move(value);
  } else {
    const std::string_view value = cursor.token();
    if (value.empty()) return std::nullopt;
    param.value = std::string(value);
  }
  cursor.skip_ows();
  return param;
}

void append_quoted(std::string& out, std::string_view value) {
  out += '"';
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (is_ows(u) || is_vchar(u) || is_obs_text(u)) {
      out += c;
    }
  }
  out += '"';
}

void append_token_chars(std::string& out, std::string_view name) {
  for (const char c : name) {
    if (is_tchar(static_cast<unsigned char>(c))) out += c;
  }
}

}  // namespace

std::optional<std::vector<ExtensionOffer>> parse_extensions(std::string_view value) {
  std::vector<ExtensionOffer> offers;
  Cursor cursor(value);
  while (true) {
    cursor.skip_ows();
    if (cursor.done()) return offers;
    if (cursor.at(',')) {  // an empty list element (RFC 9110 §5.6.1)
      cursor.advance();
      continue;
    }
    ExtensionOffer offer;
    offer.name = std::string(cursor.token());
    if (offer.name.empty()) return std::nullopt;
    cursor.skip_ows();
    while (cursor.at(';')) {
      cursor.advance();
      cursor.skip_ows();
      std::optional<ExtensionParam> param = parse_param(cursor);
      if (!param) return std::nullopt;
      offer.params.push_back(std::move(*param));
    }
    offers.push_back(std::move(offer));
    if (cursor.done()) return offers;
    if (!cursor.at(',')) return std::nullopt;
    cursor.advance();
  }
}

std::string format_extension(const ExtensionOffer& ext) {
  std::string out;
  append_token_chars(out, ext.name);
  for (const ExtensionParam& param : ext.params) {
    out += "; ";
    append_token_chars(out, param.name);
    if (!param.value) continue;
    out += '=';
    if (is_token(*param.value)) {
      out += *param.value;
    } else {
      append_quoted(out, *param.value);
    }
  }
  return out;
}

}  // namespace wsx::proto
