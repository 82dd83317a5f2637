// The server half of the opening handshake (RFC 6455 §4.2): validate, then accept or reject.
#include <algorithm>
#include <array>
#include <cctype>

#include "handshake_text.hpp"
#include "http_chars.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/request_target.hpp"

namespace wsx::proto {

using handshake_text::append_header;
using handshake_text::is_safe_header;
using handshake_text::is_safe_value;

std::string_view describe(UpgradeError error) noexcept {
  switch (error) {
    case UpgradeError::none:
      return "no error";
    case UpgradeError::method_not_get:
      return "a WebSocket handshake must use GET (RFC 6455 §4.2.1)";
    case UpgradeError::http_version_too_old:
      return "a WebSocket handshake needs HTTP/1.1 or later (RFC 6455 §4.2.1)";
    case UpgradeError::missing_host:
      return "Host header missing, repeated or not a host[:port] (RFC 9112 §3.2)";
    case UpgradeError::missing_upgrade_websocket:
      return "this resource speaks WebSocket only: Upgrade: websocket required (RFC 6455 §4.2.1)";
    case UpgradeError::missing_connection_upgrade:
      return "Connection header must include the upgrade token (RFC 6455 §4.2.1)";
    case UpgradeError::missing_key:
      return "Sec-WebSocket-Key missing (RFC 6455 §4.2.1)";
    case UpgradeError::bad_key:
      return "Sec-WebSocket-Key must be one base64 value of 16 bytes (RFC 6455 §4.2.1)";
    case UpgradeError::missing_version:
      return "Sec-WebSocket-Version missing; this server speaks version 13 (RFC 6455 §4.2.2)";
    case UpgradeError::unsupported_version:
      return "unsupported Sec-WebSocket-Version; this server speaks version 13 (RFC 6455 §4.2.2)";
    case UpgradeError::bad_extensions:
      return "Sec-WebSocket-Extensions does not parse (RFC 6455 §9.1)";
    case UpgradeError::bad_protocols:
      return "Sec-WebSocket-Protocol must be a list of distinct tokens (RFC 6455 §4.1)";
    case UpgradeError::bad_target:
      return "request-target must be a path or a ws/wss/http/https URI (RFC 9112 §3.2)";
    case UpgradeError::repeated_origin:
      return "Origin header repeated (RFC 6454 §7)";
    case UpgradeError::not_extended_connect:
      return "this resource speaks WebSocket only: over HTTP/2 it opens with CONNECT and "
             ":protocol websocket (RFC 8441 §4)";
    case UpgradeError::unsupported_protocol:
      return ":protocol must be websocket (RFC 8441 §5)";
  }
  return "unknown handshake error";
}

namespace {

bool is_426(UpgradeError error) {
  return error == UpgradeError::missing_upgrade_websocket ||
         error == UpgradeError::not_extended_connect || error == UpgradeError::missing_version ||
         error == UpgradeError::unsupported_version;
}

HttpResponse rejection_for(UpgradeError error) {
  HttpResponse response;
  if (is_426(error)) {
    // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to; RFC 6455 §4.2.2: and the version.
    response.status = 426;
    response.headers = {
        {"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"}};
  } else {
    response.status = 400;
    if (error == UpgradeError::method_not_get) response.headers = {{"Allow", "GET"}};
  }
  response.body = std::string(describe(error)) + "\n";  // serialize() declares it UTF-8 text
  return response;
}

// Sec-WebSocket-Protocol = 1#token, possibly over several lines, values unique (RFC 6455 §4.1).
bool collect_subprotocols(const HttpHead& head, std::vector<std::string_view>& out) {
  for (const HttpHeader& h : head.headers) {
    if (!iequals(h.name, "Sec-WebSocket-Protocol")) continue;
    const std::vector<std::string_view> items = split_list(h.value);
    if (items.empty()) return false;
    for (const std::string_view item : items) {
      if (!is_token(item) || std::find(out.begin(), out.end(), item) != out.end()) return false;
      out.push_back(item);
    }
  }
  return true;
}

// The header fields the checks read, found in one pass over the head: each lookup by name
// would walk every field again (a dozen walks per request, a quarter of the handshake's checks).
struct KnownFields {
  enum Name : std::uint8_t {
    host,
    origin,
    upgrade,
    connection,
    key,
    version,
    protocol,
    extensions,
    count
  };
  std::array<const HttpHeader*, count> first{};  // the first field of each name, or null
  std::array<std::uint8_t, count> seen{};        // how many, stopping at 2

