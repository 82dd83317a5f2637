// A WebSocket server: N threads, each with its own event loop and its own SO_REUSEPORT listener
// on the same port, routes by path, behaviours per route, TLS, pub/sub topics, graceful shutdown.
//
//   wsx::Server server({.threads = 2});
//   server.route("/echo", {.message = [](wsx::WebSocket& ws, wsx::Message msg) {
//     ws.send(msg.data, msg.kind);
//   }});
//   if (std::error_code error = server.listen("127.0.0.1", 9001)) return 1;  // port taken, ...
//   server.run();  // throws std::logic_error when no listen() succeeded
//
// Routes: "/chat" matches that path exactly; "/rooms/*" every path starting with "/rooms/";
// "/*" every path. An exact route beats a prefix route; the longest prefix wins. Add routes
// before run().
//
// What a request gets, in this order: an oversized head 431, a malformed one 400; an unknown
// path 404; a request that is not a WebSocket upgrade 426 (Upgrade Required), other handshake
// errors 400 (RFC 6455 §4.2.1); an Origin the route's policy refuses 403 (by default: a page
// of another origin, see OriginPolicy); then the route's upgrade callback decides (accept, or
// any status/headers/body). Over `max_connections`, 503.
// A plain HTTP request on a path without a route goes to ServerOptions::http when it is set.
// A handshake not finished within `handshake_timeout` is dropped without an answer — unless
// its request is complete and an `upgrade_async` decision is pending: that one gets 503.
//
// A decision that needs something slow (a session store, an auth service) is made without
// blocking the server thread by `upgrade_async`: copy what you need from the request (its
// views die with the call), keep the responder, answer from any thread when ready.
//
//   server.route("/chat", {.upgrade_async = [&](const wsx::UpgradeRequest& request,
//                                               wsx::UpgradeResponder responder) {
//     std::string cookie(request.header("Cookie").value_or(""));
//     pool.submit([&sessions, cookie, responder = std::move(responder)]() mutable {
//       if (std::optional<User> user = sessions.lookup(cookie)) {  // slow: another thread
//         responder.accept({}, *user);                               // becomes user_data
//       } else {
//         responder.reject(401, "log in first\n");
//       }
//     });
//   }});
//
// The responder is move-only: a callback API that needs a copyable callable (std::function)
// can hold it in a std::shared_ptr.
//
// Exceptions (the policy is in error_report.hpp): whatever a callback throws stays inside the
// server. An upgrade or upgrade_async callback that throws answers 500, the `http` handler 500;
// a connection's callback (open, message, fragment, drain, ping, pong, close, frame) or a task
// posted through its handle fails that connection with 1011; an access_log that throws is only
// reported. Every other connection on the thread is served on, and ServerOptions::error_hook
// gets the exception's message, the callback's name, the route and the peer's address (without
// a hook: one line on stderr).
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "wsx/broker.hpp"
#include "wsx/csrf.hpp"
#include "wsx/error_report.hpp"
#include "wsx/export.hpp"
#include "wsx/metrics.hpp"
#include "wsx/proto/deflate.hpp"
#include "wsx/proto/handshake.hpp"
#include "wsx/proto/http_head.hpp"
#include "wsx/websocket.hpp"

namespace wsx {

// The request, as the upgrade callback sees it. Views are valid during the callback only: an
// upgrade_async callback copies what its decision needs (std::string(request.path), ...).
struct WSX_API UpgradeRequest {
  std::string_view method;
  std::string_view target;  // path + "?" + query as sent
  std::string_view path;
  std::string_view query;  // without "?"
  std::string_view host;
  std::optional<std::string_view> origin;
  std::string_view remote_address;                 // "127.0.0.1:51234"
  std::span<const std::string_view> subprotocols;  // offered, in the client's order
  const proto::HttpHead* head = nullptr;           // every header

  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return head != nullptr ? head->header(name) : std::nullopt;
  }
  // The value of the first cookie called `name` (RFC 6265 §5.4), nullopt if there is none.
  std::optional<std::string_view> cookie(std::string_view name) const noexcept;
};

