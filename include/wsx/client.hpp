// A WebSocket client: connect by URL (ws:// or wss://) on an event loop, with subprotocols,
// extra headers, Origin, a permessage-deflate offer, TLS options, timeouts and optional
// reconnection with exponential backoff.
//
//   wsx::ClientOptions options;
//   options.url = "wss://example.com/chat";
//   wsx::ClientHandlers handlers;
//   handlers.open = [](wsx::WebSocket& ws) { ws.send("hello"); };
//   handlers.message = [](wsx::WebSocket& ws, wsx::Message m) { ...; ws.close(); };
//   handlers.error = [](const wsx::ClientError& e) { std::cerr << e.message << "\n"; };
//   wsx::ClientResult result = wsx::run_client(options, handlers);  // or Client on your loop
//
// The connection itself is the same wsx::WebSocket the server hands out, with the same
// callbacks; `error` adds what only a client can meet: a name that does not resolve, a refused
// TCP connection, a TLS failure, a handshake refused with an HTTP status, or none in time.
//
// Exceptions (the policy is in error_report.hpp): whatever a handler throws stays inside the
// client's loop. One from a connection's callback (open, message, fragment, drain, ping, pong,
// close, frame, a posted task) fails that connection with 1011, like on the server; one from
// `error`, `done` or a HandshakeTrace callback is only reported (the client carries on as if it
// had returned). ClientOptions::error_hook gets the message, the callback's name, the URL and
// the server's address; without a hook, one line goes to stderr.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsx/backoff.hpp"
#include "wsx/error_report.hpp"
#include "wsx/export.hpp"
#include "wsx/proto/deflate.hpp"
#include "wsx/proxy.hpp"
#include "wsx/url.hpp"
#include "wsx/websocket.hpp"

