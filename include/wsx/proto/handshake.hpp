// The opening handshake (RFC 6455 §4) as pure functions: request in, accept or reject out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsx/export.hpp"
#include "wsx/proto/deflate.hpp"
#include "wsx/proto/http_head.hpp"

namespace wsx::proto {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) (RFC 6455 §4.2.2 step 5.4).
WSX_API std::string accept_key(std::string_view client_key);

// ---- Server side --------------------------------------------------------------------------

enum class UpgradeError : std::uint8_t {
  none,
  method_not_get,        // 405? RFC: 400 — we answer 400 with Allow: GET
  http_version_too_old,  // before HTTP/1.1
  missing_host,
  missing_upgrade_websocket,  // not an upgrade request → 426 (plain HTTP to a WS route)
  missing_connection_upgrade,
  missing_key,
  bad_key,  // not base64 of exactly 16 bytes, or repeated
  missing_version,
  unsupported_version,  // → 426 with Sec-WebSocket-Version: 13
  bad_extensions,       // Sec-WebSocket-Extensions does not parse
  bad_protocols,        // Sec-WebSocket-Protocol is not a list of distinct tokens
  bad_target,           // request-target neither origin-form nor ws/wss/http/https absolute-form
  repeated_origin,      // more than one Origin header: which one would the policy check?
  // HTTP/2 (RFC 8441 §4, §5): a WebSocket opens with an extended CONNECT.
  not_extended_connect,  // not CONNECT with :protocol → 426 (plain HTTP to a WS route)
  unsupported_protocol,  // :protocol is not "websocket" → 400
};

WSX_API std::string_view describe(UpgradeError error) noexcept;

// A request that passed RFC 6455 §4.2.1 (or, over HTTP/2, RFC 8441 §5). Views point into the
// HttpHead's buffer.
struct WSX_API UpgradeRequest {
  const HttpHead* head = nullptr;  // every header, for the application's decision
  std::string_view target;         // path + "?" + query as sent
  std::string_view path;
  std::string_view query;  // without "?"
  std::string_view host;
  std::optional<std::string_view> origin;
  std::string_view key;  // empty over HTTP/2, which has no Sec-WebSocket-Key (RFC 8441 §5)
  std::vector<std::string_view> subprotocols;  // in the client's order
  std::vector<ExtensionOffer> extensions;      // in the client's order
};

// The type of a body that names none: wsx's own answers are UTF-8 text (their reasons quote RFC
// sections, "§"), and an undeclared body is left to a browser's sniffing, which may take it
// for HTML.
inline constexpr std::string_view plain_text_content_type = "text/plain; charset=utf-8";

// An HTTP response to send instead of 101.
struct WSX_API HttpResponse {
  int status = 400;
  std::string reason;  // empty: the standard reason phrase for status
  HeaderList headers;
  std::string body;
};
// Adds Content-Length and Connection: close (joined to any Connection header given), and
// Content-Type: plain_text_content_type to a body without a Content-Type. Headers that
// would break the framing are dropped, never written: a name that is not a token, a value with
// CR, LF or another control character, and Content-Length / Transfer-Encoding. A status outside
// 100-599 becomes 500; an unsafe reason becomes the standard one.
WSX_API std::string serialize(const HttpResponse& response);

struct WSX_API UpgradeCheck {
  UpgradeError error = UpgradeError::none;
  std::optional<UpgradeRequest> request;  // when error == none
  HttpResponse rejection;                 // when error != none: 400 or 426, ready to send
};
// Checks in this order: method, Upgrade (426), HTTP version, Host, Connection, key, version
// (426), Origin, target, subprotocols, extensions. Every 426 carries Upgrade: websocket and
// Sec-WebSocket-Version: 13. For an absolute-form target, `host` is its authority (RFC 9112
// §3.2.2) — a Host header is still required.
// An HTTP/2 head (version 2) is an extended CONNECT instead (RFC 8441 §4-5): CONNECT with
// :protocol (426 without), :protocol websocket (400 otherwise), then Host (the :authority),
// version, Origin, target, subprotocols and extensions as above; no Upgrade, Connection or key.
WSX_API UpgradeCheck check_upgrade_request(const HttpHead& head);

struct WSX_API AcceptOptions {
  std::vector<std::string> subprotocols;  // server preference; the first one offered wins
  std::optional<DeflateServerOptions> deflate;
  HeaderList extra_headers;
};