// A plain HTTP request (no Upgrade header) on a path without a WebSocket route, as
// ServerOptions::http sees it. Views are valid during the callback only.
struct WSX_API HttpRequest {
  std::string_view method;
  std::string_view target;  // as sent
  std::string_view path;    // of the target, without the query
  std::string_view query;   // without "?"
  std::string_view remote_address;
  const proto::HttpHead* head = nullptr;  // every header

  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return head != nullptr ? head->header(name) : std::nullopt;
  }
  // The value of the first cookie called `name` (RFC 6265 §5.4), nullopt if there is none.
  std::optional<std::string_view> cookie(std::string_view name) const noexcept;
};

// One answered request, for ServerOptions::access_log. Views are valid during the callback only.
struct WSX_API AccessRecord {
  std::string_view remote_address;
  std::string_view method;  // empty when the head did not parse (400, 431) or was never read (503)
  std::string_view target;
  std::optional<std::string_view> origin;
  int status = 0;                // 101 for an accepted upgrade (200 over HTTP/2)
  std::string_view subprotocol;  // chosen, empty if none
  std::string_view extensions;   // the Sec-WebSocket-Extensions answered, empty if none
  std::size_t body_size = 0;     // of a refusal or a plain HTTP answer
  // Why the server refused the request, empty otherwise or when the status says it all:
  // "csrf token expired", "handshake rate of this address exceeded", ...
  std::string_view reason;
  // For an accepted WebSocket and the requests of a long-polling session: what the WebSocket runs
  // on (WebSocket::transport()). Otherwise what the request came on: http1, or http2 for a
  // stream of an HTTP/2 connection. transport_name() spells it ("h1", "h2", "long-polling").
  Transport transport = Transport::http1;
};

struct WSX_API UpgradeDecision {
  bool accepted = true;
  // Accept: the subprotocol to use; it must be one the client offered (otherwise none is sent).
  // Empty: the route's `subprotocols` preference list decides.
  std::string subprotocol;
  std::any user_data;  // becomes WebSocket::user_data()
  // Reject: status, headers and body of the answer. Accept: extra headers on the 101.
  int status = 0;
  proto::HeaderList headers;
  std::string body;

  static UpgradeDecision accept(std::string subprotocol = {}, std::any user_data = {},
                                proto::HeaderList headers = {}) {
    UpgradeDecision decision;
    decision.subprotocol = std::move(subprotocol);
    decision.user_data = std::move(user_data);
    decision.headers = std::move(headers);
    return decision;
  }
  static UpgradeDecision reject(int status, std::string body = {}, proto::HeaderList headers = {}) {
    UpgradeDecision decision;
    decision.accepted = false;
    decision.status = status;
    decision.body = std::move(body);
    decision.headers = std::move(headers);
    return decision;
  }
};

// Which browser pages may open a connection (RFC 6455 §10.2, RFC 6454 origins). A request
// without Origin does not come from a browser and passes unless `required`. Refused requests get
// 403. The default is same-origin: a page elsewhere cannot open a connection with the user's
// cookies (cross-site WebSocket hijacking) unless the route asks for allow_any() or lists it.
//
// Comparison: scheme and host case-insensitively, ports as numbers with the scheme's default
// filled in ("https://a.example" is "https://a.example:443"); no other normalisation — a
// trailing dot, another spelling of an IPv6 address or an IDN in another form is another
// origin, as browsers send one form only. "null" (sandboxed pages, file://) matches nothing.
// Same-origin compares host and port with the Host header; the Host header has no scheme, so a
// Host without a port takes the default port of the Origin's scheme (80 for http/ws, 443 for
// https/wss), and only those four schemes can be same-origin. Behind a proxy that rewrites Host,
// list the public origin in `allowed`.
struct WSX_API OriginPolicy {
  enum class Mode : std::uint8_t {
    any,          // every Origin
    same_origin,  // the Origin's host and port are the Host header's, or it is in `allowed`
    allow_list,   // one of `allowed` only ("https://example.com")
  };
  Mode mode = Mode::same_origin;
  std::vector<std::string> allowed;
  bool required = false;