namespace wsx {

namespace io {
class EventLoop;
}
class Http2Pool;

// What the TLS layer does for a wss:// URL. The server is verified (certificate chain against
// the trusted CAs, and the URL's host name or IP address) unless insecure_skip_verify is set.
struct WSX_API ClientTlsOptions {
  std::string ca_file;                 // PEM bundle to trust; empty: the system store
  bool use_system_ca = true;           // also trust the system store when ca_file is set
  bool insecure_skip_verify = false;   // for testing only: no chain or host check at all
  std::string certificate_chain_file;  // optional client certificate (PEM, leaf first)
  std::string private_key_file;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Sees the opening handshake as it goes over the wire, for tracing tools: the request head as
// sent, and the response head (status line and headers, up to the blank line) as received — the
// 101 or a refusal. Over HTTP/2 (ClientOptions::http2) they are the header lists of the
// extended CONNECT and of its response, one "name: value" line each, after a first line
// "HTTP/2 stream N" (pseudo-headers included: ":method: CONNECT", ":status: 200"). Each is
// optional; an exception from one is reported and otherwise ignored.
struct WSX_API HandshakeTrace {
  std::function<void(std::string_view head)> request;
  std::function<void(std::string_view head)> response;
  // A redirect being followed (ClientOptions::follow_redirects): the status and the absolute
  // URL of the next hop. The next hop's request and response follow as above.
  std::function<void(int status, std::string_view next_url)> redirect;
  // The tunnel through ClientOptions::proxy is open: "CONNECT via http://proxy:3128", ...
  std::function<void(std::string_view summary)> proxy;
  // HTTP/2 (ClientOptions::http2) was not used, and why: "the server chose http/1.1 by ALPN:
  // HTTP/1.1", "the server speaks HTTP/2 without SETTINGS_ENABLE_CONNECT_PROTOCOL ...".
  std::function<void(std::string_view summary)> http2_fallback;
};

struct WSX_API ClientOptions {
  std::string url;                        // ws://host[:port]/path?query or wss://...
  std::vector<std::string> subprotocols;  // offered in this order
  std::optional<std::string> origin;      // the Origin header, if any
  HeaderList extra_headers;  // e.g. Authorization; not the ones the handshake writes itself
  std::optional<proto::DeflateClientOptions> deflate;  // offer permessage-deflate
  ClientTlsOptions tls;
  // Bounds name resolution, and then, separately, the TCP connect phase: every resolved
  // address raced together (see connection_attempt_delay).
  std::chrono::milliseconds connect_timeout{10'000};
  // Happy Eyeballs (RFC 8305 §5): the next resolved address is tried this long after the
  // previous attempt started if that one has neither connected nor failed yet (a failure starts
  // the next at once); earlier attempts keep running and the first to connect wins. The
  // address families alternate, the resolver's first choice first. Zero: one at a time.
  std::chrono::milliseconds connection_attempt_delay{250};
  // From the TCP connection to the server's 101 (the TLS handshake included).
  std::chrono::milliseconds handshake_timeout{10'000};
  std::size_t max_response_head = 16 * 1024;  // the server's handshake response head
  std::size_t max_error_body = 16 * 1024;     // body of a refusal kept for ClientError::body
  WebSocketOptions websocket;  // message size limit, idle and close timeouts, backpressure
  HandshakeTrace handshake_trace;
  // A proxy URL (see wsx/proxy.hpp): http://[USER:PASSWORD@]HOST:PORT for HTTP CONNECT,
  // socks5h:// or socks5:// for SOCKS5. Empty: connect directly. The library does not read the
  // environment; wsx::proxy_from_environment() gives what *_proxy and no_proxy say. The proxy
  // is reached within connect_timeout and must open the tunnel within handshake_timeout; the
  // WebSocket handshake then has its own handshake_timeout.
  std::string proxy;
  // When set, asked for the proxy of each hop (the URL given, then each redirect's), instead of
  // `proxy`; e.g. [](const Url& u) { return wsx::proxy_from_environment(u); }. An exception
  // from it fails connect() (std::invalid_argument) or that redirect (redirect_failed).
  std::function<std::string(const Url& target)> proxy_for;
  // Follow 301, 302, 303, 307 and 308 answers to the handshake to their Location (resolved
  // against the request URL), at most max_redirects times. Never from wss:// to ws://; when
  // the next hop's origin (scheme, host, port) differs, Authorization and Cookie headers are
  // not sent to it. Off: a 3xx is handshake_refused with its Location in the headers.
  bool follow_redirects = false;
  unsigned max_redirects = 5;
  // wss:// only, not through a proxy: offer HTTP/2 by ALPN ("h2", then "http/1.1") and open
  // the WebSocket as a stream of it, by an extended CONNECT (RFC 8441), when the server
  // announces SETTINGS_ENABLE_CONNECT_PROTOCOL. When it picks http/1.1 the usual upgrade
  // follows on the same connection; when it speaks h2 without extended CONNECT, on a new TLS
  // connection offering http/1.1 only. The WebSocket is the same either way. A GOAWAY from
  // the server before it processed our extended CONNECT (its last stream id below ours, or
  // REFUSED_STREAM) costs nothing: the attempt goes again, once per connect(), on a new
  // connection (RFC 9113 §6.8, §8.7); a second one is connection_lost.
  bool http2 = false;
  // With http2: the clients given the same pool (on the pool's loop) share one HTTP/2
  // connection per origin — scheme, host, port and TLS options — while it accepts streams; it
  // closes when its last stream ends. Empty: the client has a connection of its own.
  std::shared_ptr<Http2Pool> http2_pool;
  ReconnectOptions reconnect;
  std::uint64_t reconnect_seed = 0;  // jitter seed; 0 draws one
  // Exceptions escaping the handlers (see above and error_report.hpp: a connection's callback
  // fails it with 1011). Empty: one line per failure on stderr.
  ErrorHook error_hook;
};

enum class ClientErrorKind : std::uint8_t {
  resolve_failed,     // the host name did not resolve
  connect_failed,     // TCP: refused, unreachable, ... (every address was tried)
  connect_timeout,    // TCP: no address answered within connect_timeout
  tls_failed,         // TLS handshake: verification failed, alert from the server, ...
  handshake_timeout,  // no complete 101 response within handshake_timeout
  handshake_refused,  // the server answered with another status: see status, headers, body
  handshake_invalid,  // the response broke RFC 6455 §4.1 / RFC 7692 or was not HTTP
  connection_lost,    // the transport ended before the handshake completed
  proxy_unreachable,  // the proxy's name did not resolve, or TCP to it failed or timed out
  proxy_refused,      // the proxy said no: HTTP status (407, 403, 502, ...) or SOCKS5 reply
  proxy_failed,       // the proxy broke its protocol, closed early, or did not answer in time
  redirect_failed,    // a 3xx that is not followed: too many, wss:// to ws://, bad Location
};

WSX_API std::string_view describe(ClientErrorKind kind) noexcept;

struct WSX_API ClientError {
  ClientErrorKind kind = ClientErrorKind::connection_lost;
  std::string message;  // precise: "connect to 127.0.0.1:9 failed: Connection refused", ...
  std::string address;  // the address the failure happened on ("[::1]:443"), if any
  // handshake_refused, redirect_failed (and handshake_invalid when the response head parsed):
  // the response; proxy_refused by an HTTP proxy: its reply.
  int status = 0;
  std::string reason;
  HeaderList headers;
  std::string body;     // at most max_error_body bytes
  int socks_reply = 0;  // proxy_refused by a SOCKS5 proxy's CONNECT: its reply code (1-255)
  // Whether a reconnect follows, and when.
  bool will_retry = false;
  std::chrono::milliseconds retry_in{0};
};

// The callbacks of a client connection: those of WebSocketHandlers (same names, same meaning,
// same thread), plus `error` and `done`. A plain aggregate, so a designated initializer can set
// any of them: {.open = ..., .message = ..., .error = ...}.
struct WSX_API ClientHandlers {
  std::function<void(WebSocket&)> open;
  std::function<void(WebSocket&, Message)> message;
  std::function<void(WebSocket&, Fragment)> fragment;  // see WebSocketHandlers::fragment
  std::function<void(WebSocket&)> drain;
  std::function<void(WebSocket&, std::span<const std::uint8_t>)> ping;  // answered already
  std::function<void(WebSocket&, std::span<const std::uint8_t>)> pong;
  std::function<void(WebSocket&, const CloseInfo&)> close;
  std::function<void(WebSocket&, bool outgoing, const proto::FrameHeader&,
                     std::span<const std::uint8_t> payload)>
      frame;  // see WebSocketHandlers::frame
  // A connection attempt failed (see ClientError). Not called for a connection that opened:
  // its end is reported by `close`.
  std::function<void(const ClientError&)> error;
  // The client has nothing more to do: the connection ended (or never opened) and no reconnect
  // follows. Called once per connect().
  std::function<void()> done;
};

class WSX_API Client {
 public:
  // Everything runs on `loop`'s thread: call connect(), close() and the rest from it (or before
  // the loop runs, from the thread that will run it). The loop must outlive the client.
  Client(io::EventLoop& loop, ClientOptions options, ClientHandlers handlers);
  // Drops any connection or attempt at once; no callback follows. Do not destroy the client
  // from inside one of its callbacks (post the destruction to the loop instead).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts connecting (resolution never blocks the loop). Throws std::invalid_argument, with a
  // message saying what is wrong, for a bad URL, options the handshake cannot send (a header with
  // CR/LF, a repeated subprotocol, ...) or a TLS configuration that fails to load. Calling it
  // again while connecting or connected does nothing.
  void connect();
  // Ends the connection and any reconnecting: an open connection gets a closing handshake, an
  // attempt in progress is abandoned (then `done`).
  void close(std::uint16_t code = 1000, std::string_view reason = {});

  // The open connection, or nullptr.
  WebSocket* socket() noexcept;
  bool is_open() const noexcept;
  // Sends on the open connection; closed when there is none.
  SendStatus send(std::string_view text, MessageKind kind = MessageKind::text);
  SendStatus send(std::span<const std::uint8_t> data, MessageKind kind = MessageKind::binary);

  const Url& url() const noexcept;
  // Headers of the last 101 response (valid once open).
  const HeaderList& response_headers() const noexcept;
  // Negotiated permessage-deflate parameters of the open connection.
  const std::optional<proto::DeflateParams>& deflate() const noexcept;
  // The address of the current or last connection attempt ("127.0.0.1:9000").
  const std::string& address() const noexcept;
  // Whether the open connection runs over HTTP/2 (a stream of an h2 connection).
  bool uses_http2() const noexcept;
  // Connections opened so far, and failed attempts since the last one opened.
  std::size_t connections_opened() const noexcept;
  std::size_t failed_attempts() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// HTTP/2 connections shared by the clients of one loop (ClientOptions::http2_pool). Make it
// with std::make_shared, give it to the clients, and destroy it (the last reference) on the
// loop's thread before the loop. Destroying it drops its connections at once.
class WSX_API Http2Pool {
 public:
  explicit Http2Pool(io::EventLoop& loop);
  ~Http2Pool();
  Http2Pool(const Http2Pool&) = delete;
  Http2Pool& operator=(const Http2Pool&) = delete;

  // HTTP/2 connections open (or opening), and WebSocket streams on them.
  std::size_t connections() const noexcept;
  std::size_t streams() const noexcept;
  // HTTP/2 connections this pool has opened so far.
  std::size_t connections_opened() const noexcept;

  struct Impl;
  Impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// How a blocking run ended.
struct WSX_API ClientResult {
  bool opened = false;               // a connection opened at least once
  std::optional<ClientError> error;  // the last failed attempt, if the last thing was a failure
  std::uint16_t close_code = 1006;   // of the last connection that opened
  std::string close_reason;
  bool clean = false;
};

// Runs a client on its own event loop on the calling thread until `done`. The handlers may use
// the WebSocket they receive as usual; a connection is closed by calling close() on it. Throws
// like Client::connect().
WSX_API ClientResult run_client(const ClientOptions& options, ClientHandlers handlers);

}  // namespace wsx
