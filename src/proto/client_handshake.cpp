// The client half of the opening handshake (RFC 6455 §4.1): build the request, check the answer.
#include <algorithm>
#include <stdexcept>

#include "handshake_text.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/random.hpp"

namespace wsx::proto {

using handshake_text::append_header;
using handshake_text::is_safe_header;
using handshake_text::is_safe_value;

namespace {

// reg-name, IPv4 or IPv6 characters (RFC 3986 §3.2.2): visible, and none that ends an authority.
bool is_host_char(char c) {
  return c > 0x20 && c < 0x7F &&
         std::string_view("/?#@[]\\\"<>{}|^`").find(c) == std::string_view::npos;
}

// Headers the request writes itself (or that would give a GET a body): a second copy would make
// the server refuse the handshake or read it differently.
bool is_handshake_header(std::string_view name) {
  static constexpr std::string_view reserved[] = {"Host",   "Upgrade",        "Connection",
                                                  "Origin", "Content-Length", "Transfer-Encoding"};
  constexpr std::string_view websocket_prefix = "Sec-WebSocket-";
  if (name.size() >= websocket_prefix.size() &&
      iequals(name.substr(0, websocket_prefix.size()), websocket_prefix)) {
    return true;
  }
  return std::any_of(std::begin(reserved), std::end(reserved),
                     [&](std::string_view r) { return iequals(name, r); });
}

void validate(const ClientRequestOptions& options) {
  const std::string& host = options.host;
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  const std::string_view bare =
      bracketed ? std::string_view(host).substr(1, host.size() - 2) : std::string_view(host);
  if (bare.empty() || !std::all_of(bare.begin(), bare.end(), is_host_char)) {
    throw std::invalid_argument("WebSocket host \"" + host + "\" is not a host name or address");
  }
  const std::string_view target = options.target;
  if (!target.empty() &&
      (target.front() != '/' || target.find('#') != std::string_view::npos ||
       !std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7F; }))) {
    throw std::invalid_argument("WebSocket target must be a path of visible characters");
  }
  if (options.origin && !is_safe_value(*options.origin)) {
    throw std::invalid_argument("Origin contains a control character");
  }
  for (auto it = options.subprotocols.begin(); it != options.subprotocols.end(); ++it) {
    if (!is_token(*it) || std::find(options.subprotocols.begin(), it, *it) != it) {
      throw std::invalid_argument("subprotocol \"" + *it + "\" is not a token or is repeated");
    }
  }
  for (const auto& [name, value] : options.extra_headers) {
    if (!is_safe_header(name, value)) {
      throw std::invalid_argument("header \"" + name + "\" has a bad name or a control character");
    }
    if (is_handshake_header(name)) {
      throw std::invalid_argument("header \"" + name + "\" is written by the handshake itself");
    }
  }
}

std::string host_header(const ClientRequestOptions& options) {
  std::string host = options.host;
  // An IPv6 literal is bracketed in a URI authority (RFC 3986 §3.2.2).
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  const std::uint16_t default_port = options.secure ? 443 : 80;
  if (options.port != default_port) host += ":" + std::to_string(options.port);
  return host;
}

