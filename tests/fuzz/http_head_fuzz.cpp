// Fuzzes the HTTP head parser as request and response, one-shot and fed in random-sized chunks
// (the two must agree), and the header-list helpers on every parsed value.
// Input: one selector byte, then the bytes on the wire.
//   bit 0: response (else request); bit 1: small limits; bits 2-7: seed of the chunk sizes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "wsx/proto/http_head.hpp"

using namespace wsx::proto;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void exercise_lists(const HttpHead& head) {
  for (const HttpHeader& h : head.headers) {
    check(head.header(h.name).has_value());
    check(head.count(h.name) >= 1);
    const std::string combined = head.combined(h.name);
    for (const std::string_view element : split_list(h.value)) {
      check(!element.empty());
      check(head.has_token(h.name, element));
    }
    // Whatever parses must survive a format/parse round trip unchanged.
    if (const auto offers = parse_extensions(combined)) {
      for (const ExtensionOffer& offer : *offers) {
        const auto again = parse_extensions(format_extension(offer));
        check(again.has_value() && again->size() == 1);
        const ExtensionOffer& copy = again->front();
        check(copy.name == offer.name && copy.params.size() == offer.params.size());
        for (std::size_t i = 0; i < offer.params.size(); ++i) {
          check(copy.params[i].name == offer.params[i].name);
          check(copy.params[i].value == offer.params[i].value);
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const char* wire = reinterpret_cast<const char*>(data + 1);
  const std::size_t wire_size = size - 1;
  const HttpKind kind = (selector & 1) ? HttpKind::response : HttpKind::request;
  HttpLimits limits;
  if (selector & 2) {
    limits.max_head_size = 256;
    limits.max_headers = 4;
  }

  HttpHeadParser whole(kind, limits);
  const HttpParseStatus whole_status = whole.parse(wire, wire_size);
  check((whole_status == HttpParseStatus::error) == (whole.error() != HttpError::none));
  if (whole_status == HttpParseStatus::complete) {
    check(whole.head_size() >= 4 && whole.head_size() <= wire_size);
    check(whole.head_size() <= limits.max_head_size);
    check(whole.head().headers.size() <= limits.max_headers);
    exercise_lists(whole.head());
  }

  // The same bytes arriving in chunks of 1..64 bytes must give the same verdict.
  HttpHeadParser chunked(kind, limits);
  std::uint32_t state = selector >> 2 | 1u;
  HttpParseStatus status = HttpParseStatus::need_more;
  std::size_t received = 0;
  while (status == HttpParseStatus::need_more && received < wire_size) {
    state = state * 1103515245u + 12345u;
    received = std::min(wire_size, received + 1 + (state >> 16) % 64);
    status = chunked.parse(wire, received);
  }
  check(status == whole_status);
  check(chunked.error() == whole.error());
  if (status == HttpParseStatus::complete) {
    check(chunked.head_size() == whole.head_size());
    const HttpHead& a = chunked.head();
    const HttpHead& b = whole.head();
    check(a.method == b.method && a.target == b.target && a.status == b.status &&
          a.reason == b.reason && a.version_minor == b.version_minor);
    check(a.headers.size() == b.headers.size());
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
      check(a.headers[i].name == b.headers[i].name && a.headers[i].value == b.headers[i].value);
    }
  }
  return 0;
}
