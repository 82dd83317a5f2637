// `wsx bench URL`: N connections each keep K messages in flight to an echo endpoint for a
// fixed time; latency is measured from the send to the echo (FIFO per connection).
//
// Bounded in time: sending stops at --duration; echoes still in flight get `drain_grace`, then
// every connection is closed, and the loop ends at the latest `close_grace` later.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.hpp"
#include "client_error_hint.hpp"
#include "commands.hpp"
#include "connect_codecs.hpp"
#include "connect_typed_url.hpp"
#include "help_format.hpp"
#include "number_check.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/signal_watcher.hpp"

namespace wsx::tool {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto drain_grace = std::chrono::seconds(2);
constexpr auto close_grace = std::chrono::seconds(3);
constexpr std::size_t max_error_messages = 5;

struct BenchArguments {
  std::string url;
  std::size_t connections = 1;
  std::size_t size = 32;
  bool binary = false;
  std::size_t in_flight = 1;
  double duration = 5;
  bool compress = false;
  unsigned threads = 1;
  bool json = false;
  std::string ca_file;
  bool insecure = false;
  std::string proxy;  // empty: the environment's (as wsx connect)
};

// The largest message our client takes: the library's default, or --size if larger (an echo
// of our own message always fits).
std::size_t client_max_message(const BenchArguments& args) {
  return std::max(WebSocketOptions{}.max_message_size, args.size);
}

std::string make_payload(std::size_t size, bool binary) {
  std::string payload(size, '\0');
  std::uint32_t state = 0x9e3779b9u;
  for (std::size_t i = 0; i < size; ++i) {
    if (binary) {
      state = state * 1664525u + 1013904223u;  // incompressible enough to exercise deflate
      payload[i] = static_cast<char>(state >> 24);
    } else {
      payload[i] = static_cast<char>('a' + i % 26);
    }
  }
  return payload;
}

// What one thread measured; merged into the report at the end.
struct ThreadStats {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  LatencyHistogram latency;
  std::uint64_t errors = 0;
  std::vector<std::string> error_messages;
  std::map<std::uint16_t, std::uint64_t> close_codes;
  std::uint64_t too_big_from_server = 0;  // BenchReport::too_big_from_server
  std::size_t opened = 0;
  std::size_t compressed = 0;  // opened with permessage-deflate negotiated
  Clock::time_point last_echo{};
  std::optional<ClientErrorKind> first_failure;

  void error(std::string message) {
    ++errors;
    if (error_messages.size() < max_error_messages &&
        std::find(error_messages.begin(), error_messages.end(), message) == error_messages.end()) {
      error_messages.push_back(std::move(message));
    }
  }
};

// The connections of one thread, on one event loop.
class BenchThread {
 public:
  BenchThread(const BenchArguments& args, const std::string& payload, std::size_t connections,
              Clock::time_point deadline, std::atomic<std::uint64_t>& progress)
      : args_(args), payload_(payload), deadline_(deadline), progress_(progress) {
    ClientOptions options;
    // The URL as people type it, read as wsx connect reads it (a scheme left out, http://,
    // ws.PROTO://, user:password@): one meaning for the same text in both commands.
    const TypedUrl typed = interpret_typed_url(args.url);
    options.url = typed.url;
    if (typed.subprotocol) options.subprotocols.push_back(*typed.subprotocol);
    if (typed.credentials) {
      options.extra_headers.emplace_back("Authorization",
                                         "Basic " + encode_base64(as_bytes(*typed.credentials)));
    }
    if (args.compress) options.deflate = proto::DeflateClientOptions{};
    options.tls.ca_file = args.ca_file;
    options.tls.insecure_skip_verify = args.insecure;
    if (!args.proxy.empty()) {
      options.proxy = args.proxy;
    } else {
      options.proxy_for = [](const Url& target) { return proxy_from_environment(target); };
    }
    options.websocket.max_message_size = client_max_message(args);
    options.websocket.max_backpressure =
        std::max(options.websocket.max_backpressure, 2 * args.in_flight * (args.size + 16));
    options.websocket.idle_timeout = std::chrono::milliseconds(0);
    for (std::size_t i = 0; i < connections; ++i) {
      auto connection = std::make_unique<Connection>();
      connection->client = std::make_unique<Client>(loop_, options, handlers(*connection));
      connections_.push_back(std::move(connection));
    }
    remaining_ = connections;
  }

