#include "serve_csrf.hpp"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "wsx/proto/random.hpp"

namespace wsx::tool {
namespace {

constexpr std::size_t session_bytes = 32;  // 256 bits from the CSPRNG
constexpr std::size_t session_text_size = 43;
constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string new_session_id() {
  std::array<std::uint8_t, session_bytes + 1> bytes{};  // + 1: 33 bytes are 44 whole characters
  proto::random_bytes(bytes.data(), bytes.size());
  std::string id;
  for (std::size_t i = 0; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) id += base64url_alphabet[group >> shift & 63];
  }
  id.resize(session_text_size);
  return id;
}

// A cookie value that could be one we set: anything else (another app's cookie of the same
// name, a value set by script elsewhere) is replaced, so a session is always 256 random bits.
bool looks_like_ours(std::string_view value) {
  return value.size() == session_text_size &&
         value.find_first_not_of(base64url_alphabet) == std::string_view::npos;
}

std::string escape_attribute(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '"') {
      out += "&quot;";
    } else if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else {
      out += c;
    }
  }
  return out;
}

// The secret file's format: a file that is all hex digits (an even number of them, as
// `openssl rand -hex 32` writes), with or without one line end, is decoded; any other file is
// the secret byte for byte, line ends included. Raw random bytes are never edited: stripping a
// final "\n" from them shortened one random file in 256.
void decode_if_hex(std::vector<std::uint8_t>& secret) {
  std::size_t size = secret.size();
  if (size > 0 && secret[size - 1] == '\n') --size;
  if (size > 0 && secret[size - 1] == '\r') --size;
  if (size == 0 || size % 2 != 0) return;
  const auto nibble = [](std::uint8_t c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < size; ++i) {
    if (nibble(secret[i]) < 0) return;
  }
  std::vector<std::uint8_t> decoded(size / 2);
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    decoded[i] = static_cast<std::uint8_t>(nibble(secret[2 * i]) << 4 | nibble(secret[2 * i + 1]));
  }
  std::fill(secret.begin(), secret.end(), 0);
  secret.swap(decoded);
}

}  // namespace

std::optional<ServeCsrf> make_serve_csrf(const std::string& secret_file,
                                         std::chrono::seconds lifetime, bool secure,
                                         std::string& error, std::string& warning) {
  ServeCsrf csrf;
  csrf.secure = secure;
  // __Host-: a browser takes it only from a secure page, for the whole host, never from a
  // sibling subdomain (which could otherwise plant a session of its choosing).
  csrf.cookie_name = secure ? "__Host-wsx_session" : "wsx_session";
  if (secret_file.empty()) {
    csrf.tokens = std::make_shared<CsrfTokens>(CsrfTokens::generate(lifetime));
    return csrf;
  }
  std::ifstream file(secret_file, std::ios::binary);
  if (!file) {
    error = "cannot read it: " + std::string(std::strerror(errno));
    return std::nullopt;
  }
  std::vector<std::uint8_t> secret((std::istreambuf_iterator<char>(file)),
                                   std::istreambuf_iterator<char>());
  decode_if_hex(secret);
  if (secret.size() < CsrfTokens::min_secret_size) {
    error = std::to_string(secret.size()) + " bytes; at least " +
            std::to_string(CsrfTokens::min_secret_size) +
            " random bytes are needed (openssl rand -hex 32 > FILE)";
    return std::nullopt;
  }
  struct stat status {};
  if (::stat(secret_file.c_str(), &status) == 0 && (status.st_mode & 077) != 0) {
    warning = "others than its owner may read it (chmod 600)";
  }
  csrf.tokens = std::make_shared<CsrfTokens>(secret, lifetime);
  std::fill(secret.begin(), secret.end(), 0);
  return csrf;
}

void add_csrf_token(proto::HttpResponse& page, const HttpRequest& request, const ServeCsrf& csrf) {
  // A page reached from another site (a link, a form, a frame: Sec-Fetch-Site cross-site or
  // same-site) gets no token and no new session: that site chose the URL, and its visit must
  // not replace the visitor's session (a SameSite=Strict cookie is not sent on it, so it would
  // look like a first visit). Typed, bookmarked and reloaded pages say none or same-origin;
  // clients that are not browsers send no Sec-Fetch-Site.
  const std::string_view fetch_site = request.header("Sec-Fetch-Site").value_or("none");
  if (fetch_site != "none" && fetch_site != "same-origin") {
    std::erase_if(page.headers, [](const auto& header) { return header.first == "Cache-Control"; });
    page.headers.emplace_back("Cache-Control", "no-store");
    return;
  }
  std::string session;
  if (const auto value = request.cookie(csrf.cookie_name); value && looks_like_ours(*value)) {
    session = *value;
  } else {
    session = new_session_id();
    page.headers.emplace_back("Set-Cookie", csrf.cookie_name + "=" + session +
                                                "; Path=/; HttpOnly; SameSite=Strict" +
                                                (csrf.secure ? "; Secure" : ""));
  }
  const std::string meta = "\n<meta name=\"" + std::string(csrf_meta_name) + "\" content=\"" +
                           escape_attribute(csrf.tokens->issue(session)) + "\">";
  const std::size_t head = page.body.find("<head>");
  if (head != std::string::npos) page.body.insert(head + 6, meta);
  // A page with a token is for this visitor only: no cache may keep or share it.
  std::erase_if(page.headers, [](const auto& header) { return header.first == "Cache-Control"; });
  page.headers.emplace_back("Cache-Control", "no-store");
}

}  // namespace wsx::tool