  static OriginPolicy allow_any() { return {Mode::any, {}, false}; }
  // `also_allowed`: pages on other origins that may connect as well.
  static OriginPolicy same_origin(bool required = false,
                                  std::vector<std::string> also_allowed = {}) {
    return {Mode::same_origin, std::move(also_allowed), required};
  }
  static OriginPolicy allow(std::vector<std::string> origins, bool required = false) {
    return {Mode::allow_list, std::move(origins), required};
  }
  bool permits(std::optional<std::string_view> origin, std::string_view host) const;
};

namespace detail {
struct PendingUpgrade;
}
namespace server {
class ResponderFactory;
}

// Answers one upgrade_async request, exactly once, from any thread: the decision is posted to
// the connection's thread and applied there as a synchronous one would be. Movable, not
// copyable. Answering a connection that no longer waits (the client left, the handshake
// timeout answered 503, the server stopped) does nothing. A responder destroyed (or assigned
// over) without answering rejects with 500: a forgotten responder never leaves a client
// hanging until the timeout.
class WSX_API UpgradeResponder {
 public:
  UpgradeResponder() = default;  // answers nothing
  UpgradeResponder(UpgradeResponder&& other) noexcept = default;
  UpgradeResponder& operator=(UpgradeResponder&& other) noexcept;
  ~UpgradeResponder();

  // False when this responder already answered (or is empty), or the connection no longer
  // waits; true when the decision was posted (the client may still leave before it applies).
  bool respond(UpgradeDecision decision);
  bool accept(std::string subprotocol = {}, std::any user_data = {},
              proto::HeaderList headers = {});
  bool reject(int status, std::string body = {}, proto::HeaderList headers = {});
  // Any thread: the client is still connected and waiting for this responder's answer.
  bool connection_alive() const noexcept;

 private:
  friend class server::ResponderFactory;
  explicit UpgradeResponder(std::shared_ptr<detail::PendingUpgrade> pending) noexcept
      : pending_(std::move(pending)) {}
  void abandon() noexcept;

  std::shared_ptr<detail::PendingUpgrade> pending_;
};

// The long-polling fallback of a route (docs/long-polling-protocol.md): for clients whose
// network strips Upgrade (wsx.js falls back to it by itself). The same callbacks, checks and
// limits as the route's WebSocket connections; WebSocket::transport() tells them apart.
struct WSX_API LongPolling {
  std::chrono::milliseconds poll{25000};     // the longest a receive request is held
  std::chrono::milliseconds timeout{60000};  // no request for this long: closed with 1006
  // Server::stop() closes a session with 1001 as a WebSocket; its client, when it holds no
  // receive request (between two polls), has this long for its next one (and then between its
  // requests) to get the close frame and answer it. A client that does not poll again is gone:
  // its session ends with 1006 without holding the stop for close_timeout.
  std::chrono::milliseconds stop_grace{500};
};

// One route: its upgrade policy, its options and its callbacks (see WebSocketHandlers).
struct WSX_API Behavior {
  std::function<UpgradeDecision(const UpgradeRequest&)> upgrade;  // empty: accept all
  // Instead of `upgrade` (setting both is an error): called after the same checks, on the
  // server thread; it must return quickly and answer later through the responder. Bytes the
  // client sends meanwhile (frames right behind its request) are kept, up to
  // ServerOptions::max_early_data, and delivered once accepted.
  std::function<void(const UpgradeRequest&, UpgradeResponder)> upgrade_async;
  std::vector<std::string> subprotocols;  // our preference; the first one the client offers wins
  OriginPolicy origin;
  std::size_t max_message_size = WebSocketOptions{}.max_message_size;
  std::chrono::milliseconds idle_timeout = WebSocketOptions{}.idle_timeout;
  std::chrono::milliseconds idle_ping_wait = WebSocketOptions{}.idle_ping_wait;
  std::chrono::milliseconds close_timeout = WebSocketOptions{}.close_timeout;
  std::size_t max_backpressure = WebSocketOptions{}.max_backpressure;
  BackpressurePolicy backpressure_policy = WebSocketOptions{}.backpressure_policy;
  // Accept permessage-deflate offers with these parameters (nullopt: decline them). The
  // tuning (level, memLevel, window, threshold) is how our compressor runs.
  std::optional<proto::DeflateServerOptions> deflate;
  // Require a CSRF token (see csrf.hpp), checked after the Origin and before `upgrade` /
  // `upgrade_async`: without a valid one, 403 with the reason ("csrf token expired").
  std::optional<CsrfCheck> csrf;
  // Offer the long-polling fallback on this route (off by default: a route accepts only what
  // it asked for). Its open request passes exactly the checks of an upgrade (Origin, CSRF,
  // address limits, `upgrade` / `upgrade_async`, subprotocols); every later request must come
  // from the same Origin with the same token. No permessage-deflate on this transport.
  std::optional<LongPolling> long_polling;