  // Throws std::invalid_argument for a URL or TLS setup the client refuses.
  void prepare() {
    for (auto& connection : connections_) connection->client->connect();
  }

  void run() {
    if (remaining_ == 0) return;
    const auto until_deadline = deadline_ - Clock::now();
    loop_.run_after(until_deadline, [this] { stop_sending(); });
    loop_.run_after(until_deadline + drain_grace, [this] {
      for (auto& connection : connections_) connection->client->close(1000, "bench done");
    });
    loop_.run_after(until_deadline + drain_grace + close_grace, [this] { loop_.stop(); });
    loop_.run();
    for (auto& connection : connections_) {
      // Abandoned while connecting (the run ended first): no error callback says so.
      if (!connection->opened && !connection->failed) {
        stats_.error("still connecting when the run ended");
      } else if (!connection->finished && !stopped_early_) {
        stats_.error("connection still open at the end");
      }
    }
  }

  io::EventLoop& loop() { return loop_; }
  const ThreadStats& stats() const { return stats_; }

  // Called (on this thread) when the run must end before its time: stop sending and close
  // every connection now; echoes still in flight are not waited for.
  void stop_now() {
    stopped_early_ = true;
    sending_ = false;
    for (auto& connection : connections_) connection->client->close(1000, "bench stopped");
  }
  // The last resort (a second Ctrl-C): leave the loop whatever is still open.
  void leave() {
    stopped_early_ = true;
    loop_.stop();
  }
  // How this thread reports a failure that ends the whole run (set before run()).
  void on_abort(std::function<void(std::string)> abort) { abort_ = std::move(abort); }

 private:
  struct Connection {
    std::unique_ptr<Client> client;
    std::deque<Clock::time_point> sent;  // send times of the messages in flight, oldest first
    bool opened = false;
    bool failed = false;  // the error callback came
    bool finished = false;
  };

  MessageKind kind() const { return args_.binary ? MessageKind::binary : MessageKind::text; }

  void send_one(WebSocket& ws, Connection& connection) {
    connection.sent.push_back(Clock::now());
    const SendStatus status = ws.send(payload_, kind());
    if (status == SendStatus::success || status == SendStatus::backpressure) return;
    connection.sent.pop_back();
    stats_.error("send refused");
  }

  void stop_sending() {
    sending_ = false;
    for (auto& connection : connections_) {
      if (connection->sent.empty()) connection->client->close(1000, "bench done");
    }
  }

  void finish(Connection& connection) {
    if (connection.finished) return;
    connection.finished = true;
    if (--remaining_ == 0) loop_.stop();
  }

  ClientHandlers handlers(Connection& connection) {
    ClientHandlers handlers;
    handlers.open = [this, &connection](WebSocket& ws) {
      ++stats_.opened;
      if (ws.compressed()) ++stats_.compressed;
      connection.opened = true;
      if (!sending_) {
        ws.close(1000, "bench done");
        return;
      }
      for (std::size_t i = 0; i < args_.in_flight; ++i) send_one(ws, connection);
    };
    handlers.message = [this, &connection](WebSocket& ws, Message message) {
      const Clock::time_point now = Clock::now();
      if (connection.sent.empty()) {
        not_an_echo("a message came before anything was sent, or one more than was sent");
        return;
      }
      stats_.latency.record(now - connection.sent.front());
      connection.sent.pop_front();
      if (message.kind != kind()) {
        not_an_echo(std::string("a ") + (message.kind == MessageKind::text ? "text" : "binary") +
                    " message came back for a " + (args_.binary ? "binary" : "text") + " one");
        return;
      }
      if (message.text() != payload_) {
        not_an_echo("a message of " + std::to_string(message.data.size()) +
                    " bytes came back for one of " + std::to_string(payload_.size()) +
                    (message.data.size() == payload_.size() ? " with other bytes" : ""));
        return;
      }
      ++stats_.messages;
      stats_.bytes += message.data.size();
      stats_.last_echo = now;
      progress_.fetch_add(1, std::memory_order_relaxed);
      if (sending_) {
        send_one(ws, connection);
      } else if (connection.sent.empty()) {
        ws.close(1000, "bench done");
      }
    };
    handlers.close = [this](WebSocket&, const CloseInfo& info) {
      ++stats_.close_codes[info.code];
      // 1009 both ways: the server's close frame (clean: frames exchanged), or our client
      // failing the connection on a message over its limit (no close frame of the server's).
      if (info.code == 1009 && !info.clean) {
        ++stats_.too_big_from_server;
        stats_.error("closed with 1009: the server sent a message larger than this client takes (" +
                     std::to_string(client_max_message(args_)) + " bytes)");
      } else if (info.code != 1000) {
        stats_.error("closed with " + std::to_string(info.code) +
                     (info.reason.empty() ? "" : " " + std::string(info.reason)));
      }
    };
    handlers.error = [this, &connection](const ClientError& error) {
      connection.failed = true;
      if (!stats_.first_failure) stats_.first_failure = error.kind;
      stats_.error(error.message + client_error_hint(error));
    };
    handlers.done = [this, &connection] { finish(connection); };
    return handlers;
  }

