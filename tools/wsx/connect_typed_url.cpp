#include "connect_typed_url.hpp"

#include <cctype>
#include <stdexcept>

#include "wsx/url.hpp"

namespace wsx::tool {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "p%40ss" → "p@ss". A typed password may hold a "%" of its own ("50%off"): text that is not
// valid percent-encoding is taken as it was typed, whole.
std::string decode_credential(std::string_view text) {
  std::optional<std::string> decoded = wsx::percent_decode(text);
  return decoded ? std::move(*decoded) : std::string(text);
}

bool is_loopback(std::string_view host) {
  const std::string name = lower(host);
  return name == "localhost" || name.starts_with("127.") || name == "[::1]" ||
         name.ends_with(".localhost");
}

// "ws:/host/", "ws//host/", "wss:host:8443/", "http:\\host/": a scheme whose "://" was
// mistyped. Taken as no scheme, the scheme's name would become the host name ("cannot resolve
// \"ws\""), which sends the user looking at DNS. What reads as a URL without a scheme stays
// one, as "localhost:8080/x" does: "ws:8080/path" is the host "ws" and its port, "ws/path" the
// host "ws" and its path (a host named so: a container's, say; "ws://path" would have lost
// two characters). Not so "ws:" followed by no port, a path beginning "//", or a backslash,
// which no URL typed without a scheme has. Returns the URL the user most likely meant, or
// nothing.
std::optional<std::string> mistyped_scheme(std::string_view text) {
  const std::string lowered = lower(text.substr(0, text.find_first_of(":/\\")));
  if (lowered != "ws" && lowered != "wss" && lowered != "http" && lowered != "https") {
    return std::nullopt;
  }
  std::string_view rest = text.substr(lowered.size());
  const bool colon = rest.starts_with(':');
  if (colon) rest.remove_prefix(1);
  const std::string_view slashes = rest.substr(0, rest.find_first_not_of("/\\"));
  rest.remove_prefix(slashes.size());
  if (!colon && slashes.empty()) return std::nullopt;  // "ws" alone, or "wss.example.com"
  if (!colon && slashes == "/") return std::nullopt;   // "ws/path": the host "ws"
  if (colon && slashes.empty()) {
    // "ws:8080/path" is the host "ws" and its port; "ws:127.0.0.1:8080/" has lost its "//".
    const std::string_view port = rest.substr(0, rest.find_first_of("/?#"));
    const bool digits_only =
        !port.empty() && port.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits_only || port.empty()) return std::nullopt;
  }
  return std::string(text.substr(0, lowered.size())) + "://" + std::string(rest);
}

}  // namespace

TypedUrl interpret_typed_url(std::string_view text) {
  TypedUrl typed;
  if (text.empty()) throw std::invalid_argument("the URL is empty");
  if (text.find("://") == std::string_view::npos) {
    if (const std::optional<std::string> meant = mistyped_scheme(text)) {
      throw std::invalid_argument("invalid URL \"" + std::string(text) +
                                  "\": the scheme's \"://\" is mistyped; did you mean \"" + *meant +
                                  "\"?");
    }
  }
  std::string scheme;
  std::string_view rest = text;
  if (const std::size_t separator = text.find("://"); separator != std::string_view::npos) {
    scheme = lower(text.substr(0, separator));
    rest = text.substr(separator + 3);
    for (const char* base : {"ws.", "wss."}) {
      if (scheme.starts_with(base) && scheme.size() > std::string_view(base).size()) {
        // The subprotocol keeps its case: only the scheme part was lowered.
        typed.subprotocol = std::string(
            text.substr(std::string_view(base).size(), separator - std::string_view(base).size()));
        scheme = std::string(base, std::string_view(base).size() - 1);
      }
    }
    if (scheme == "http") scheme = "ws";
    if (scheme == "https") scheme = "wss";
  }
  // The authority ends at the path, the query or a fragment; user information before its
  // last "@" (a password may hold an "@" typed as it is).
  const std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  const std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view user_info = authority.substr(0, at);
    typed.credentials = user_info.find(':') == std::string_view::npos
                            ? decode_credential(user_info) + ":"
                            : decode_credential(user_info.substr(0, user_info.find(':'))) + ":" +
                                  decode_credential(user_info.substr(user_info.find(':') + 1));
    authority.remove_prefix(at + 1);
  }
  if (scheme.empty()) {
    std::string_view host = authority;
    if (host.starts_with('[')) {
      host = host.substr(0, host.find(']') + 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    scheme = is_loopback(host) ? "ws" : "wss";
  }
  typed.url = scheme + "://" + std::string(authority) + std::string(tail);
  return typed;
}

}  // namespace wsx::tool