  std::function<void(WebSocket&)> open;
  std::function<void(WebSocket&, Message)> message;
  // Streaming receive (see websocket.hpp): messages arrive in pieces here, `message` is unused.
  // For uploads larger than memory, raise max_message_size with it.
  std::function<void(WebSocket&, Fragment)> fragment;
  std::function<void(WebSocket&)> drain;
  std::function<void(WebSocket&, std::span<const std::uint8_t>)> ping;
  std::function<void(WebSocket&, std::span<const std::uint8_t>)> pong;
  std::function<void(WebSocket&, const CloseInfo&)> close;
  // Every frame of the route's connections, for traces (see WebSocketHandlers::frame).
  std::function<void(WebSocket&, bool outgoing, const proto::FrameHeader&,
                     std::span<const std::uint8_t> payload)>
      frame;
};

struct WSX_API ServerTlsOptions {
  std::string certificate_chain_file;  // PEM, leaf first
  std::string private_key_file;        // PEM
  std::string client_ca_file;          // request client certificates signed by this CA
  bool require_client_certificate = false;
};

// Limits per client address, checked as a connection is accepted (plain HTTP requests too: each
// connection is one handshake; with ServerOptions::defer_accept, once its first bytes are there),
// before anything is read: one client cannot take the server's
// connections or its handshake CPU (TLS) from the others. A client is an IPv4 address or an IPv6
// network of `ipv6_prefix_length` bits. Over the rate: 429 with Retry-After (when the next
// handshake would pass); over the count: 503 with Retry-After: 5. Each refusal is counted
// (Server::address_limit_stats) and reaches access_log with its reason.
//
// Loopback clients (this machine) are exempt by default: they are the developer's browser, the
// tests, `wsx bench` and a reverse proxy on the same host (whose clients would otherwise share
// one loopback address and one limit); exempt_loopback = false limits them too.
struct WSX_API AddressLimits {
  std::size_t max_connections = 1024;  // open and handshaking, per client; 0: no limit
  double handshakes_per_second = 50;   // the bucket's refill; 0: no limit
  double handshake_burst = 200;        // the bucket's size (at least 1)
  bool exempt_loopback = true;
  unsigned ipv6_prefix_length = 64;
};

struct WSX_API AddressLimitStats {
  std::uint64_t refused_rate = 0;         // 429s
  std::uint64_t refused_connections = 0;  // 503s
};