  void not_an_echo(const std::string& what) {
    stats_.error("not an echo: " + what);
    if (abort_) abort_("not an echo endpoint: " + what);
  }

  const BenchArguments& args_;
  const std::string& payload_;
  std::function<void(std::string)> abort_;
  bool stopped_early_ = false;
  const Clock::time_point deadline_;
  std::atomic<std::uint64_t>& progress_;
  io::EventLoop loop_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::size_t remaining_ = 0;
  bool sending_ = true;
  ThreadStats stats_;
};

BenchReport merge(const BenchArguments& args,
                  const std::vector<std::unique_ptr<BenchThread>>& threads,
                  Clock::time_point start) {
  BenchReport report;
  report.url = args.url;
  report.connections = args.connections;
  report.message_size = args.size;
  report.binary = args.binary;
  report.in_flight = args.in_flight;
  report.compress = args.compress;
  report.max_message_size = client_max_message(args);
  Clock::time_point last_echo = start;
  for (const auto& thread : threads) {
    const ThreadStats& stats = thread->stats();
    report.opened += stats.opened;
    report.compressed += stats.compressed;
    report.messages += stats.messages;
    report.bytes += stats.bytes;
    report.latency.merge(stats.latency);
    report.errors += stats.errors;
    for (const std::string& message : stats.error_messages) {
      if (report.error_messages.size() < max_error_messages &&
          std::find(report.error_messages.begin(), report.error_messages.end(), message) ==
              report.error_messages.end()) {
        report.error_messages.push_back(message);
      }
    }
    for (const auto& [code, count] : stats.close_codes) report.close_codes[code] += count;
    report.too_big_from_server += stats.too_big_from_server;
    last_echo = std::max(last_echo, stats.last_echo);
  }
  report.elapsed_seconds = std::chrono::duration<double>(last_echo - start).count();
  return report;
}

int exit_code(const BenchReport& report, const std::vector<std::unique_ptr<BenchThread>>& threads) {
  if (report.errors == 0) return exit_ok;
  if (report.opened > 0) return exit_runtime_error;
  for (const auto& thread : threads) {
    if (!thread->stats().first_failure) continue;
    switch (*thread->stats().first_failure) {
      case ClientErrorKind::handshake_refused:
      case ClientErrorKind::redirect_failed:
        return exit_handshake_refused;
      case ClientErrorKind::proxy_unreachable:
      case ClientErrorKind::proxy_refused:
      case ClientErrorKind::proxy_failed:
        return exit_proxy_failed;
      default:
        break;
    }
  }
  return exit_connect_failed;
}

// Why a run failed, for people: the abort reason, or what the errors say.
std::string failure_reason(const BenchReport& report, const std::string& abort_reason,
                           double duration) {
  if (!abort_reason.empty()) return abort_reason;
  if (report.opened == 0) {
    std::string reason = "no connection opened";
    if (!report.error_messages.empty()) reason += ": " + report.error_messages.front();
    return reason;
  }
  const auto too_big = report.close_codes.find(1009);
  if (report.messages == 0 && too_big != report.close_codes.end()) {
    if (too_big->second > report.too_big_from_server) {
      // An echo endpoint with a smaller limit than --size: asking whether it echoes misleads.
      return "the server closed with 1009 (message too big) before any echo: it takes no "
             "message of " +
             std::to_string(report.message_size) + " bytes (--size)";
    }
    // Our own limit: an echo of our message always fits, so the server sent something else.
    return "the server sent a message larger than this client takes (" +
           std::to_string(report.max_message_size) +
           " bytes) before any echo, and the client closed with 1009: is " + report.url +
           " an echo endpoint?";
  }
  if (report.messages == 0) {
    char text[128];
    std::snprintf(text, sizeof text, "no echo came back in %.2f s: is %s an echo endpoint?",
                  duration, report.url.c_str());
    std::string reason = text;
    if (!report.error_messages.empty()) reason += " (" + report.error_messages.front() + ")";
    return reason;
  }
  return {};
}

int bench(const BenchArguments& args) {
  // Blocked before any thread starts (the client's name resolution has threads of its own):
  // every thread inherits the mask, so SIGINT/SIGTERM reach the watcher below and never kill
  // the process before it prints the summary.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const std::string payload = make_payload(args.size, args.binary);
  const unsigned thread_count =
      static_cast<unsigned>(std::min<std::size_t>(std::max(1u, args.threads), args.connections));
  std::atomic<std::uint64_t> progress{0};
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(args.duration));
  std::vector<std::unique_ptr<BenchThread>> threads;
  try {
    for (unsigned t = 0; t < thread_count; ++t) {
      // Connections spread evenly: the first threads take one more when it does not divide.
      const std::size_t share =
          args.connections / thread_count + (t < args.connections % thread_count);
      threads.push_back(std::make_unique<BenchThread>(args, payload, share, deadline, progress));
      threads.back()->prepare();
    }
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "wsx bench: %s\n", error.what());
    return exit_usage;
  }

  // Ending early, from any thread: the first reason wins, every thread stops at once.
  std::mutex abort_mutex;
  std::string abort_reason;
  auto stop_all = [&threads] {
    for (auto& thread : threads) thread->loop().post([t = thread.get()] { t->stop_now(); });
  };
  for (auto& thread : threads) {
    thread->on_abort([&](std::string reason) {
      const std::lock_guard lock(abort_mutex);
      if (!abort_reason.empty()) return;
      abort_reason = std::move(reason);
      stop_all();
    });
  }
  // Ctrl-C (or SIGTERM): stop and report what ran so far; a second one leaves at once. Made
  // before the other threads start, so that they inherit the blocked signals.
  std::atomic<bool> interrupted{false};
  int interrupting_signal = 0;
  Clock::time_point interrupted_at{};
  int signals_seen = 0;
  io::SignalWatcher signals(threads.front()->loop(), {SIGINT, SIGTERM}, [&](int number) {
    if (++signals_seen == 1) {
      interrupted = true;
      interrupting_signal = number;
      interrupted_at = Clock::now();
      stop_all();
    } else {
      for (auto& thread : threads) thread->loop().post([t = thread.get()] { t->leave(); });
    }
  });

  // A live line on a terminal only: on a pipe the output is the result alone.
  const bool live = ::isatty(STDOUT_FILENO) == 1 && !args.json;
  if (live) {
    threads.front()->loop().run_every(std::chrono::milliseconds(500), [&] {
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      const std::uint64_t echoes = progress.load(std::memory_order_relaxed);
      std::printf("\r\033[K  %5.1f s  %llu echoes  %.0f msg/s", seconds,
                  static_cast<unsigned long long>(echoes),
                  seconds > 0 ? static_cast<double>(echoes) / seconds : 0.0);
      std::fflush(stdout);
    });
  }
  std::vector<std::thread> others;
  for (std::size_t t = 1; t < threads.size(); ++t) {
    others.emplace_back([thread = threads[t].get()] { thread->run(); });
  }
  threads.front()->run();
  for (std::thread& other : others) other.join();
  if (live) std::printf("\r\033[K");

  const BenchReport report = merge(args, threads, start);
  const double ran = std::chrono::duration<double>(
                         (interrupted ? interrupted_at : std::min(Clock::now(), deadline)) - start)
                         .count();
  const std::string reason = failure_reason(report, abort_reason, ran);
  if (args.json) {
    std::string text = format_json(report);
    // Two more fields, so scripts see why a run ended early.
    text.insert(text.size() - 2, std::string(",\"interrupted\":") +
                                     (interrupted ? "true" : "false") +
                                     ",\"failure\":" + json_quote(reason));
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else if (!reason.empty()) {
    std::fprintf(stderr, "wsx bench: %s\n", reason.c_str());  // not a table of zeros
  } else {
    std::string text = format_table(report);
    if (interrupted) text += "  (interrupted after " + std::to_string(ran).substr(0, 4) + " s)\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  std::fflush(stdout);
  // Stopped by the user: the summary is out, yet the run is not the one asked for, and a
  // script (`wsx bench ... && next`) must not go on as if it were. 128 + the signal, as a
  // shell reports a command a signal ended: 130 for Ctrl-C, 143 for SIGTERM.
  if (interrupted) return 128 + interrupting_signal;
  if (!reason.empty() && report.opened > 0) return exit_runtime_error;
  return exit_code(report, threads);
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArguments>();
  CLI::App* command = app.add_subcommand(
      "bench",
      "Load-test an echo endpoint: connections keep messages in flight for a while; prints "
      "messages/s, MB/s, latency percentiles (send to echo), errors and close codes.");
  command->footer(
      "Ctrl-C stops sending and prints what ran so far (twice: at once, still with the "
      "summary). An endpoint that answers with anything but the message sent, in order, stops "
      "the run at once: it is not an echo endpoint.\n"
      "\n"
      "Exit codes: 0 every message echoed, 2 usage, 3 no connection could be made, 4 handshake "
      "refused, 6 errors during the run (a wrong echo, no echo at all, a close other than "
      "1000), 7 the proxy failed, 130 (143) stopped by Ctrl-C (SIGTERM), after the summary.\n"
      "\n"
      "Example:\n"
      "  wsx bench ws://127.0.0.1:8080/echo -c 8 -n 16 -d 5");
  command
      ->add_option("URL", args->url,
                   "URL of an echo endpoint, as wsx connect takes it (ws://, wss://, or "
                   "HOST:PORT/PATH: ws:// for a loopback host)")
      ->type_name("")
      ->required();
  command->add_option("-c,--connections", args->connections, "connections (default 1)")
      ->type_name("N")
      ->check(whole_number(1, 100000));
  command->add_option("--size", args->size, "message size in bytes (default 32)")
      ->type_name("BYTES")
      ->check(whole_number(0, std::uint64_t{1} << 30));
  command->add_flag("-b,--binary", args->binary, "binary messages (default: text)");
  command
      ->add_option("-n,--in-flight", args->in_flight,
                   "messages in flight per connection (default 1)")
      ->type_name("N")
      ->check(whole_number(1, 100000));
  command->add_option("-d,--duration", args->duration, "seconds of sending (default 5)")
      ->type_name("SECONDS")
      ->check(real_number(0.01, 86400.0));
  command->add_flag("--compress", args->compress, "offer permessage-deflate");
  command
      ->add_option("-t,--threads", args->threads,
                   "client threads, each with its own loop (default 1)")
      ->type_name("N")
      ->check(whole_number(1, 1024));
  command->add_flag("--json", args->json, "one JSON object instead of the table");
  command->add_option("--ca", args->ca_file, "trust this CA (PEM) for wss://")->type_name("FILE");
  command->add_flag("-k,--insecure", args->insecure, "wss://: skip certificate verification");
  command
      ->add_option("--proxy", args->proxy,
                   "connect through this proxy (http://, socks5://, socks5h://); default: "
                   "from the environment, as wsx connect")
      ->type_name("URL");
  return [args] { return bench(*args); };
}

}  // namespace wsx::tool
