// WebSockets over HTTP/2 against WebSockets on their own TLS connections, over loopback: a wsx
// server (TLS, ServerOptions::http2) on a thread of this process and wsx clients on the main
// thread. Each run is a fresh child process (RSS never shrinks), runs alternate between the
// two modes so that the machine's load hits both alike, and the medians are printed.
//
//   build/bench/h2_open --runs 5                      # all three measures
//   build/bench/h2_open --runs 5 --sockets 300 --opens 50 --messages 200
//
// open:       time from connect() to the open callback, one WebSocket at a time (median of
//             --opens), (a) TLS: a new TCP+TLS connection and the HTTP/1.1 upgrade each time,
//             (b) h2: a new stream of an HTTP/2 connection that is already open.
// memory:     process RSS (client and server sides together) per WebSocket, --sockets open.
// throughput: 100 WebSockets each echoing --messages messages of 16 KiB, 4 in flight each:
//             MiB/s of payload sent and echoed back, (a) 100 TLS connections, (b) one h2
//             connection.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_certs.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/server.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Settings {
  int runs = 5;
  int sockets = 300;
  int opens = 50;
  int messages = 200;
};

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The server of one run, on its own thread.
struct Served {
  explicit Served(const Settings& settings) : server(options(settings)) {
    wsx::Behavior echo;
    echo.max_backpressure = 64 * 1024 * 1024;
    echo.message = [](wsx::WebSocket& ws, wsx::Message m) { ws.send(m.data, m.kind); };
    server.route("/echo", echo);
    if (auto error = server.listen("127.0.0.1", 0)) {
      std::fprintf(stderr, "listen: %s\n", error.message().c_str());
      std::exit(1);
    }
    thread = std::thread([this] { server.run(); });
  }
  ~Served() {
    server.stop();
    thread.join();
  }
  static wsx::ServerOptions options(const Settings& settings) {
    wsx::ServerOptions o;
    o.threads = 1;
    (void)settings;
    const wsx::test::TestPki& pki = wsx::test::test_pki();  // generated now, thrown away after
    o.tls = wsx::ServerTlsOptions{.certificate_chain_file = pki.server_chain,
                                  .private_key_file = pki.server_key};
    o.http2 = true;
    o.address_limits.max_connections = 0;
    o.address_limits.exempt_loopback = true;
    return o;
  }
  wsx::Server server;
  std::thread thread;
};

wsx::ClientOptions client_options(std::uint16_t port, bool h2,
                                  const std::shared_ptr<wsx::Http2Pool>& pool) {
  wsx::ClientOptions o;
  o.url = "wss://localhost:" + std::to_string(port) + "/echo";
  o.tls.insecure_skip_verify = true;  // the bench's certificate; nothing to verify here
  o.http2 = h2;
  o.http2_pool = pool;
  o.websocket.max_backpressure = 64 * 1024 * 1024;
  return o;
}

// Runs the loop until `done`, checked every millisecond.
void run_until(wsx::io::EventLoop& loop, const std::function<bool()>& done) {
  const auto id = loop.run_every(1ms, [&] {
    if (done()) loop.stop();
  });
  loop.run();
  loop.cancel(id);
}

struct Result {
  double open_ms = 0;
  double kib_per_socket = 0;
  double mib_per_s = 0;
};