struct WSX_API Accepted {
  std::string response;  // the whole 101 head, ready to send (HTTP/1.1 requests)
  // The answer's header fields after its status: those of the 101 for HTTP/1.1; for an HTTP/2
  // extended CONNECT those of its 200 (RFC 8441 §5: no Upgrade, Connection or Accept), in
  // lower case as HTTP/2 wants them (RFC 9113 §8.2.1).
  HeaderList headers;
  std::optional<std::string> subprotocol;
  std::optional<DeflateParams> deflate;
};
// Extra headers that are unsafe (see serialize) or that would contradict the handshake
// (Upgrade, Connection, Sec-WebSocket-*, Content-Length, Transfer-Encoding) are dropped.
WSX_API Accepted accept_upgrade(const UpgradeRequest& request, const AcceptOptions& options);

// What accept_upgrade agrees to, without the answer's text.
struct WSX_API UpgradeAgreement {
  std::optional<std::string> subprotocol;
  std::optional<DeflateParams> deflate;
};
// accept_upgrade for an HTTP/1.1 request with the 101 head appended to `out`, byte for byte
// Accepted::response, and no header list built: a server that sends the head at once and keeps
// `out` between handshakes allocates nothing for its answer (accept_upgrade: four allocations).
WSX_API UpgradeAgreement append_upgrade_response(const UpgradeRequest& request,
                                                 const AcceptOptions& options, std::string& out);

// ---- Client side --------------------------------------------------------------------------

struct WSX_API ClientRequestOptions {
  std::string host;  // name or IP literal (IPv6 without brackets)
  std::uint16_t port = 80;
  bool secure = false;       // wss: default port 443
  std::string target = "/";  // path and query
  std::optional<std::string> origin;
  std::vector<std::string> subprotocols;
  std::optional<DeflateClientOptions> deflate;
  HeaderList extra_headers;
};

enum class ClientHandshakeError : std::uint8_t {
  none,
  bad_status,  // not 101 (HTTP/1.1), not 200 (HTTP/2)
  missing_upgrade,
  missing_connection,
  bad_accept,
  unexpected_subprotocol,  // not one we offered, or one when we offered none
  unexpected_extension,    // one we did not offer
  bad_extension,           // parameters invalid or not matching our offer
};

struct WSX_API ClientHandshakeResult {
  ClientHandshakeError error = ClientHandshakeError::none;
  std::string message;  // says exactly what was wrong
  std::optional<std::string> subprotocol;
  std::optional<DeflateParams> deflate;
};

class WSX_API ClientHandshake {
 public:
  // Draws a fresh Sec-WebSocket-Key (16 bytes from the CSPRNG) and builds the request. Throws
  // std::invalid_argument for options that cannot be written safely: an empty host or one with
  // characters a host cannot have, a target that is not "/..." of visible characters, an Origin
  // or extra header with control characters, a subprotocol that is not a token or is repeated,
  // an extra header the handshake writes itself (Host, Upgrade, Connection, Origin,
  // Sec-WebSocket-*, Content-Length, Transfer-Encoding).
  explicit ClientHandshake(ClientRequestOptions options);

  const std::string& request() const noexcept { return request_; }
  const std::string& key() const noexcept { return key_; }
  // The same request as an HTTP/2 extended CONNECT (RFC 8441 §4-5), the header list of its
  // HEADERS frame: :method CONNECT, :protocol websocket, :scheme, :path, :authority, then
  // sec-websocket-version 13, origin, sec-websocket-protocol, sec-websocket-extensions and the
  // extra headers, names in lower case (RFC 9113 §8.2.1); no key, Upgrade or Connection, and
  // extra headers that only mean something on one HTTP/1.1 connection (Keep-Alive, TE,
  // Proxy-Connection) are left out (§8.2.2).
  HeaderList extended_connect() const;
  // A response head of version 1.1 must be the 101 of RFC 6455 §4.1; one of version 2 (the
  // answer to extended_connect()) must be 200, with no Accept to check (RFC 8441 §5).
  // Subprotocol and extensions are checked the same way for both.
  ClientHandshakeResult check_response(const HttpHead& response) const;

 private:
  // Subprotocol and extensions of an accepting response (RFC 6455 §4.1 items 5-6).
  ClientHandshakeResult check_negotiation(const HttpHead& response) const;

  ClientRequestOptions options_;
  std::string key_;
  std::string request_;
};

}  // namespace wsx::proto