struct WSX_API ServerOptions {
  unsigned threads = 0;                  // 0: one per hardware thread
  std::size_t max_connections = 100000;  // handshaking ones included; more get 503
  AddressLimits address_limits;          // per client address
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);  // TLS included
  // Every listener defers accepting a connection until the client's first bytes (its request,
  // TLS ClientHello, HTTP/2 preface) are there — TCP_DEFER_ACCEPT, Linux — and reads them at once:
  // fewer system calls and wake-ups per handshake, and a client that connects without speaking
  // costs the kernel a pending connection, not a descriptor and a session. max_connections and
  // address_limits then apply when the request arrives (still answered 503/429).
  // Linux rounds the period up to its SYN-ACK retransmission schedule (1, 3, 7, 15 ... s); a
  // client still silent then is accepted all the same and handshake_timeout starts: such a
  // client is dropped within the rounded period plus handshake_timeout. 0: off, a connection is
  // accepted as soon as its TCP handshake ends; elsewhere than Linux it is always off.
  std::chrono::seconds defer_accept = std::chrono::seconds(1);
  std::size_t max_head_size = 8192;  // request head bytes; more → 431
  std::size_t max_headers = 64;      // more → 431
  // Bytes a client may send behind its request while an upgrade_async decision is pending;
  // more drops the connection.
  std::size_t max_early_data = 64 * 1024;
  // A ceiling on the bytes held for all connections together (all threads): messages being
  // assembled and output not yet sent. Near it, the connections holding the most stop reading
  // (light ones go on); at it, every connection holding anything does; a connection still
  // stopped after `over_budget_timeout` while the server stays over is closed with 1013 (try
  // again later), the heaviest first. It bounds what peers that send without reading can make
  // the server hold (each may otherwise hold its max_backpressure plus a message). What one
  // read per connection brings may pass it briefly. 0: no ceiling.
  std::size_t max_buffered_bytes = 128 * 1024 * 1024;
  std::chrono::milliseconds over_budget_timeout = std::chrono::seconds(2);
  // stop(): how long connections get to answer close 1001 before they are dropped.
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(5);
  // Each thread sends what one pass of its event loop has for its connections in one io_uring
  // submission instead of one system call per connection (io::EventLoopOptions::batch_sends),
  // where the kernel offers io_uring; false writes each connection on its own.
  bool batch_sends = true;
  // Throughput over latency (io::EventLoopOptions::coalesce_wait), off by default, at most
  // 10 ms (the constructor throws std::invalid_argument beyond): each thread, woken by fewer
  // than 16 ready descriptors, first sleeps this long so that one pass serves more. Saves CPU
  // where many connections keep sending; adds up to this pause plus the kernel's timer slack
  // to their messages' latency, and slows a peer that waits for each answer with few messages
  // in flight.
  std::chrono::microseconds coalesce_wait{0};
  // run(): SIGINT / SIGTERM start a graceful stop(), whichever thread takes them (threads the
  // application started before run() included); the previous handlers are back once run()
  // returns. Every server of the process that handles signals stops on the same signal. A
  // watcher that cannot be installed or fails goes to error_hook (ErrorSource::signals).
  // SIGINT found ignored at run() stays ignored (a background job of a shell script); SIGTERM
  // is taken even then (io/signal_watcher.hpp).
  bool handle_signals = false;
  std::optional<ServerTlsOptions> tls;  // wss:// on every listener
  // HTTP/2 on the TLS listeners: ALPN offers h2 before http/1.1, and a client that picks it
  // sends its requests as streams of one connection. Plain requests are answered by `http` as
  // over HTTP/1.1; a WebSocket opens as a stream (RFC 8441 extended CONNECT, announced with
  // SETTINGS_ENABLE_CONNECT_PROTOCOL) through the same route, Origin, CSRF and upgrade
  // decision, answered 200, and runs with the same API (WebSocket::transport() is http2);
  // HTTP/2 flow control follows its backpressure both ways. Limits per connection: 100
  // streams at once, 16 KiB of header fields, and nghttp2's defences against CONTINUATION,
  // rapid-reset, SETTINGS and PING floods. stop() sends 1001 to its WebSockets, then GOAWAY.
  // Each WebSocket stream counts like a connection: against max_connections and its client's
  // AddressLimits (a handshake token and a connection), refused with 503 or 429 on its stream.
  // Off by default for now. Without `tls` it changes nothing (see http2_prior_knowledge).
  bool http2 = false;
  // HTTP/2 without TLS (h2c) on plain listeners, for clients that know the server speaks it
  // (RFC 9113 §3.3, curl --http2-prior-knowledge): a connection whose first bytes are the HTTP/2
  // client preface is served as `http2` describes; anything else is HTTP/1.1 as always. No
  // Upgrade: h2c. Off by default; with `tls` it changes nothing (ALPN chooses there).
  bool http2_prior_knowledge = false;
  // Answers plain HTTP requests (no Upgrade header) on paths no route matches — a page, files —
  // instead of 404. The connection closes after the answer (Connection: close); a HEAD request
  // gets the head only. Runs on a server thread: it must not block for long.
  std::function<proto::HttpResponse(const HttpRequest&)> http;
  // Called once per answered request (upgrade accepted or refused, plain HTTP, 503), on the
  // thread that answered it.
  std::function<void(const AccessRecord&)> access_log;
  // Exceptions from the application's callbacks, failed TLS handshakes, signal watcher failures
  // (see error_report.hpp for the policy). Empty: one line per failure on stderr.
  ErrorHook error_hook;
  // Where the server counts its wsx_ metrics (see metrics.hpp), shared with what else the
  // application (or a broker) registers there. Empty: the server makes its own (metrics()).
  std::shared_ptr<MetricsRegistry> metrics;
  // Topics across processes (see broker.hpp; make_redis_broker in redis_broker.hpp). Empty:
  // topics reach this server's connections only. The broker runs on the first server thread.
  std::shared_ptr<Broker> broker;
};