Result measure(const Settings& settings, bool h2) {
  Result result;
  Served served(settings);
  wsx::io::EventLoop loop;
  auto pool = std::make_shared<wsx::Http2Pool>(loop);
  const std::uint16_t port = served.server.port();
  // An anchor keeps the h2 connection open: every other WebSocket is a new stream of it.
  int anchor_open = 0;
  wsx::Client anchor(loop, client_options(port, true, pool),
                     {.open = [&](wsx::WebSocket&) { ++anchor_open; }});
  if (h2) {
    anchor.connect();
    run_until(loop, [&] { return anchor_open == 1; });
  }
  // ---- open time
  std::vector<double> opens;
  for (int i = 0; i < settings.opens; ++i) {
    bool open = false, done = false;
    const auto start = Clock::now();
    wsx::Client client(
        loop, client_options(port, h2, pool),
        {.open =
             [&](wsx::WebSocket& ws) {
               opens.push_back(
                   std::chrono::duration<double, std::milli>(Clock::now() - start).count());
               open = true;
               ws.close();
             },
         .done = [&] { done = true; }});
    client.connect();
    run_until(loop, [&] { return done; });
    if (!open) std::fprintf(stderr, "an open failed\n");
  }
  result.open_ms = median(opens);
  // ---- memory
  {
    const long before = rss_kib();
    int opened = 0;
    std::vector<std::unique_ptr<wsx::Client>> clients;
    for (int i = 0; i < settings.sockets; ++i) {
      clients.push_back(std::make_unique<wsx::Client>(
          loop, client_options(port, h2, pool),
          wsx::ClientHandlers{.open = [&](wsx::WebSocket&) { ++opened; }}));
      clients.back()->connect();
    }
    run_until(loop, [&] { return opened == settings.sockets; });
    result.kib_per_socket = double(rss_kib() - before) / settings.sockets;
    for (auto& c : clients) c->close();
    run_until(loop, [&] {
      for (auto& c : clients) {
        if (c->is_open()) return false;
      }
      return true;
    });
  }
  // ---- throughput: 100 WebSockets, 4 messages of 16 KiB in flight each
  {
    constexpr int count = 100, in_flight = 4;
    const std::string payload(16 * 1024, 'x');
    std::vector<int> echoed(count, 0), sent(count, 0);
    int opened = 0, finished = 0;
    std::vector<std::unique_ptr<wsx::Client>> clients;
    for (int i = 0; i < count; ++i) {
      wsx::ClientHandlers handlers;
      handlers.open = [&](wsx::WebSocket&) { ++opened; };
      handlers.message = [&, i](wsx::WebSocket& ws, wsx::Message) {
        if (++echoed[i] == settings.messages) ++finished;
        if (sent[i] < settings.messages) {
          ++sent[i];
          ws.send(payload);
        }
      };
      clients.push_back(
          std::make_unique<wsx::Client>(loop, client_options(port, h2, pool), handlers));
      clients.back()->connect();
    }
    run_until(loop, [&] { return opened == count; });
    const auto start = Clock::now();
    for (int i = 0; i < count; ++i) {
      for (int k = 0; k < in_flight && sent[i] < settings.messages; ++k) {
        ++sent[i];
        clients[i]->send(payload);
      }
    }
    run_until(loop, [&] { return finished == count; });
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    result.mib_per_s = double(count) * settings.messages * payload.size() / (1 << 20) / seconds;
    for (auto& c : clients) c->close();
    run_until(loop, [&] {
      for (auto& c : clients) {
        if (c->is_open()) return false;
      }
      return true;
    });
  }
  if (h2) {
    anchor.close();
    run_until(loop, [&] { return !anchor.is_open(); });
  }
  return result;
}

// One run in a child process; its result comes back through a pipe.
Result run_child(const Settings& settings, bool h2) {
  int fds[2];
  if (::pipe(fds) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    const Result r = measure(settings, h2);
    if (::write(fds[1], &r, sizeof r) != sizeof r) std::_Exit(1);
    std::_Exit(0);
  }
  ::close(fds[1]);
  Result r;
  const bool got = ::read(fds[0], &r, sizeof r) == sizeof r;
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!got) {
    std::fprintf(stderr, "a run failed\n");
    std::exit(1);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const char* value = argv[i + 1];
    if (name == "--runs")
      settings.runs = std::atoi(value);
    else if (name == "--sockets")
      settings.sockets = std::atoi(value);
    else if (name == "--opens")
      settings.opens = std::atoi(value);
    else if (name == "--messages")
      settings.messages = std::atoi(value);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  std::vector<double> open[2], memory[2], throughput[2];
  for (int run = 0; run < settings.runs; ++run) {
    for (const bool h2 : {false, true}) {
      const Result r = run_child(settings, h2);
      std::printf("run %d %-4s open %.3f ms  memory %.1f KiB/WebSocket  throughput %.1f MiB/s\n",
                  run + 1, h2 ? "h2" : "tls", r.open_ms, r.kib_per_socket, r.mib_per_s);
      std::fflush(stdout);
      open[h2].push_back(r.open_ms);
      memory[h2].push_back(r.kib_per_socket);
      throughput[h2].push_back(r.mib_per_s);
    }
  }
  std::printf("medians of %d runs:\n", settings.runs);
  std::printf("  open one WebSocket:   TLS connection %.3f ms, h2 stream %.3f ms (ratio %.2f)\n",
              median(open[0]), median(open[1]), median(open[0]) / median(open[1]));
  std::printf("  memory per WebSocket: TLS connection %.1f KiB, h2 stream %.1f KiB (ratio %.2f)\n",
              median(memory[0]), median(memory[1]), median(memory[0]) / median(memory[1]));
  std::printf(
      "  100 WebSockets:       100 TLS connections %.1f MiB/s, one h2 connection "
      "%.1f MiB/s (ratio %.2f)\n",
      median(throughput[0]), median(throughput[1]), median(throughput[1]) / median(throughput[0]));
  return 0;
}