  explicit KnownFields(const HttpHead& head) noexcept {
    for (const HttpHeader& field : head.headers) {
      // The names differ in length: one comparison per field at most.
      Name name;
      switch (field.name.size()) {
        case 4:
          if (!iequals(field.name, "Host")) continue;
          name = host;
          break;
        case 6:
          if (!iequals(field.name, "Origin")) continue;
          name = origin;
          break;
        case 7:
          if (!iequals(field.name, "Upgrade")) continue;
          name = upgrade;
          break;
        case 10:
          if (!iequals(field.name, "Connection")) continue;
          name = connection;
          break;
        case 17:
          if (!iequals(field.name, "Sec-WebSocket-Key")) continue;
          name = key;
          break;
        case 21:
          if (!iequals(field.name, "Sec-WebSocket-Version")) continue;
          name = version;
          break;
        case 22:
          if (!iequals(field.name, "Sec-WebSocket-Protocol")) continue;
          name = protocol;
          break;
        case 24:
          if (!iequals(field.name, "Sec-WebSocket-Extensions")) continue;
          name = extensions;
          break;
        default:
          continue;
      }
      if (seen[name] == 0) first[name] = &field;
      if (seen[name] < 2) ++seen[name];
    }
  }
  std::string_view value(Name name) const noexcept { return first[name]->value; }
  // head.has_token(name, token), without the walk when the field came once.
  bool has_token(const HttpHead& head, Name name, std::string_view field_name,
                 std::string_view token) const noexcept {
    if (seen[name] == 0) return false;
    if (seen[name] > 1) return head.has_token(field_name, token);
    std::string_view list = value(name);
    for (;;) {
      const std::size_t comma = list.find(',');
      if (iequals(http_chars::trim_ows(list.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) return false;
      list.remove_prefix(comma + 1);
    }
  }
};

// RFC 6455 §4.2.1 steps 1-5: what only an HTTP/1.1 upgrade has. Yields the key.
UpgradeError check_http1_upgrade(const HttpHead& head, const KnownFields& fields,
                                 std::string_view& key) {
  if (head.method != "GET") return UpgradeError::method_not_get;
  if (!fields.has_token(head, KnownFields::upgrade, "Upgrade", "websocket")) {
    return UpgradeError::missing_upgrade_websocket;
  }
  if (head.version_major < 1 || (head.version_major == 1 && head.version_minor < 1)) {
    return UpgradeError::http_version_too_old;
  }
  if (fields.seen[KnownFields::host] != 1 || !is_valid_authority(fields.value(KnownFields::host))) {
    return UpgradeError::missing_host;
  }
  if (!fields.has_token(head, KnownFields::connection, "Connection", "upgrade")) {
    return UpgradeError::missing_connection_upgrade;
  }
  const std::size_t keys = fields.seen[KnownFields::key];
  if (keys == 0) return UpgradeError::missing_key;
  key = fields.value(KnownFields::key);
  if (keys > 1 || !handshake_text::is_valid_key(key)) return UpgradeError::bad_key;
  return UpgradeError::none;
}

// RFC 8441 §4-5: an extended CONNECT carries the same request without Upgrade, Connection and
// key; the HTTP/2 layer has already checked that :scheme, :path and :authority are present.
UpgradeError check_extended_connect(const HttpHead& head, const KnownFields& fields) {
  if (head.method != "CONNECT" || head.protocol.empty()) {
    return UpgradeError::not_extended_connect;
  }
  if (head.protocol != "websocket") return UpgradeError::unsupported_protocol;
  if (fields.seen[KnownFields::host] != 1 || !is_valid_authority(fields.value(KnownFields::host))) {
    return UpgradeError::missing_host;
  }
  return UpgradeError::none;
}

UpgradeError check(const HttpHead& head, UpgradeRequest& request) {
  const KnownFields fields(head);
  std::string_view key;
  const UpgradeError transport_error = head.version_major == 2
                                           ? check_extended_connect(head, fields)
                                           : check_http1_upgrade(head, fields, key);
  if (transport_error != UpgradeError::none) return transport_error;

  const std::size_t versions = fields.seen[KnownFields::version];
  if (versions == 0) return UpgradeError::missing_version;
  if (versions > 1 || fields.value(KnownFields::version) != "13") {
    return UpgradeError::unsupported_version;
  }
  if (fields.seen[KnownFields::origin] > 1) return UpgradeError::repeated_origin;

  const std::optional<RequestTarget> target = parse_request_target(head.target);
  if (!target) return UpgradeError::bad_target;

  if (fields.seen[KnownFields::protocol] > 0 && !collect_subprotocols(head, request.subprotocols)) {
    return UpgradeError::bad_protocols;
  }
  if (fields.seen[KnownFields::extensions] > 0) {
    std::optional<std::vector<ExtensionOffer>> extensions =
        parse_extensions(head.combined("Sec-WebSocket-Extensions"));
    if (!extensions) return UpgradeError::bad_extensions;
    request.extensions = std::move(*extensions);
  }

  request.head = &head;
  request.target = target->target;
  request.path = target->path;
  request.query = target->query;
  request.host = target->authority.value_or(fields.value(KnownFields::host));
  if (fields.seen[KnownFields::origin] > 0) request.origin = fields.value(KnownFields::origin);
  request.key = key;
  return UpgradeError::none;
}

// Headers the 101 response writes itself; an application's copy would contradict them.
bool is_handshake_header(std::string_view name) {
  static constexpr std::array<std::string_view, 4> reserved = {
      "Upgrade", "Connection", "Content-Length", "Transfer-Encoding"};
  constexpr std::string_view websocket_prefix = "Sec-WebSocket-";
  if (name.size() >= websocket_prefix.size() &&
      iequals(name.substr(0, websocket_prefix.size()), websocket_prefix)) {
    return true;
  }
  return std::any_of(reserved.begin(), reserved.end(),
                     [&](std::string_view r) { return iequals(name, r); });
}

}  // namespace

UpgradeCheck check_upgrade_request(const HttpHead& head) {
  UpgradeCheck result;
  UpgradeRequest request;
  result.error = check(head, request);
  if (result.error == UpgradeError::none) {
    result.request = std::move(request);
  } else {
    result.rejection = rejection_for(result.error);
  }
  return result;
}

std::string serialize(const HttpResponse& response) {
  const int status = response.status >= 100 && response.status <= 599 ? response.status : 500;
  const std::string_view reason = !response.reason.empty() && is_safe_value(response.reason)
                                      ? std::string_view(response.reason)
                                      : handshake_text::reason_phrase(status);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(reason).append("\r\n");

  std::string connection;
  bool has_close = false;
  bool has_type = false;
  for (const auto& [name, value] : response.headers) {
    if (!is_safe_header(name, value) || iequals(name, "Content-Length") ||
        iequals(name, "Transfer-Encoding")) {
      continue;
    }
    has_type = has_type || iequals(name, "Content-Type");
    if (iequals(name, "Connection")) {
      for (const std::string_view option : split_list(value)) {
        if (!connection.empty()) connection += ", ";
        connection += option;
        has_close = has_close || iequals(option, "close");
      }
      continue;
    }
    append_header(out, name, value);
  }
  if (!has_close) connection += connection.empty() ? "close" : ", close";
  append_header(out, "Connection", connection);
  // RFC 9110 §6.4.1: 1xx, 204 and 304 responses have no content.
  const bool has_content = status >= 200 && status != 204 && status != 304;
  if (has_content) append_header(out, "Content-Length", std::to_string(response.body.size()));
  if (has_content && !response.body.empty() && !has_type) {
    append_header(out, "Content-Type", plain_text_content_type);
  }
  out += "\r\n";
  if (has_content) out += response.body;
  return out;
}

namespace {

// The first of the server's subprotocols the client offered (RFC 6455 §4.2.2 step 5.5).
std::optional<std::string> choose_subprotocol(const UpgradeRequest& request,
                                              const AcceptOptions& options) {
  for (const std::string& wanted : options.subprotocols) {
    if (std::find(request.subprotocols.begin(), request.subprotocols.end(), wanted) !=
        request.subprotocols.end()) {
      return wanted;
    }
  }
  return std::nullopt;
}

std::optional<DeflateAgreement> choose_deflate(const UpgradeRequest& request,
                                               const AcceptOptions& options) {
  if (!options.deflate) return std::nullopt;
  return negotiate_deflate(request.extensions, *options.deflate);
}

bool is_writable_extra_header(std::string_view name, std::string_view value) {
  return is_safe_header(name, value) && !is_handshake_header(name);
}

constexpr std::string_view switching_status_line = "HTTP/1.1 101 Switching Protocols\r\n";

}  // namespace

UpgradeAgreement append_upgrade_response(const UpgradeRequest& request,
                                         const AcceptOptions& options, std::string& out) {
  UpgradeAgreement agreed;
  agreed.subprotocol = choose_subprotocol(request, options);
  const std::optional<DeflateAgreement> deflate = choose_deflate(request, options);
  char key[handshake_text::accept_key_size];
  handshake_text::accept_key_into(request.key, key);

  // The same lines in the same order as accept_upgrade's header list (a test compares them).
  constexpr std::string_view fixed_lines =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
  constexpr std::string_view protocol_name = "Sec-WebSocket-Protocol";
  constexpr std::string_view extensions_name = "Sec-WebSocket-Extensions";
  std::size_t size = switching_status_line.size() + fixed_lines.size() + sizeof key + 4;
  if (agreed.subprotocol) size += protocol_name.size() + agreed.subprotocol->size() + 4;
  if (deflate) size += extensions_name.size() + deflate->response.size() + 4;
  for (const auto& [name, value] : options.extra_headers) size += name.size() + value.size() + 4;
  out.reserve(out.size() + size);

  out.append(switching_status_line).append(fixed_lines).append(key, sizeof key).append("\r\n");
  if (agreed.subprotocol) append_header(out, protocol_name, *agreed.subprotocol);
  if (deflate) {
    append_header(out, extensions_name, deflate->response);
    agreed.deflate = deflate->params;
  }
  for (const auto& [name, value] : options.extra_headers) {
    if (is_writable_extra_header(name, value)) append_header(out, name, value);
  }
  out += "\r\n";
  return agreed;
}

Accepted accept_upgrade(const UpgradeRequest& request, const AcceptOptions& options) {
  Accepted accepted;
  accepted.subprotocol = choose_subprotocol(request, options);
  const std::optional<DeflateAgreement> deflate = choose_deflate(request, options);

  const bool http2 = request.head != nullptr && request.head->version_major == 2;
  HeaderList& headers = accepted.headers;
  headers.reserve(3 + (accepted.subprotocol ? 1 : 0) + (deflate ? 1 : 0) +
                  options.extra_headers.size());
  if (http2) {
    // RFC 9113 §8.2.1: field names in lower case; §8.2.2: no connection-specific fields.
    if (accepted.subprotocol) headers.emplace_back("sec-websocket-protocol", *accepted.subprotocol);
    if (deflate) headers.emplace_back("sec-websocket-extensions", deflate->response);
  } else {
    headers.emplace_back("Upgrade", "websocket");
    headers.emplace_back("Connection", "Upgrade");
    headers.emplace_back("Sec-WebSocket-Accept", accept_key(request.key));
    if (accepted.subprotocol) headers.emplace_back("Sec-WebSocket-Protocol", *accepted.subprotocol);
    if (deflate) headers.emplace_back("Sec-WebSocket-Extensions", deflate->response);
  }
  if (deflate) accepted.deflate = deflate->params;
  for (const auto& [name, value] : options.extra_headers) {
    if (!is_writable_extra_header(name, value)) continue;
    std::string field_name = name;
    if (http2) {
      std::transform(field_name.begin(), field_name.end(), field_name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
    headers.emplace_back(std::move(field_name), value);
  }
  if (http2) return accepted;

  // One allocation for the whole head, not one per line that outgrows it.
  std::size_t size = switching_status_line.size() + 2;
  for (const auto& [name, value] : headers) size += name.size() + value.size() + 4;
  std::string& out = accepted.response;
  out.reserve(size);
  out = switching_status_line;
  for (const auto& [name, value] : headers) append_header(out, name, value);
  out += "\r\n";
  return accepted;
}

}  // namespace wsx::proto