class WSX_API Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Throws std::invalid_argument when the behavior sets both upgrade and upgrade_async.
  Server& route(std::string pattern, Behavior behavior);

  // Binds `host` (an IP literal, or "localhost" for 127.0.0.1) on every thread. Port 0 picks a
  // free port: see port(). Call before run(); may be called for several addresses. The threads
  // share the port (SO_REUSEPORT) with each other only: errc::address_in_use when any other
  // socket listens there (another process, another Server, this one's earlier listen()).
  // [[nodiscard]]: a failure left unchecked is a server that serves nothing.
  [[nodiscard]] std::error_code listen(std::string_view host, std::uint16_t port);
  // The port of the first listen() (the one picked for port 0), 0 before it. Any thread; it
  // stays the same after stop().
  std::uint16_t port() const noexcept;
  // Why the TLS context could not be created (certificate or key file), empty if fine.
  const std::string& tls_error() const noexcept;

  // Serves until stop() (or a signal with handle_signals) and the graceful shutdown are done.
  // Thread 0 is the calling thread. A server runs once: once run() has returned, publish()
  // and the connections' handles return false (nothing is queued), and run() returns at once.
  // Throws std::logic_error, and serves nothing, when no listen() has succeeded (not called,
  // or its error went unchecked): it would otherwise wait for connections that cannot come,
  // silently, forever. The server may still listen() and run() after that.
  void run();
  // Any thread: stop accepting, close every connection with 1001, wait for the answers up to
  // shutdown_timeout, then run() returns.
  void stop();

  // Any thread: frames the message once and queues it on every subscriber of `topic`. Without
  // a broker, false when some server thread could not take it (run() has returned).
  // With a broker every node's subscribers get it, framed once per node. False: the broker
  // refused it at once (not connected, or its queue of pending publishes is full), and no
  // subscriber on any node gets it — tell the sender, or try again later. True: the broker took
  // it; should the connection to the broker drop before the broker confirmed it, it may still be
  // lost, which the broker counts (BrokerCounters::publish_failures, the metric
  // wsx_broker_publish_failures_total) and logs, but cannot report here.
  bool publish(std::string_view topic, std::span<const std::uint8_t> data,
               MessageKind kind = MessageKind::binary);
  bool publish(std::string_view topic, std::string_view text, MessageKind kind = MessageKind::text);

  std::size_t connections() const noexcept;                // open or handshaking, all threads
  AddressLimitStats address_limit_stats() const noexcept;  // refusals so far, all threads
  // Any thread: writes the server threads made through their io_uring batch so far
  // (ServerOptions::batch_sends; io::EventLoop::batched_writes), all threads. 0 where the kernel
  // offers no io_uring or batching is off: how to tell that batched sends are in effect.
  std::uint64_t batched_writes() const noexcept;
  // Any thread: pauses the server threads took before handling a wake-up
  // (ServerOptions::coalesce_wait), all threads. 0 with the pause off.
  std::uint64_t coalescing_pauses() const noexcept;
  unsigned threads() const noexcept;
  // The registry the server counts in (ServerOptions::metrics or its own); serve it with
  // metrics_response() (metrics_endpoint.hpp).
  MetricsRegistry& metrics() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsx
