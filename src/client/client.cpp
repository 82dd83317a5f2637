#include "wsx/client.hpp"

#include <strings.h>

#include <stdexcept>
#include <system_error>
#include <utility>

#include "aggregate_fields.hpp"
#include "connect_error.hpp"
#include "h2_client_connection.hpp"
#include "h2_handshake_driver.hpp"
#include "handshake_driver.hpp"
#include "http2_pool_impl.hpp"
#include "proxy_negotiation.hpp"
#include "proxy_tunnel.hpp"
#include "reconnect_policy.hpp"
#include "redirect.hpp"
#include "session/callback_exception.hpp"
#include "session/session.hpp"
#include "session/tcp_carrier.hpp"
#include "wsx/io/racing_connector.hpp"
#include "wsx/io/resolver.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/proto/handshake.hpp"

namespace wsx {

// ClientHandlers = WebSocketHandlers' callbacks + error + done: a callback added to
// WebSocketHandlers must be added to ClientHandlers, and wired in Impl below.
static_assert(client_detail::aggregate_member_count<ClientHandlers>() ==
                  client_detail::aggregate_member_count<WebSocketHandlers>() + 2,
              "ClientHandlers must repeat every callback of WebSocketHandlers");

namespace {

// One resolver for every client of the process: its worker threads are shared instead of
// started per client (a load generator may hold thousands of clients).
io::Resolver& shared_resolver() {
  static io::Resolver resolver;
  return resolver;
}

}  // namespace

struct Client::Impl final : session::SessionOwner,
                            client_detail::HandshakeListener,
                            client_detail::H2Waiter {
  enum class State : std::uint8_t {
    idle,
    resolving,
    connecting,
    tunneling,   // through the proxy, before the WebSocket handshake
    h2_waiting,  // for an HTTP/2 connection of the pool to be ready
    handshaking,
    open,
    waiting
  };

  Impl(io::EventLoop& event_loop, ClientOptions client_options, ClientHandlers client_handlers)
      : loop(event_loop),
        options(std::move(client_options)),
        handlers(std::move(client_handlers)),
        backoff(options.reconnect, options.reconnect_seed),
        connector(event_loop) {
    config.options = options.websocket;
    if (options.deflate) config.deflate_tuning = options.deflate->tuning;
    config.error_hook = &options.error_hook;
    config.route = options.url;
    config.handlers.open = [this](WebSocket& ws) { on_open(ws); };
    config.handlers.message = [this](WebSocket& ws, Message message) {
      if (handlers.message) handlers.message(ws, message);
    };
    if (handlers.fragment) {  // set only when asked for: it switches the session to pieces
      config.handlers.fragment = [this](WebSocket& ws, Fragment piece) {
        handlers.fragment(ws, piece);
      };
    }
    // Copied only when set: the session observes frames only when a frame handler exists.
    config.handlers.frame = handlers.frame;
    config.handlers.drain = [this](WebSocket& ws) {
      if (handlers.drain) handlers.drain(ws);
    };
    config.handlers.ping = [this](WebSocket& ws, std::span<const std::uint8_t> payload) {
      if (handlers.ping) handlers.ping(ws, payload);
    };
    config.handlers.pong = [this](WebSocket& ws, std::span<const std::uint8_t> payload) {
      if (handlers.pong) handlers.pong(ws, payload);
    };
    config.handlers.close = [this](WebSocket& ws, const CloseInfo& info) {
      close_code = info.code;
      close_clean = info.clean;
      if (handlers.close) handlers.close(ws, info);
    };
  }

  ~Impl() {
    cancel_pending();
    delete session;  // no callback follows: the session's own destructor reports nothing
    session = nullptr;
  }

  void connect();
  void close(std::uint16_t code, std::string_view reason);
  void aim_at(Url target);
  void start_attempt();
  void resolve(const std::string& host, std::uint16_t port, bool of_proxy,
               std::function<void(io::ResolveResult)> then);
  void on_resolved(io::ResolveResult result);
  void on_target_resolved_for_socks(io::ResolveResult result);
  void race_addresses();
  void open_tunnel(io::TcpSocket socket);
  void on_connected(io::TcpSocket socket);
  void start_http1(io::TcpSocket socket, std::optional<io::TlsSession> tls_session);
  // HTTP/2 (options.http2): wanted for this attempt; the pool; its key for the URL.
  bool wants_h2() const noexcept { return options.http2 && url.secure && !proxy && !h1_only; }
  Http2Pool::Impl& h2_pool();
  std::string h2_key() const;
  void wait_for(client_detail::H2ClientConnection& connection);
  bool follow_redirect(ClientError& error);
  void on_open(WebSocket& ws);
  void fail(ClientError error);
  void retry_or_finish(std::optional<ClientError> error);
  void finish();
  void report_error_to_handler(const ClientError& error);
  void cancel_pending() noexcept;

  // session::SessionOwner
  void release(session::Session& finished) noexcept override;
  // client_detail::HandshakeListener
  void handshake_accepted(const proto::HttpHead& response,
                          const proto::ClientHandshakeResult& result) override;
  void handshake_failed(ClientError error) override { pending_error = std::move(error); }
  void handshake_unprocessed(ClientError error) override {
    pending_error = std::move(error);
    unprocessed = true;
  }
  // client_detail::H2Waiter
  void h2_ready(client_detail::H2ClientConnection& connection) override;
  void h2_unavailable(std::optional<io::Stream::Released> tls_connection,
                      std::string_view why) override;
  void h2_failed(ClientError error) override;
  void h2_full() override {
    h2_connection = nullptr;
    start_attempt();
  }
  void h2_goaway(ClientError error) override;
  // A GOAWAY cost this attempt a stream the server never processed: once per run, the attempt
  // starts again on a new connection (RFC 9113 §6.8: such requests are safe to retry). False
  // when it already did.
  bool retry_after_goaway();

  io::EventLoop& loop;
  ClientOptions options;
  ClientHandlers handlers;
  session::SessionConfig config;
  Url url;  // where the current attempt goes: options.url, or where a redirect led
  Url first_url;
  std::optional<Proxy> proxy;
  std::optional<io::SocketAddress> socks_target;  // socks5:// resolves the target here
  std::unique_ptr<client_detail::ProxyTunnel> tunnel;
  unsigned redirects = 0;
  std::optional<io::TlsContext> tls;
  std::optional<io::TlsContext> tls_h2;  // ALPN h2, http/1.1 (options.http2)
  std::shared_ptr<Http2Pool> pool;       // options.http2_pool, or one of our own
  client_detail::H2ClientConnection* h2_connection = nullptr;  // while h2_waiting
  bool h1_only = false;               // this run: the server has no WebSockets over HTTP/2
  bool retried_after_goaway = false;  // this run: see retry_after_goaway()
  bool unprocessed = false;           // the handshake failing now never reached the server
  bool over_h2 = false;               // the session is a stream of an HTTP/2 connection
  proto::ClientRequestOptions request;
  Backoff backoff;
  io::RacingConnector connector;
  io::ResolveRequest resolve_request;
  io::TimerId timer = 0;  // resolution deadline or reconnect delay
  std::vector<io::SocketAddress> addresses;
  session::Session* session = nullptr;
  State state = State::idle;
  bool user_closed = false;
  std::uint64_t generation = 0;  // bumped by connect(): tells a stale `done` from a new run
  std::optional<ClientError> pending_error;
  std::uint16_t close_code = 1006;
  bool close_clean = false;
  HeaderList response_headers;
  std::optional<proto::DeflateParams> deflate;
  std::string address;
  std::size_t opened = 0;
  std::size_t failed = 0;
};

void Client::Impl::connect() {
  if (state != State::idle) return;
  UrlParseResult parsed = parse_url(options.url);
  if (!parsed.ok())
    throw std::invalid_argument("invalid URL \"" + options.url + "\": " + parsed.error);
  request = {};
  request.origin = options.origin;
  request.subprotocols = options.subprotocols;
  request.deflate = options.deflate;
  request.extra_headers = options.extra_headers;
  h1_only = false;
  retried_after_goaway = false;
  first_url = *parsed.url;
  aim_at(std::move(*parsed.url));
  proto::ClientHandshake check(request);  // throws std::invalid_argument for unsafe options
  user_closed = false;
  ++generation;
  backoff.reset();
  failed = 0;
  redirects = 0;
  start_attempt();
}

// Points the next attempt at `target` (the URL given, or a redirect's): the request's host and
// target, and a TLS context when it is the first wss:// one.
void Client::Impl::aim_at(Url target) {
  url = std::move(target);
  config.route = url.to_string();
  // Each hop may need its own proxy (a redirect from ws:// to wss:// goes from http_proxy's
  // to https_proxy's, or to a host in no_proxy).
  const std::string proxy_url = options.proxy_for ? options.proxy_for(url) : options.proxy;
  proxy.reset();
  if (!proxy_url.empty()) {
    ProxyParseResult parsed_proxy = parse_proxy_url(proxy_url);
    if (!parsed_proxy.ok()) throw std::invalid_argument("proxy: " + parsed_proxy.error);
    proxy = std::move(parsed_proxy.proxy);
  }
  if (url.secure && !tls) {
    io::TlsClientOptions tls_options;
    tls_options.ca_file = options.tls.ca_file;
    tls_options.use_system_ca = options.tls.use_system_ca;
    tls_options.insecure_skip_verify = options.tls.insecure_skip_verify;
    tls_options.certificate_chain_file = options.tls.certificate_chain_file;
    tls_options.private_key_file = options.tls.private_key_file;
    io::TlsContext context = io::TlsContext::client(tls_options);
    if (!context.ok()) throw std::invalid_argument("TLS configuration: " + context.error());
    tls = std::move(context);
    if (options.http2) {
      tls_options.alpn = {"h2", "http/1.1"};
      io::TlsContext h2_context = io::TlsContext::client(tls_options);
      if (!h2_context.ok()) throw std::invalid_argument("TLS configuration: " + h2_context.error());
      tls_h2 = std::move(h2_context);
    }
  }
  request.host = url.host;
  request.port = url.port;
  request.secure = url.secure;
  request.target = url.target();
}

void Client::Impl::start_attempt() {
  state = State::resolving;
  pending_error.reset();
  addresses.clear();
  socks_target.reset();
  if (wants_h2()) {
    // A connection of the pool to this origin that takes another stream: no TCP, no TLS.
    if (client_detail::H2ClientConnection* shared = h2_pool().find(h2_key())) {
      address = shared->remote_address();
      wait_for(*shared);
      return;
    }
  }
  if (!proxy) {
    address = url.authority();
    resolve(url.host, url.port, false,
            [this](io::ResolveResult result) { on_resolved(std::move(result)); });
  } else if (proxy->kind == ProxyKind::socks5 && !io::is_ip_literal(url.host)) {
    // socks5:// (as curl): the target's name is resolved here, its address goes to the proxy.
    address = url.authority();
    resolve(url.host, url.port, false,
            [this](io::ResolveResult result) { on_target_resolved_for_socks(std::move(result)); });
  } else {
    address = proxy->authority();
    resolve(proxy->host, proxy->port, true,
            [this](io::ResolveResult result) { on_resolved(std::move(result)); });
  }
}

void Client::Impl::on_target_resolved_for_socks(io::ResolveResult result) {
  if (timer != 0) loop.cancel(timer);
  timer = 0;
  if (!result.ok()) {
    ClientError error;
    error.kind = ClientErrorKind::resolve_failed;
    error.message = "cannot resolve \"" + url.host + "\" (socks5:// resolves the target here; " +
                    "socks5h:// lets the proxy do it): " +
                    (result.error.empty() ? std::string("no address") : result.error);
    fail(std::move(error));
    return;
  }
  socks_target = io::interleave_families(result.addresses).front();
  address = proxy->authority();
  resolve(proxy->host, proxy->port, true,
          [this](io::ResolveResult proxy_result) { on_resolved(std::move(proxy_result)); });
}

void Client::Impl::resolve(const std::string& host, std::uint16_t port, bool of_proxy,
                           std::function<void(io::ResolveResult)> then) {
  state = State::resolving;
  resolve_request = shared_resolver().resolve(loop, host, port, std::move(then));
  if (options.connect_timeout.count() > 0) {
    timer = loop.run_after(options.connect_timeout, [this, host, of_proxy] {
      timer = 0;
      resolve_request.cancel();
      ClientError error;
      error.kind = of_proxy ? ClientErrorKind::proxy_unreachable : ClientErrorKind::resolve_failed;
      error.message = std::string(of_proxy ? "resolving the proxy \"" : "resolving \"") + host +
                      "\" did not finish within " +
                      std::to_string(options.connect_timeout.count()) + " ms";
      fail(std::move(error));
    });
  }
}

void Client::Impl::on_resolved(io::ResolveResult result) {
  if (timer != 0) loop.cancel(timer);
  timer = 0;
  if (!result.ok()) {
    ClientError error;
    const std::string why = result.error.empty() ? std::string("no address") : result.error;
    if (proxy) {
      error.kind = ClientErrorKind::proxy_unreachable;
      error.message = "cannot resolve the proxy \"" + proxy->host + "\": " + why;
    } else {
      error.kind = ClientErrorKind::resolve_failed;
      error.message = "cannot resolve \"" + url.host + "\": " + why;
    }
    fail(std::move(error));
    return;
  }
  addresses = io::interleave_families(result.addresses);
  race_addresses();
}

void Client::Impl::race_addresses() {
  address = addresses.front().to_string();
  state = State::connecting;
  io::RaceOptions race_options;
  race_options.attempt_delay = options.connection_attempt_delay;
  race_options.timeout = options.connect_timeout;
  connector.connect(
      addresses,
      [this](io::RaceResult race) {
        if (race.ok()) {
          address = race.address.to_string();
          if (proxy) {
            open_tunnel(std::move(race.socket));
          } else {
            on_connected(std::move(race.socket));
          }
          return;
        }
        ClientError failure =
            client_detail::connect_error(race, addresses.size(), options.connect_timeout);
        address = failure.address;
        if (proxy) {
          failure.kind = ClientErrorKind::proxy_unreachable;
          failure.message =
              "the proxy " + proxy->to_string() + " is unreachable: " + failure.message;
        }
        fail(std::move(failure));
      },
      race_options);
}

void Client::Impl::open_tunnel(io::TcpSocket socket) {
  state = State::tunneling;
  client_detail::TunnelTarget target;
  target.host = url.host;
  target.port = url.port;
  target.resolved = socks_target;
  std::unique_ptr<client_detail::ProxyNegotiation> negotiation =
      proxy->kind == ProxyKind::http
          ? client_detail::make_http_connect(*proxy, target, options.max_response_head)
          : client_detail::make_socks5(*proxy, target);
  tunnel = std::make_unique<client_detail::ProxyTunnel>(
      loop, std::move(socket), std::move(negotiation), proxy->to_string(),
      options.handshake_timeout, [this](io::TcpSocket tunneled, std::optional<ClientError> error) {
        tunnel.reset();  // allowed from here (see ProxyTunnel::Done)
        if (error) {
          if (error->address.empty()) error->address = address;
          fail(std::move(*error));
          return;
        }
        if (options.handshake_trace.proxy) {
          const std::string how = proxy->kind == ProxyKind::http ? "HTTP CONNECT" : "SOCKS5";
          try {
            options.handshake_trace.proxy("tunnel to " + url.authority() + " through " + how +
                                          " proxy " + proxy->to_string() + " (" + address + ")");
          } catch (...) {
            session::report_current_exception(&options.error_hook, "handshake_trace", options.url,
                                              address);
          }
        }
        on_connected(std::move(tunneled));
      });
  tunnel->start();
}

void Client::Impl::on_connected(io::TcpSocket socket) {
  if (wants_h2()) {
    // Another client of the pool may have opened one meanwhile (both connecting at once):
    // that one serves us too, and this socket closes unused.
    if (client_detail::H2ClientConnection* shared = h2_pool().find(h2_key())) {
      wait_for(*shared);
      return;
    }
    client_detail::H2ClientConnection& connection =
        h2_pool().open(std::move(socket), io::TlsSession(*tls_h2, url.host), h2_key(), address,
                       options.handshake_timeout);
    wait_for(connection);
    return;
  }
  std::optional<io::TlsSession> tls_session;
  if (url.secure) tls_session.emplace(*tls, url.host);
  start_http1(std::move(socket), std::move(tls_session));
}

Http2Pool::Impl& Client::Impl::h2_pool() {
  if (!pool) pool = options.http2_pool ? options.http2_pool : std::make_shared<Http2Pool>(loop);
  return pool->impl();
}

// Connections are shared by origin and by everything that makes their TLS sessions differ.
std::string Client::Impl::h2_key() const {
  const ClientTlsOptions& t = options.tls;
  return url.authority() + '\n' + t.ca_file + '\n' + (t.use_system_ca ? "1" : "0") +
         (t.insecure_skip_verify ? "1" : "0") + '\n' + t.certificate_chain_file + '\n' +
         t.private_key_file;
}

void Client::Impl::wait_for(client_detail::H2ClientConnection& connection) {
  state = State::h2_waiting;
  h2_connection = &connection;
  connection.add_waiter(*this);
}

void Client::Impl::h2_ready(client_detail::H2ClientConnection& connection) {
  h2_connection = nullptr;
  client_detail::HandshakeLimits limits;
  limits.max_response_head = options.max_response_head;
  limits.max_error_body = options.max_error_body;
  limits.timeout = options.handshake_timeout;
  auto driver = std::make_unique<client_detail::H2HandshakeDriver>(
      *this, proto::ClientHandshake(request), limits);
  client_detail::H2HandshakeDriver& handshake = *driver;
  handshake.set_trace(options.handshake_trace);
  auto* stream_session = new client_detail::H2StreamSession(
      config, *this, std::move(driver), static_cast<h2::H2StreamHost&>(connection), 0);
  if (!stream_session->start(options.handshake_timeout) ||
      connection.open_stream(*stream_session, handshake) < 0) {
    stream_session->carrier().detach();
    delete stream_session;
    ClientError error;
    error.kind = ClientErrorKind::connection_lost;
    error.address = address;
    error.message = "the HTTP/2 connection to " + address + " could not open a stream";
    fail(std::move(error));
    return;
  }
  session = stream_session;
  over_h2 = true;
  state = State::handshaking;
}

void Client::Impl::h2_unavailable(std::optional<io::Stream::Released> tls_connection,
                                  std::string_view why) {
  h2_connection = nullptr;
  h1_only = true;
  if (options.handshake_trace.http2_fallback) {
    try {
      options.handshake_trace.http2_fallback(why);
    } catch (...) {
      session::report_current_exception(&options.error_hook, "handshake_trace", options.url,
                                        address);
    }
  }
  if (tls_connection) {
    start_http1(std::move(tls_connection->socket), std::move(tls_connection->tls));
    return;
  }
  start_attempt();  // a new TLS connection offering http/1.1 only
}

bool Client::Impl::retry_after_goaway() {
  if (retried_after_goaway) return false;
  retried_after_goaway = true;
  start_attempt();  // the pool no longer offers the connection that said GOAWAY
  return true;
}

void Client::Impl::h2_goaway(ClientError error) {
  h2_connection = nullptr;
  if (retry_after_goaway()) return;
  h2_failed(std::move(error));
}

void Client::Impl::h2_failed(ClientError error) {
  h2_connection = nullptr;
  if (error.address.empty()) error.address = address;
  fail(std::move(error));
}

void Client::Impl::start_http1(io::TcpSocket socket, std::optional<io::TlsSession> tls_session) {
  client_detail::HandshakeLimits limits;
  limits.max_response_head = options.max_response_head;
  limits.max_error_body = options.max_error_body;
  limits.timeout = options.handshake_timeout;
  auto driver = std::make_unique<client_detail::HandshakeDriver>(
      *this, proto::ClientHandshake(request), limits);
  client_detail::HandshakeDriver& handshake = *driver;
  handshake.set_trace(options.handshake_trace);
  session = new session::TcpSession(config, *this, std::move(driver), loop, std::move(socket),
                                    std::move(tls_session));
  if (!session->start(options.handshake_timeout)) {
    delete session;
    session = nullptr;
    ClientError error;
    error.kind = ClientErrorKind::connection_lost;
    error.address = address;
    error.message = "the connection to " + address + " could not be registered on the loop";
    fail(std::move(error));
    return;
  }
  state = State::handshaking;
  handshake.send_request(*session);
}

void Client::Impl::handshake_accepted(const proto::HttpHead& response,
                                      const proto::ClientHandshakeResult& result) {
  response_headers.clear();
  for (const proto::HttpHeader& header : response.headers) {
    response_headers.emplace_back(std::string(header.name), std::string(header.value));
  }
  deflate = result.deflate;
}

void Client::Impl::on_open(WebSocket& ws) {
  state = State::open;
  ++opened;
  failed = 0;
  backoff.reset();
  close_code = 1006;
  close_clean = false;
  if (handlers.open) handlers.open(ws);
}

void Client::Impl::release(session::Session& finished) noexcept {
  const bool was_open = state == State::open;
  const bool never_processed = std::exchange(unprocessed, false);
  if (&finished == session) {
    session = nullptr;
    over_h2 = false;
  }
  delete &finished;
  if (was_open) {
    state = State::idle;
    deflate.reset();
    if (!user_closed && client_detail::should_reconnect_after_close(close_code, close_clean)) {
      retry_or_finish(std::nullopt);
    } else {
      finish();
    }
    return;
  }
  if (user_closed) {
    state = State::idle;
    finish();
    return;
  }
  ClientError error = pending_error.value_or(ClientError{
      ClientErrorKind::connection_lost, "the connection ended during the opening handshake"});
  pending_error.reset();
  if (never_processed && retry_after_goaway()) return;
  if (error.address.empty()) error.address = address;
  fail(std::move(error));
}

void Client::Impl::fail(ClientError error) {
  if (follow_redirect(error)) return;
  ++failed;
  state = State::idle;
  retry_or_finish(std::move(error));
}

// A 3xx answer to the handshake: with follow_redirects, the next attempt goes to its Location
// (no backoff: the server answered); otherwise `error` says where it leads. True when a new
// attempt started; false leaves `error` (perhaps now redirect_failed) to be reported.
bool Client::Impl::follow_redirect(ClientError& error) {
  if (error.kind != ClientErrorKind::handshake_refused ||
      !client_detail::is_redirect_status(error.status))
    return false;
  std::optional<std::string> location;
  for (const auto& [name, value] : error.headers) {
    if (name.size() == 8 && ::strncasecmp(name.c_str(), "Location", 8) == 0) location = value;
  }
  const auto refuse = [&](std::string why) {
    error.kind = ClientErrorKind::redirect_failed;
    error.message += "; " + why;
    return false;
  };
  UrlParseResult next;
  if (location) next = client_detail::resolve_location(url, *location);
  if (!options.follow_redirects) {
    if (next.ok()) {
      error.message +=
          " (a redirect to " + next.url->to_string() + ", not followed: follow_redirects is off)";
    }
    return false;
  }
  if (!location) return refuse("it has no Location header");
  if (!next.ok()) return refuse("its Location \"" + *location + "\" is not usable: " + next.error);
  const std::string next_text = next.url->to_string();
  if (url.secure && !next.url->secure)
    return refuse("refusing to follow a redirect from wss:// to ws:// (" + next_text + ")");
  if (redirects >= options.max_redirects) {
    return refuse("too many redirects (" + std::to_string(redirects) + " followed, the limit is " +
                  std::to_string(options.max_redirects) + "); this one leads to " + next_text);
  }
  const bool same = client_detail::same_origin(url, *next.url);
  try {
    aim_at(std::move(*next.url));
  } catch (const std::exception& e) {
    return refuse(std::string("cannot go to ") + next_text + ": " + e.what());
  }
  ++redirects;
  request.extra_headers = client_detail::headers_for_next_hop(request.extra_headers, same);
  if (options.handshake_trace.redirect) {
    try {
      options.handshake_trace.redirect(error.status, next_text);
    } catch (...) {
      session::report_current_exception(&options.error_hook, "handshake_trace", options.url,
                                        error.address);
    }
  }
  start_attempt();
  return true;
}

void Client::Impl::retry_or_finish(std::optional<ClientError> error) {
  const bool transient = !error || client_detail::is_transient(*error);
  std::optional<std::chrono::milliseconds> delay;
  if (!user_closed && transient) delay = backoff.next();
  if (delay) {
    state = State::waiting;
    timer = loop.run_after(*delay, [this] {
      timer = 0;
      // A new attempt starts from the URL given, with its headers, not where redirects led.
      if (redirects > 0) {
        request.extra_headers = options.extra_headers;
        redirects = 0;
        try {
          aim_at(first_url);
        } catch (const std::exception& e) {  // proxy_for changed its mind: nothing to try
          ClientError no_proxy;
          no_proxy.kind = ClientErrorKind::proxy_failed;
          no_proxy.message = std::string("no proxy for ") + first_url.to_string() + ": " + e.what();
          fail(std::move(no_proxy));
          return;
        }
      }
      start_attempt();
    });
    if (error) {
      error->will_retry = true;
      error->retry_in = *delay;
      report_error_to_handler(*error);
    }
    return;
  }
  const std::uint64_t run = generation;
  if (error) report_error_to_handler(*error);
  // The error handler may have called connect() again: then this run is not done.
  if (run == generation && state == State::idle) finish();
}

// `error` and `done` run outside any connection (there is none to fail): an exception from
// them is reported and the client carries on as if they had returned.
void Client::Impl::report_error_to_handler(const ClientError& error) {
  if (!handlers.error) return;
  try {
    handlers.error(error);
  } catch (...) {
    session::report_current_exception(&options.error_hook, "error", options.url, error.address);
  }
}

void Client::Impl::finish() {
  if (!handlers.done) return;
  try {
    handlers.done();
  } catch (...) {
    session::report_current_exception(&options.error_hook, "done", options.url, address);
  }
}

void Client::Impl::cancel_pending() noexcept {
  if (h2_connection != nullptr) h2_connection->remove_waiter(*this);
  h2_connection = nullptr;
  resolve_request.cancel();
  tunnel.reset();
  connector.cancel();
  if (timer != 0) loop.cancel(timer);
  timer = 0;
}

void Client::Impl::close(std::uint16_t code, std::string_view reason) {
  user_closed = true;
  switch (state) {
    case State::idle:
      return;
    case State::resolving:
    case State::connecting:
    case State::tunneling:
    case State::h2_waiting:
    case State::waiting:
      cancel_pending();
      state = State::idle;
      finish();
      return;
    case State::handshaking:
      if (session != nullptr) session->abort();  // release() follows from the loop, then done
      return;
    case State::open:
      if (session != nullptr && session->close(code, reason) == SendStatus::invalid) {
        session->close(1000);  // an unsendable code or reason must still end the connection
      }
      return;
  }
}

Client::Client(io::EventLoop& loop, ClientOptions options, ClientHandlers handlers)
    : impl_(std::make_unique<Impl>(loop, std::move(options), std::move(handlers))) {}

Client::~Client() = default;

void Client::connect() {
  impl_->connect();
}

void Client::close(std::uint16_t code, std::string_view reason) {
  impl_->close(code, reason);
}

WebSocket* Client::socket() noexcept {
  return impl_->state == Impl::State::open ? impl_->session : nullptr;
}

bool Client::is_open() const noexcept {
  return impl_->state == Impl::State::open && impl_->session != nullptr &&
         impl_->session->is_open();
}

SendStatus Client::send(std::string_view text, MessageKind kind) {
  WebSocket* ws = socket();
  return ws != nullptr ? ws->send(text, kind) : SendStatus::closed;
}

SendStatus Client::send(std::span<const std::uint8_t> data, MessageKind kind) {
  WebSocket* ws = socket();
  return ws != nullptr ? ws->send(data, kind) : SendStatus::closed;
}

const Url& Client::url() const noexcept {
  return impl_->url;
}
const HeaderList& Client::response_headers() const noexcept {
  return impl_->response_headers;
}
const std::optional<proto::DeflateParams>& Client::deflate() const noexcept {
  return impl_->deflate;
}
const std::string& Client::address() const noexcept {
  return impl_->address;
}
bool Client::uses_http2() const noexcept {
  return impl_->state == Impl::State::open && impl_->over_h2;
}
std::size_t Client::connections_opened() const noexcept {
  return impl_->opened;
}
std::size_t Client::failed_attempts() const noexcept {
  return impl_->failed;
}

}  // namespace wsx
