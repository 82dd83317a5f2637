// `wsx serve`: a ready WebSocket server — /echo, /chat[/ROOM], a web console at "/", optional
// static files — with an access line per request and a summary on exit.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "frame_trace.hpp"
#include "help_format.hpp"
#include "number_check.hpp"
#include "serve_access_log.hpp"
#include "serve_admin.hpp"
#include "serve_broadcast.hpp"
#include "serve_chat_query.hpp"
#include "serve_connections.hpp"
#include "serve_csrf.hpp"
#include "serve_error_log.hpp"
#include "serve_exec.hpp"
#include "serve_listen_address.hpp"
#include "serve_static_files.hpp"
#include "serve_web_console.hpp"
#include "shell_words.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/metrics_endpoint.hpp"
#include "wsx/redis_broker.hpp"
#include "wsx/server.hpp"

namespace wsx::tool {
namespace {

struct ServeArguments {
  std::vector<std::string> listen;
  std::string static_dir;
  std::string cert, key;
  bool http2 = false;
  bool h2c = false;
  std::vector<std::string> allowed_origins;
  std::vector<std::string> allowed_hosts;
  bool allow_any_origin = false;
  std::size_t max_message = WebSocketOptions{}.max_message_size;
  std::size_t max_buffered = ServerOptions{}.max_buffered_bytes;
  bool compress = false;
  unsigned threads = 1;
  double idle_timeout = 120;
  unsigned coalesce_wait_us = 0;  // ServerOptions::coalesce_wait; 0: off
  bool quiet = false;
  bool trace = false;
  std::string admin_token;
  bool csrf = false;
  std::string csrf_secret_file;
  double csrf_lifetime = 3600;
  AddressLimits address_limits;
  bool limit_loopback = false;
  // Script modes: one route at `path`.
  bool broadcast_stdin = false;
  std::string exec;
  std::string path = "/ws";
  bool path_given = false;
  std::size_t max_processes = 64;
  bool exec_binary = false;
  std::string redis;  // redis://HOST:PORT: /chat rooms span every node on that Redis
  std::string redis_ca, redis_cert, redis_key;  // rediss://
  bool redis_insecure = false;
  std::string node;  // this node's name, shown in the console
  std::size_t history = 0;
  double history_age = 0;  // seconds, 0: no age bound
  bool metrics = false;
  std::vector<std::string> metrics_allow;  // CIDR blocks; empty: loopback
};

// What each connection carries (its user_data): the path it asked for, the chat room's topic,
// and its entry in the registry of live connections (the admin endpoint's table).
struct ServeConnection {
  std::string path;
  std::string topic;  // chat routes only
  std::shared_ptr<ConnectionRecord> record;
  std::shared_ptr<ExecTicket> exec;  // --exec routes only
  ChatQuery query;                   // chat routes: positions, recovery (serve_chat_query.hpp)
};

constexpr std::string_view broadcast_topic = "broadcast-stdin";

// Counted on every server thread; printed once on exit.
struct Totals {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> messages{0};
  std::atomic<std::uint64_t> bytes{0};
};

constexpr std::string_view chat_topic_prefix = "chat:";
// A shorter token could be guessed by trying: 16 characters of `openssl rand -hex` are 64 bits.
constexpr std::size_t min_admin_token_size = 16;
constexpr std::string_view host_guard_refusal =
    "this server listens on loopback and answers only Host: localhost or a loopback address "
    "(DNS rebinding); behind a proxy, start it with --allow-host NAME\n";

// "/chat" → the room "", "/chat/lobby" → "lobby".
std::string chat_room(std::string_view path) {
  constexpr std::string_view base = "/chat";
  path.remove_prefix(base.size());
  if (path.starts_with('/')) path.remove_prefix(1);
  return std::string(path);
}

// "12:34:56.789 127.0.0.1:51234 < text fin=1 rsv=000 masked=1 len=5 "hello"": one write per
// line, so that the lines of several threads do not mix.
void trace_line(WebSocket& ws, const std::string& what) {
  const std::string line =
      clock_time(std::chrono::system_clock::now()) + " " + ws.remote_address() + " " + what + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void trace_frame(WebSocket& ws, bool outgoing, const proto::FrameHeader& header,
                 std::span<const std::uint8_t> payload) {
  trace_line(ws, describe_frame(outgoing, header, payload));
}

Behavior base_behavior(const ServeArguments& args, Totals& totals, ConnectionRegistry& registry,
                       const std::optional<ServeCsrf>& csrf, const HostGuard& guard) {
  Behavior behavior;
  if (csrf) behavior.csrf = CsrfCheck{csrf->tokens, csrf->cookie_name};
  // Same-origin by default: the web console (served here) connects, other sites' pages do not.
  behavior.origin = args.allow_any_origin ? OriginPolicy::allow_any()
                                          : OriginPolicy::same_origin(false, args.allowed_origins);
  behavior.max_message_size = args.max_message;
  // An echo of big pipelined messages needs room for two of them in flight.
  behavior.max_backpressure =
      std::max(behavior.max_backpressure, 2 * args.max_message + 1024 * 1024);
  behavior.idle_timeout =
      std::chrono::milliseconds(static_cast<long long>(args.idle_timeout * 1000));
  if (args.compress) behavior.deflate = proto::DeflateServerOptions{};
  behavior.upgrade = [guard](const UpgradeRequest& request) {
    if (!guard.permits(request.header("Host").value_or(""))) {
      return UpgradeDecision::reject(host_guard_status, std::string(host_guard_refusal));
    }
    return UpgradeDecision::accept({}, ServeConnection{std::string(request.path), {}, nullptr});
  };
  behavior.open = [&totals, &registry, trace = args.trace](WebSocket& ws) {
    totals.connections.fetch_add(1);
    ServeConnection* connection = ws.data<ServeConnection>();
    std::string peer = ws.remote_address();
    std::string extensions = accepted_extensions(peer, ws.compressed());
    if (trace) {
      trace_line(ws, describe_open(connection->path, ws.transport(), ws.subprotocol(), extensions));
    }
    connection->record =
        registry.open(std::move(peer), connection->path, std::string(ws.subprotocol()),
                      std::move(extensions), std::string(transport_name(ws.transport())));
  };
  behavior.close = [&registry, trace = args.trace](WebSocket& ws, const CloseInfo& info) {
    if (trace) trace_line(ws, describe_close(info));
    if (const ServeConnection* connection = ws.data<ServeConnection>();
        connection != nullptr && connection->record) {
      registry.close(*connection->record);
    }
  };
  // Counts every data frame both ways (published chat frames included) for the admin table.
  behavior.frame = [trace = args.trace](WebSocket& ws, bool outgoing,
                                        const proto::FrameHeader& header,
                                        std::span<const std::uint8_t> payload) {
    if (const ServeConnection* connection = ws.data<ServeConnection>();
        connection != nullptr && connection->record) {
      connection->record->count_frame(outgoing, header);
    }
    if (trace) trace_frame(ws, outgoing, header, payload);
  };
  return behavior;
}

void count(Totals& totals, const Message& message) {
  totals.messages.fetch_add(1, std::memory_order_relaxed);
  totals.bytes.fetch_add(message.data.size(), std::memory_order_relaxed);
}

// --exec: the base behaviour (registry, counters, origin policy) with a process per connection.
Behavior exec_behavior(Behavior base, ExecSupervisor& exec) {
  base.upgrade = [&exec, upgrade = std::move(base.upgrade)](const UpgradeRequest& request) {
    UpgradeDecision decision = upgrade(request);  // a refusal (CSRF, ...) comes before a 503
    if (!decision.accepted) return decision;
    std::shared_ptr<ExecTicket> ticket = exec.admit(request);
    if (!ticket) return exec.busy();
    std::any_cast<ServeConnection&>(decision.user_data).exec = std::move(ticket);
    return decision;
  };
  base.open = [&exec, open = std::move(base.open)](WebSocket& ws) {
    open(ws);
    exec.start(ws, ws.data<ServeConnection>()->exec);
  };
  base.message = [&exec](WebSocket& ws, Message message) {
    exec.deliver(*ws.data<ServeConnection>()->exec, message);
  };
  base.drain = [&exec](WebSocket& ws) { exec.drained(*ws.data<ServeConnection>()->exec); };
  base.close = [&exec, close = std::move(base.close)](WebSocket& ws, const CloseInfo& info) {
    close(ws, info);
    exec.closed(*ws.data<ServeConnection>()->exec);
  };
  return base;
}

void add_routes(Server& server, const ServeArguments& args, Totals& totals,
                ConnectionRegistry& registry, const std::optional<ServeCsrf>& csrf,
                const HostGuard& guard, ExecSupervisor* exec, const Broker* broker) {
  if (args.broadcast_stdin || exec != nullptr) {
    Behavior base = base_behavior(args, totals, registry, csrf, guard);
    Behavior script = exec != nullptr
                          ? exec_behavior(std::move(base), *exec)
                          : broadcast_behavior(std::move(base), std::string(broadcast_topic));
    // Counted for the summary like the echo's and the chat's.
    script.message = [&totals, handle = std::move(script.message)](WebSocket& ws, Message message) {
      count(totals, message);
      handle(ws, message);
    };
    // PATH and what lies under it (PATH_INFO for --exec).
    server.route(args.path, script);
    server.route(args.path + "/*", std::move(script));
  }
  Behavior echo = base_behavior(args, totals, registry, csrf, guard);
  echo.message = [&totals](WebSocket& ws, Message message) {
    count(totals, message);
    ws.send(message.data, message.kind);
  };
  // Clients whose network strips Upgrade fall back to long polling (wsx.js does by itself).
  echo.long_polling = LongPolling{};
  server.route("/echo", std::move(echo));

  Behavior chat = base_behavior(args, totals, registry, csrf, guard);
  // Replaces base_behavior's upgrade, so it repeats its Host guard (DNS rebinding).
  chat.upgrade = [guard](const UpgradeRequest& request) {
    if (!guard.permits(request.header("Host").value_or(""))) {
      return UpgradeDecision::reject(host_guard_status, std::string(host_guard_refusal));
    }
    std::optional<ChatQuery> query = parse_chat_query(request.query);
    if (!query) return UpgradeDecision::reject(400, "since: expected a position like 1733-0\n");
    return UpgradeDecision::accept(
        {}, ServeConnection{std::string(request.path),
                            std::string(chat_topic_prefix) + chat_room(request.path), nullptr,
                            nullptr, *query});
  };
  chat.open = [open = chat.open](WebSocket& ws) {
    open(ws);
    const ServeConnection& member = *ws.data<ServeConnection>();
    SubscribeOptions options;
    options.positions = member.query.positions;
    options.since = member.query.since;
    if (options.since) {
      // Where the missed messages end and live ones begin, and whether some were lost.
      options.recovered = [](WebSocket& socket, RecoveryStatus status) {
        socket.send("-\n" + std::string(describe(status)), MessageKind::text);
      };
    }
    ws.subscribe(member.topic, std::move(options));
  };
  // Everyone in the room, the sender included: the sender sees its message in the room's order.
  // A message the room refused is answered to its sender alone (serve_chat_query.hpp).
  chat.message = [&totals, &server, broker](WebSocket& ws, Message message) {
    count(totals, message);
    if (!server.publish(ws.data<ServeConnection>()->topic, message.data, message.kind)) {
      ws.send(chat_not_delivered_notice(broker), MessageKind::text);
    }
  };
  chat.long_polling = LongPolling{};
  server.route("/chat", chat);
  server.route("/chat/*", std::move(chat));
}

proto::HttpResponse plain(int status, std::string body) {
  proto::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return response;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The console names the node it came from (several nodes behind one Redis look alike).
void name_node(proto::HttpResponse& page, std::string_view node) {
  if (node.empty()) return;
  constexpr std::string_view brand = "<span class=\"brand\">wsx</span>";
  const std::size_t at = page.body.find(brand);
  if (at != std::string::npos) {
    page.body.insert(at + brand.size(),
                     "\n  <span id=\"node\" class=\"brand\">node " + html_escape(node) + "</span>");
  }
}

// `metrics`: serve the registry at /metrics to the peers `access` permits (null: no /metrics).
std::function<proto::HttpResponse(const HttpRequest&)> http_handler(
    std::shared_ptr<const StaticFiles> files, const ConnectionRegistry& registry,
    std::string admin_token, std::optional<ServeCsrf> csrf, HostGuard guard,
    std::shared_ptr<const MetricsRegistry> metrics, std::shared_ptr<const MetricsAccess> access,
    std::string node) {
  return [files = std::move(files), &registry, admin_token = std::move(admin_token),
          csrf = std::move(csrf), guard = std::move(guard), metrics = std::move(metrics),
          access = std::move(access), node = std::move(node)](const HttpRequest& request) {
    // Before anything: a rebinding page must get neither the console, a token nor the list.
    if (!guard.permits(request.header("Host").value_or(""))) {
      return plain(host_guard_status, std::string(host_guard_refusal));
    }
    // First: no static file can stand in for the admin endpoint.
    if (request.path == admin_connections_path) {
      return admin_response(request, admin_token, registry);
    }
    if (metrics) {
      if (std::optional<proto::HttpResponse> answer =
              metrics_response(*metrics, request, *access)) {
        return *answer;
      }
    }
    if (request.method != "GET" && request.method != "HEAD") {
      proto::HttpResponse response = plain(405, "only GET and HEAD here\n");
      response.headers.emplace_back("Allow", "GET, HEAD");
      return response;
    }
    if (files) {
      if (std::optional<proto::HttpResponse> file = files->lookup(request.path)) return *file;
    }
    if (std::optional<proto::HttpResponse> page = web_console_response(request.path)) {
      if (csrf && (request.path == "/" || request.path == "/index.html")) {
        add_csrf_token(*page, request, *csrf);
      }
      if (request.path == "/") name_node(*page, node);
      return *page;
    }
    return plain(404, "not found\n");
  };
}

bool is_loopback(const ListenAddress& address) {
  if (address.host == "localhost") return true;
  const std::optional<io::SocketAddress> parsed = io::SocketAddress::parse(address.host, 0);
  return parsed && parsed->is_loopback();
}

int serve(const ServeArguments& args) {
  // Blocked from the start: a signal before run() stays pending until the server's watcher
  // unblocks it (then it stops the server at once), and one after run() cannot kill the process
  // before the summary (the watcher puts this mask back).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::vector<ListenAddress> addresses;
  for (const std::string& text :
       args.listen.empty() ? std::vector<std::string>{"127.0.0.1:8080"} : args.listen) {
    std::optional<ListenAddress> address = parse_listen_address(text);
    if (!address) {
      // All three forms --help gives, and the port's range: "--listen 70000" is a port alone,
      // and said only "expected HOST:PORT or [IPv6]:PORT".
      std::fprintf(stderr,
                   "wsx serve: --listen %s: expected HOST:PORT, [IPv6]:PORT or a PORT alone, "
                   "with PORT from 0 to 65535\n",
                   text.c_str());
      return exit_usage;
    }
    // The server reports the port it picked for its first address only.
    if (address->port == 0 && !addresses.empty()) {
      std::fprintf(stderr, "wsx serve: --listen %s: port 0 only for the first address\n",
                   text.c_str());
      return exit_usage;
    }
    addresses.push_back(std::move(*address));
  }
  // Loopback listeners only answer this machine's names (DNS rebinding); see HostGuard.
  HostGuard guard;
  guard.allowed = args.allowed_hosts;
  guard.enabled = std::all_of(addresses.begin(), addresses.end(), [](const ListenAddress& a) {
    return is_loopback_host(a.authority());
  });
  std::shared_ptr<const StaticFiles> files;
  if (!args.static_dir.empty()) {
    files = std::make_shared<const StaticFiles>(args.static_dir);
    if (!files->ok()) {
      std::fprintf(stderr, "wsx serve: --static %s: not a directory\n", args.static_dir.c_str());
      return exit_usage;
    }
  }
  for (const std::string& origin : args.allowed_origins) {
    // An entry that is no origin would never match: say so rather than 403 every page.
    if (!OriginPolicy::allow({origin}).permits(origin, {})) {
      std::fprintf(stderr,
                   "wsx serve: --allow-origin %s: expected SCHEME://HOST[:PORT], e.g. "
                   "https://app.example\n",
                   origin.c_str());
      return exit_usage;
    }
  }
  if (args.cert.empty() != args.key.empty()) {
    std::fprintf(stderr, "wsx serve: --cert and --key go together\n");
    return exit_usage;
  }
  if (args.http2 && args.cert.empty()) {
    std::fprintf(stderr, "wsx serve: --http2 needs --cert and --key (HTTP/2 is offered by ALPN)\n");
    return exit_usage;
  }
  if (args.h2c && !args.cert.empty()) {
    std::fprintf(stderr, "wsx serve: --h2c is HTTP/2 without TLS; with --cert, use --http2\n");
    return exit_usage;
  }
  if (!args.admin_token.empty() && args.admin_token.size() < min_admin_token_size) {
    std::fprintf(stderr,
                 "wsx serve: --admin-token: at least %zu characters (e.g. openssl rand "
                 "-hex 16)\n",
                 min_admin_token_size);
    return exit_usage;
  }
  if (!args.path.starts_with('/') || args.path == "/" || args.path.ends_with('/') ||
      args.path == "/echo" || args.path == "/chat") {
    std::fprintf(stderr, "wsx serve: --path %s: expected /NAME[/NAME...], not /, /echo or /chat\n",
                 args.path.c_str());
    return exit_usage;
  }
  if (args.path_given && !args.broadcast_stdin && args.exec.empty()) {
    std::fprintf(stderr, "wsx serve: --path goes with --exec or --broadcast-stdin\n");
    return exit_usage;
  }
  std::unique_ptr<ExecSupervisor> exec;  // declared before the server: it outlives its routes
  if (!args.exec.empty()) {
    std::optional<std::vector<std::string>> words = split_shell_words(args.exec);
    if (!words) {
      std::fprintf(stderr, "wsx serve: --exec %s: unterminated quote or trailing backslash\n",
                   args.exec.c_str());
      return exit_usage;
    }
    if (words->empty()) {
      std::fprintf(stderr, "wsx serve: --exec: empty command\n");
      return exit_usage;
    }
    if (!command_exists(words->front())) {
      std::fprintf(stderr, "wsx serve: --exec: %s: no such executable%s\n", words->front().c_str(),
                   words->front().find('/') == std::string::npos ? " in PATH" : "");
      return exit_usage;
    }
    // Writing to a process that has exited must fail with EPIPE, not kill the server.
    std::signal(SIGPIPE, SIG_IGN);
    ExecSettings settings;
    settings.argv = std::move(*words);
    settings.max_processes = args.max_processes;
    settings.binary = args.exec_binary;
    settings.quiet = args.quiet;
    settings.max_line = std::min<std::size_t>(args.max_message, settings.max_line);
    settings.site.route = args.path;
    settings.site.tls = !args.cert.empty();
    settings.site.version = WSX_VERSION;
    exec = std::make_unique<ExecSupervisor>(std::move(settings));
  }

  std::optional<ServeCsrf> csrf;
  if (args.csrf || !args.csrf_secret_file.empty()) {
    std::string error, warning;
    csrf = make_serve_csrf(args.csrf_secret_file,
                           std::chrono::seconds(static_cast<long long>(args.csrf_lifetime)),
                           !args.cert.empty(), error, warning);
    if (!csrf) {
      std::fprintf(stderr, "wsx serve: --csrf-secret %s: %s\n", args.csrf_secret_file.c_str(),
                   error.c_str());
      return exit_usage;
    }
    if (!warning.empty()) {
      std::fprintf(stderr, "wsx serve: warning: --csrf-secret %s: %s\n",
                   args.csrf_secret_file.c_str(), warning.c_str());
    }
  }

  std::shared_ptr<const MetricsAccess> metrics_access;
  if (args.metrics || !args.metrics_allow.empty()) {
    try {
      metrics_access = std::make_shared<const MetricsAccess>(args.metrics_allow);
    } catch (const std::invalid_argument& error) {
      std::fprintf(stderr, "wsx serve: --metrics-allow: %s (expected ADDRESS or ADDRESS/BITS)\n",
                   error.what());
      return exit_usage;
    }
  }

  Totals totals;
  ConnectionRegistry registry;
  ErrorLog error_log;
  ServerOptions options;
  options.address_limits = args.address_limits;
  options.address_limits.exempt_loopback = !args.limit_loopback;
  options.metrics = std::make_shared<MetricsRegistry>();
  options.threads = args.threads;
  options.handle_signals = true;
  options.max_buffered_bytes = args.max_buffered;
  options.coalesce_wait = std::chrono::microseconds(args.coalesce_wait_us);
  if (!args.cert.empty()) options.tls = ServerTlsOptions{args.cert, args.key};
  options.http2 = args.http2;
  options.http2_prior_knowledge = args.h2c;
  std::string node = args.node;
  if (node.empty() && !args.redis.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    node = std::string(host) + ":" + std::to_string(getpid());
  }
  std::shared_ptr<RedisBroker> broker;
  if (!args.redis.empty()) {
    RedisBrokerOptions broker_options;
    broker_options.url = args.redis;
    broker_options.history = args.history;
    broker_options.history_age =
        std::chrono::milliseconds(static_cast<long long>(args.history_age * 1000));
    broker_options.tls_ca_file = args.redis_ca;
    broker_options.tls_certificate_file = args.redis_cert;
    broker_options.tls_key_file = args.redis_key;
    broker_options.tls_insecure_skip_verify = args.redis_insecure;
    broker_options.log = [node = node](std::string_view line) {
      const std::string text = "wsx serve: node " + node + ": redis: " + std::string(line) + "\n";
      std::fwrite(text.data(), 1, text.size(), stderr);
    };
    try {
      broker = make_redis_broker(std::move(broker_options));
    } catch (const std::invalid_argument& error) {
      std::fprintf(stderr, "wsx serve: --redis: %s\n", error.what());
      return exit_usage;
    }
    options.broker = broker;
  } else if (args.history > 0) {
    std::fprintf(stderr, "wsx serve: --history needs --redis\n");
    return exit_usage;
  }
  options.http = http_handler(files, registry, args.admin_token, csrf, guard,
                              metrics_access ? options.metrics : nullptr, metrics_access, node);
  options.error_hook = [&error_log](const ErrorReport& report) { error_log.report(report); };
  options.access_log = [&registry, quiet = args.quiet](const AccessRecord& record) {
    const auto now = std::chrono::system_clock::now();
    // 101, or 200 to an extended CONNECT over HTTP/2: the WebSocket opens next on this thread.
    if (record.status == 101 || (record.transport == Transport::http2 &&
                                 record.method == "CONNECT" && record.status == 200)) {
      note_accepted_extensions(record.remote_address, record.extensions);
    }
    // Kept for the console: a browser cannot see why its WebSocket was refused.
    if (record.status >= 400) {
      registry.refused({now, std::string(record.remote_address), without_csrf_token(record.target),
                        std::string(record.origin.value_or("")), record.status});
    }
    if (quiet) return;
    const std::string line = format_access_line(record, now) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line: threads don't mix
  };
  Server server(options);
  if (!server.tls_error().empty()) {
    std::fprintf(stderr, "wsx serve: TLS: %s\n", server.tls_error().c_str());
    return exit_runtime_error;
  }
  add_routes(server, args, totals, registry, csrf, guard, exec.get(), broker.get());

  const std::string ws_scheme = args.cert.empty() ? "ws://" : "wss://";
  const std::string http_scheme = args.cert.empty() ? "http://" : "https://";
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    ListenAddress& address = addresses[i];
    if (args.cert.empty() && !is_loopback(address)) {
      std::fprintf(stderr,
                   "wsx serve: warning: plain ws:// on %s, which is not a loopback address: "
                   "anyone on the network can read and change the traffic; use --cert/--key "
                   "for wss://\n",
                   address.authority().c_str());
    }
    if (const std::error_code error = server.listen(address.host, address.port)) {
      std::fprintf(stderr, "wsx serve: cannot listen on %s: %s\n", address.authority().c_str(),
                   error.message().c_str());
      return exit_connect_failed;
    }
    if (i == 0) address.port = server.port();  // port 0: the one picked
    if (i == 0 && exec) exec->settings().site.server_port = std::to_string(address.port);
    std::fprintf(stderr, "wsx serve: listening on %s (%s/echo, %s/chat, console %s/)\n",
                 address.authority().c_str(), (ws_scheme + address.authority()).c_str(),
                 (ws_scheme + address.authority()).c_str(),
                 (http_scheme + address.authority()).c_str());
    if (metrics_access) {
      std::fprintf(stderr, "wsx serve: metrics at %s/metrics (%s)\n",
                   (http_scheme + address.authority()).c_str(),
                   args.metrics_allow.empty() ? "loopback peers only" : "--metrics-allow peers");
    }
  }
  if (csrf) {
    std::fprintf(stderr,
                 "wsx serve: /echo and /chat require a CSRF token (%s); the console at / has "
                 "one\n",
                 args.csrf_secret_file.empty() ? "secret generated for this run"
                                               : "secret from --csrf-secret");
  }
  if (args.broadcast_stdin || exec) {
    std::fprintf(stderr, "wsx serve: %s at %s%s%s\n", exec ? "--exec" : "--broadcast-stdin",
                 ws_scheme.c_str(), addresses.front().authority().c_str(), args.path.c_str());
  }
  // After the routes exist: no line is read before a client could be there to get it.
  std::unique_ptr<StdinBroadcaster> broadcaster;
  if (args.broadcast_stdin)
    broadcaster = std::make_unique<StdinBroadcaster>(server, std::string(broadcast_topic));
  if (broker) {
    std::fprintf(stderr, "wsx serve: node %s: /chat rooms shared through %s%s\n", node.c_str(),
                 args.redis.c_str(),
                 args.history > 0
                     ? (", history " + std::to_string(args.history) + " per room").c_str()
                     : "");
  }
  const auto started = std::chrono::steady_clock::now();
  server.run();
  if (broadcaster) broadcaster->stop();
  if (exec) exec->shutdown();
  error_log.flush();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // "1 connection, 1 message (1 byte)", not "1 connections, 1 messages (1 bytes)": the line
  // people read last.
  const unsigned long long connections = totals.connections.load();
  const unsigned long long messages = totals.messages.load();
  const unsigned long long bytes = totals.bytes.load();
  std::fprintf(stderr,
               "wsx serve: stopped after %.1f s: %llu connection%s, %llu message%s received "
               "(%llu byte%s)\n",
               seconds, connections, connections == 1 ? "" : "s", messages,
               messages == 1 ? "" : "s", bytes, bytes == 1 ? "" : "s");
  const AddressLimitStats refused = server.address_limit_stats();
  if (refused.refused_rate + refused.refused_connections > 0) {
    std::fprintf(stderr,
                 "wsx serve: per-address limits refused %llu handshakes (429, rate) and %llu "
                 "connections (503, count)\n",
                 static_cast<unsigned long long>(refused.refused_rate),
                 static_cast<unsigned long long>(refused.refused_connections));
  }
  if (broker) {
    std::fprintf(stderr,
                 "wsx serve: node %s: redis: %llu publishes, %llu failed, %llu reconnects, %llu "
                 "received\n",
                 node.c_str(), static_cast<unsigned long long>(broker->publishes()),
                 static_cast<unsigned long long>(broker->publish_failures()),
                 static_cast<unsigned long long>(broker->reconnects()),
                 static_cast<unsigned long long>(broker->received()));
  }
  return exit_ok;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArguments>();
  CLI::App* command = app.add_subcommand(
      "serve",
      "Serve /echo (echo with opcode), /chat and /chat/ROOM (broadcast to the room) and a web "
      "console at / (default: 127.0.0.1:8080). SIGINT/SIGTERM: close 1001 to all, exit 0. "
      "Browser pages of other origins get 403 unless allowed.");
  command->footer(
      "Exit codes: 0 stopped by SIGINT/SIGTERM, 2 usage (a bad --listen, --static, "
      "--allow-origin, --cert/--key, --csrf-secret), 3 an address cannot be listened on (already "
      "in use, "
      "not local), 6 other errors (TLS files that do not load). A bad --path or an --exec "
      "command not found is a usage error (2).\n"
      "\n"
      "Examples:\n"
      "  wsx serve --listen 9000\n"
      "  wsx serve --listen 0.0.0.0:8443 --cert c.pem --key k.pem --static ./public\n"
      "  wsx serve --allow-origin https://app.example\n"
      "  wsx serve --csrf-secret csrf.key --handshake-rate 5\n"
      "  tail -f app.log | wsx serve --broadcast-stdin --path /log\n"
      "  wsx serve --exec './count.sh --from 1' --path /count --max-processes 8\n"
      "  wsx serve --metrics --metrics-allow 10.0.0.0/8");
  command
      ->add_option("--listen", args->listen,
                   "HOST:PORT, [IPv6]:PORT, or PORT alone for 127.0.0.1:PORT (repeatable; port 0 "
                   "picks one)")
      ->type_name("ADDR");
  command
      ->add_option("--static", args->static_dir,
                   "serve files under DIR for plain GET (a directory: its index.html)")
      ->type_name("DIR");
  // A file that is not there is a usage error (exit 2), as for wsx connect's --cert: it was
  // exit 6 with OpenSSL's "error:80000002:system library::No such file or directory; system
  // lib; system lib". Exit 6 stays for files that are there but do not load.
  command
      ->add_option("--cert", args->cert, "TLS certificate chain (PEM): serve wss:// and https://")
      ->type_name("FILE")
      ->check(quiet(CLI::ExistingFile));
  command->add_option("--key", args->key, "TLS private key (PEM)")
      ->type_name("FILE")
      ->check(quiet(CLI::ExistingFile));
  command->add_flag("--http2", args->http2,
                    "with --cert: offer HTTP/2 (ALPN h2) too: pages, files, the console and "
                    "WebSockets (RFC 8441) share one connection");
  command->add_flag("--h2c", args->h2c,
                    "without --cert: also take HTTP/2 from clients that start with its preface "
                    "(prior knowledge, e.g. curl --http2-prior-knowledge); others get HTTP/1.1");
  CLI::Option* allow_origin =
      command
          ->add_option("--allow-origin", args->allowed_origins,
                       "also accept WebSockets from pages of this origin, e.g. "
                       "https://app.example (repeatable; by default only the server's own "
                       "origin, and clients that send no Origin; others get 403)")
          ->type_name("ORIGIN");
  command
      ->add_option("--allow-host", args->allowed_hosts,
                   "on a loopback listener, also answer requests for this host name (repeatable; "
                   "e.g. a reverse proxy's public name). By default a loopback listener answers "
                   "only Host: localhost or a loopback address, others get 421 (DNS rebinding)")
      ->type_name("NAME");
  command
      ->add_flag("--allow-any-origin", args->allow_any_origin,
                 "accept WebSockets from pages of any origin (cross-site pages can then use "
                 "their visitors' connections)")
      ->excludes(allow_origin);
  command
      ->add_option("--max-message", args->max_message,
                   "largest message; bigger closes with 1009 (default 16 MiB)")
      ->type_name("BYTES")
      ->check(whole_number(1, std::uint64_t{1} << 40));
  command
      ->add_option("--max-buffered", args->max_buffered,
                   "bytes held for all connections together (messages being received, output "
                   "not yet sent); over it the heaviest stop being read, then close with 1013 "
                   "(0: no limit; default 134217728 = 128 MiB)")
      ->type_name("BYTES")
      ->check(whole_number(0, std::uint64_t{1} << 50));
  command->add_flag("--compress", args->compress, "accept permessage-deflate");
  command
      ->add_option("--coalesce-wait", args->coalesce_wait_us,
                   "throughput over latency: a thread woken by fewer than 16 ready connections "
                   "sleeps this long first, so one pass serves more; adds up to this much to "
                   "their latency (0: off, the default; at most 10000)")
      ->type_name("MICROSECONDS")
      ->check(whole_number(0, 10000));
  command->add_option("-t,--threads", args->threads, "server threads (0: one per core; default 1)")
      ->type_name("N")
      ->check(whole_number(0, 1024));
  command
      ->add_option("--idle-timeout", args->idle_timeout,
                   "ping a silent peer after SECONDS, close 1001 if it stays silent (0: never; "
                   "default 120)")
      ->type_name("SECONDS")
      ->check(real_number(0.0, 1e6));
  command
      ->add_option("--admin-token", args->admin_token,
                   "also show the live connections (GET /admin/connections, the console's "
                   "panel) to clients off this machine that send Authorization: Bearer TOKEN "
                   "(at least 16 characters; also from $WSX_ADMIN_TOKEN, which ps does not "
                   "show); without it, only clients on this machine see them")
      ->type_name("TOKEN")
      ->envname("WSX_ADMIN_TOKEN");
  CLI::Option* csrf =
      command->add_flag("--csrf", args->csrf,
                        "require a CSRF token on /echo and /chat, with a secret generated at "
                        "start (tokens end with the process). The console at / carries one, "
                        "bound to a session cookie the server sets; pages of other origins "
                        "cannot get one");
  command
      ->add_option("--csrf-secret", args->csrf_secret_file,
                   "as --csrf, with the secret in FILE (at least 32 random bytes, as hex text or "
                   "raw: openssl rand -hex 32 > FILE): tokens stay valid across restarts and "
                   "servers sharing FILE")
      ->type_name("FILE")
      ->excludes(csrf);
  command
      ->add_option("--csrf-lifetime", args->csrf_lifetime,
                   "how long a token is valid (default 3600)")
      ->type_name("SECONDS")
      ->check(real_number(1.0, 1e7));
  command
      ->add_option("--max-per-address", args->address_limits.max_connections,
                   "connections a client address (IPv4, IPv6 /64) may hold, handshaking ones "
                   "included; more get 503 (0: no limit; default 1024)")
      ->type_name("N")
      ->check(whole_number(0, std::uint64_t{1} << 32));
  command
      ->add_option("--handshake-rate", args->address_limits.handshakes_per_second,
                   "handshakes a second per client address, in bursts up to --handshake-burst; "
                   "faster gets 429 (0: no limit; default 50)")
      ->type_name("N")
      ->check(real_number(0.0, 1e9))
      // Below one a day the wait before a token is beyond any Retry-After (the library
      // refuses such limits too).
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            const double rate = std::strtod(text.c_str(), nullptr);
            return rate > 0 && rate < 1.0 / 86400
                       ? "use 0 (no limit) or at least one handshake a day (0.0000116)"
                       : "";
          },
          ""));
  command
      ->add_option("--handshake-burst", args->address_limits.handshake_burst,
                   "handshakes a client address may make at once (default 200)")
      ->type_name("N")
      ->check(real_number(1.0, 1e9));
  command->add_flag("--limit-loopback", args->limit_loopback,
                    "apply the per-address limits to loopback clients too (exempt by default: "
                    "they are this machine's browser, tools and proxies)");
  command->add_flag("-q,--quiet", args->quiet, "no access lines");
  command
      ->add_option("--redis", args->redis,
                   "share /chat rooms with every wsx serve on this Redis (redis://[user:pass@]"
                   "HOST:PORT/, rediss:// for TLS); a message sent while Redis is unreachable "
                   "is refused, logged, and its sender gets \"!\\nnot delivered: REASON\"")
      ->type_name("URL");
  command
      ->add_option("--redis-ca", args->redis_ca,
                   "with rediss://: trust this CA (PEM) for Redis's certificate instead of the "
                   "system's CAs")
      ->type_name("FILE");
  command
      ->add_option("--redis-cert", args->redis_cert,
                   "with rediss://: client certificate (PEM) for a Redis that asks for one "
                   "(tls-auth-clients)")
      ->type_name("FILE");
  command->add_option("--redis-key", args->redis_key, "with rediss://: the client key (PEM)")
      ->type_name("FILE");
  command->add_flag("--redis-insecure", args->redis_insecure,
                    "with rediss://: do not verify Redis's certificate or host name (tests "
                    "only: anyone on the path can read and change the rooms)");
  command->add_option("--node", args->node, "this node's name, shown in the console")
      ->type_name("NAME");
  command
      ->add_option("--history", args->history,
                   "with --redis: keep the last N messages of each room, so a client that comes "
                   "back with ?since=POSITION gets what it missed (?positions: prefix each "
                   "message with its position)")
      ->type_name("N")
      ->check(whole_number(0, std::uint64_t{1} << 30));
  command
      ->add_option("--history-age", args->history_age,
                   "with --history: also forget messages older than SECONDS (0: never)")
      ->type_name("SECONDS")
      ->check(real_number(0.0, 1e9));
  command->add_flag("--trace", args->trace,
                    "print every WebSocket frame, both ways, with the peer's address");
  CLI::Option* broadcast =
      command->add_flag("--broadcast-stdin", args->broadcast_stdin,
                        "send each line of stdin to every client of --path (text when valid "
                        "UTF-8, else binary); print what clients send on stdout, one line per "
                        "message. At EOF the server goes on serving");
  CLI::Option* exec =
      command
          ->add_option("--exec", args->exec,
                       "run CMD for each client of --path: each line it prints is a message, "
                       "each message a line on its stdin; the request is in CGI variables "
                       "(REMOTE_ADDR, QUERY_STRING, HTTP_*...). Split into words like a shell "
                       "does ('...', \"...\", \\), never run by one. It exits: close 1000 "
                       "(status 0) or 1011; the client leaves: SIGTERM, SIGKILL 2 s later")
          ->type_name("CMD")
          ->excludes(broadcast);
  CLI::Option* path = command
                          ->add_option("--path", args->path,
                                       "the WebSocket path of --exec or --broadcast-stdin, and "
                                       "what lies under it (default /ws)")
                          ->type_name("PATH");
  command
      ->add_option("--max-processes", args->max_processes,
                   "--exec processes at once; more clients get 503 with Retry-After "
                   "(default 64)")
      ->type_name("N")
      ->check(whole_number(1, 100000))
      ->needs(exec);
  command
      ->add_flag("--exec-binary", args->exec_binary,
                 "--exec without lines: each read of its stdout is a binary message, each "
                 "message goes to its stdin as is")
      ->needs(exec);
  command->add_flag("--metrics", args->metrics,
                    "serve Prometheus metrics (text format) at /metrics, to loopback peers only "
                    "unless --metrics-allow says otherwise; others get 403");
  command
      ->add_option("--metrics-allow", args->metrics_allow,
                   "peers allowed to read /metrics, as ADDRESS or ADDRESS/BITS (repeatable; "
                   "replaces the loopback default; implies --metrics)")
      ->type_name("CIDR");
  return [args, path] {
    args->path_given = path->count() > 0;
    return serve(*args);
  };
}

}  // namespace wsx::tool