std::string new_key() {
  std::uint8_t nonce[16];
  random_bytes(nonce, sizeof nonce);
  return handshake_text::base64(nonce, sizeof nonce);
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

ClientHandshakeResult failure(ClientHandshakeError error, std::string message) {
  ClientHandshakeResult result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

}  // namespace

ClientHandshake::ClientHandshake(ClientRequestOptions options)
    : options_(std::move(options)), key_(new_key()) {
  validate(options_);
  std::string& out = request_;
  out = "GET ";
  out += options_.target.empty() ? "/" : options_.target;
  out += " HTTP/1.1\r\n";
  append_header(out, "Host", host_header(options_));
  append_header(out, "Upgrade", "websocket");
  append_header(out, "Connection", "Upgrade");
  append_header(out, "Sec-WebSocket-Key", key_);
  append_header(out, "Sec-WebSocket-Version", "13");
  if (options_.origin) append_header(out, "Origin", *options_.origin);
  if (!options_.subprotocols.empty()) {
    std::string list;
    for (const std::string& protocol : options_.subprotocols) {
      if (!list.empty()) list += ", ";
      list += protocol;
    }
    append_header(out, "Sec-WebSocket-Protocol", list);
  }
  if (options_.deflate) {
    append_header(out, "Sec-WebSocket-Extensions", deflate_offer(*options_.deflate));
  }
  for (const auto& [name, value] : options_.extra_headers) append_header(out, name, value);
  out += "\r\n";
}

HeaderList ClientHandshake::extended_connect() const {
  HeaderList fields;
  fields.emplace_back(":method", "CONNECT");
  fields.emplace_back(":protocol", "websocket");
  fields.emplace_back(":scheme", options_.secure ? "https" : "http");
  fields.emplace_back(":path", options_.target.empty() ? "/" : options_.target);
  fields.emplace_back(":authority", host_header(options_));
  fields.emplace_back("sec-websocket-version", "13");
  if (options_.origin) fields.emplace_back("origin", *options_.origin);
  if (!options_.subprotocols.empty()) {
    std::string list;
    for (const std::string& protocol : options_.subprotocols) {
      if (!list.empty()) list += ", ";
      list += protocol;
    }
    fields.emplace_back("sec-websocket-protocol", std::move(list));
  }
  if (options_.deflate) {
    fields.emplace_back("sec-websocket-extensions", deflate_offer(*options_.deflate));
  }
  static constexpr std::string_view connection_specific[] = {"keep-alive", "proxy-connection",
                                                             "te"};
  for (const auto& [name, value] : options_.extra_headers) {
    std::string lower(name.size(), '\0');
    std::transform(name.begin(), name.end(), lower.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    if (std::find(std::begin(connection_specific), std::end(connection_specific), lower) !=
        std::end(connection_specific)) {
      continue;
    }
    fields.emplace_back(std::move(lower), value);
  }
  return fields;
}

ClientHandshakeResult ClientHandshake::check_response(const HttpHead& response) const {
  using E = ClientHandshakeError;
  if (response.version_major == 2) {
    // RFC 8441 §5: the extended CONNECT succeeded; Upgrade, Connection and Accept do not exist.
    if (response.status != 200) {
      return failure(E::bad_status,
                     "server answered " + std::to_string(response.status) + " " +
                         std::string(handshake_text::reason_phrase(response.status)));
    }
    return check_negotiation(response);
  }
  if (response.status != 101) {
    const std::string_view reason =
        response.reason.empty() ? handshake_text::reason_phrase(response.status) : response.reason;
    return failure(E::bad_status, "server answered " + std::to_string(response.status) + " " +
                                      std::string(reason));
  }
  // §4.1 items 2-3: Upgrade must be exactly "websocket"; Connection must contain "Upgrade".
  const std::string upgrade = response.combined("Upgrade");
  const std::vector<std::string_view> upgrades = split_list(upgrade);
  if (upgrades.size() != 1 || !iequals(upgrades.front(), "websocket")) {
    return failure(E::missing_upgrade,
                   response.count("Upgrade") == 0
                       ? "Upgrade header missing"
                       : "Upgrade was " + quoted(upgrade) + ", expected websocket");
  }
  if (!response.has_token("Connection", "upgrade")) {
    return failure(E::missing_connection, response.count("Connection") == 0
                                              ? "Connection header missing"
                                              : "Connection was " +
                                                    quoted(response.combined("Connection")) +
                                                    ", which lacks the upgrade token");
  }
  // §4.1 item 4.
  const std::string expected = accept_key(key_);
  const std::size_t accepts = response.count("Sec-WebSocket-Accept");
  if (accepts != 1) {
    return failure(E::bad_accept,
                   accepts == 0 ? "Sec-WebSocket-Accept missing" : "Sec-WebSocket-Accept repeated");
  }
  const std::string_view accept = *response.header("Sec-WebSocket-Accept");
  if (accept != expected) {
    return failure(E::bad_accept,
                   "Sec-WebSocket-Accept was " + std::string(accept) + ", expected " + expected);
  }
  return check_negotiation(response);
}

ClientHandshakeResult ClientHandshake::check_negotiation(const HttpHead& response) const {
  using E = ClientHandshakeError;
  ClientHandshakeResult result;
  // §4.1 item 6: a subprotocol we did not offer, or any when we offered none, fails.
  if (const std::size_t protocols = response.count("Sec-WebSocket-Protocol"); protocols > 0) {
    const std::string_view chosen = *response.header("Sec-WebSocket-Protocol");
    if (protocols > 1) return failure(E::unexpected_subprotocol, "Sec-WebSocket-Protocol repeated");
    if (options_.subprotocols.empty()) {
      return failure(E::unexpected_subprotocol,
                     "server selected subprotocol " + quoted(chosen) + " but we offered none");
    }
    if (std::find(options_.subprotocols.begin(), options_.subprotocols.end(), chosen) ==
        options_.subprotocols.end()) {
      return failure(E::unexpected_subprotocol,
                     "server selected subprotocol " + quoted(chosen) + ", which we did not offer");
    }
    result.subprotocol = std::string(chosen);
  }
  // §4.1 item 5: only extensions we offered; we offer only permessage-deflate.
  if (response.count("Sec-WebSocket-Extensions") > 0) {
    const std::string value = response.combined("Sec-WebSocket-Extensions");
    const std::optional<std::vector<ExtensionOffer>> extensions = parse_extensions(value);
    if (!extensions) {
      return failure(E::bad_extension, "Sec-WebSocket-Extensions does not parse: " + value);
    }
    for (const ExtensionOffer& extension : *extensions) {
      if (extension.name != "permessage-deflate" || !options_.deflate) {
        return failure(
            E::unexpected_extension,
            "server accepted extension " + quoted(extension.name) + ", which we did not offer");
      }
      if (result.deflate) {
        return failure(E::bad_extension, "server accepted permessage-deflate twice");
      }
      std::string why;
      result.deflate = accept_deflate_response(extension, *options_.deflate, &why);
      if (!result.deflate) return failure(E::bad_extension, "permessage-deflate: " + why);
    }
  }
  return result;
}

}  // namespace wsx::proto
