// Fuzzes what the CSRF check reads from a request: the token text (parse, format round trip,
// a full check against fixed secrets), the Cookie header and the query parameter / subprotocol
// lookup, with their invariants. Input: the token text, a NUL, a Cookie header value, a NUL, a
// query string.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/csrf_gate.hpp"
#include "server/csrf_token.hpp"
#include "server/request_cookies.hpp"

using namespace wsx;
using namespace wsx::server;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::string_view next_field(std::string_view& input) {
  const std::size_t end = input.find('\0');
  const std::string_view field = input.substr(0, end);
  input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 1);
  return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view token = next_field(input);
  const std::string_view cookies = next_field(input);
  const std::string_view query = input;

  if (const std::optional<csrf::TokenFields> fields = csrf::parse_token(token)) {
    check(token.size() == csrf::token_text_size);
    check(csrf::format_token(*fields) == token);  // one spelling per token
    check(fields->issued >= 0);
  }
  static const std::vector<std::uint8_t> current(32, 0x11);
  static const std::vector<std::uint8_t> previous(40, 0x22);
  const csrf::KeyRing keys{
      .current = current, .previous = previous, .rotated_at = 2'000'000'000, .lifetime = 3600};
  const CsrfVerdict verdict = csrf::check_token(token, "session", keys, 1'900'000'000);
  check((verdict == CsrfVerdict::missing) == token.empty());
  check((verdict == CsrfVerdict::malformed) == (!token.empty() && !csrf::parse_token(token)));
  if (verdict == CsrfVerdict::valid) {
    // Only a token sealed with one of the secrets, for this session, passes: sealing its own
    // fields again gives the same text (the seeds hold one).
    const csrf::TokenFields fields = *csrf::parse_token(token);
    check(csrf::seal_token(current, "session", fields.issued, fields.nonce) == token ||
          csrf::seal_token(previous, "session", fields.issued, fields.nonce) == token);
  }

  if (const std::optional<std::string_view> value = find_cookie(cookies, "session")) {
    check(inside(*value, cookies));
  }
  proto::UpgradeRequest request;
  request.query = query;
  request.subprotocols = {token, "csrf.x", query};
  if (const std::optional<std::string_view> found = find_csrf_token(request)) {
    check(inside(*found, query) || inside(*found, token) || *found == "x");
  }
  drop_csrf_subprotocols(request.subprotocols);
  for (const std::string_view entry : request.subprotocols) check(!entry.starts_with("csrf."));
  return 0;
}
