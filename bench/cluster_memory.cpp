// cluster_publish --memory N: resident memory of a node per connection, in three scenarios,
// each in a fresh node process (a process's RSS does not shrink when memory is freed, so
// scenarios must not share one):
//   plain      connections with no topic (the baseline cost of a connection)
//   one topic  every connection subscribed to the same topic
//   own topic  every connection subscribed to a topic of its own
// so that a subscription costs (one topic − plain) and a topic (own topic − one topic). With
// --redis the node runs the Redis broker, and Redis's own used_memory growth is shown too.
//
// The node is this program started again (memory_node_flag), so that the clients' memory is
// not counted. First 50 connections warm the node up (buffers, the broker's connections), then
// RSS is read, N more connect, and RSS is read again once each of the N is known to be in
// place: its message came back (plain: echoed; own topic: published to its topic and
// delivered), or for one topic a message published after the last one subscribed reached all.
#include "cluster_memory.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/socket_address.hpp"
#include "wsx/io/tcp_socket.hpp"
#include "wsx/redis_broker.hpp"
#include "wsx/server.hpp"

extern char** environ;

namespace bench {
namespace {

constexpr int warmup_connections = 50;

enum class Scenario { plain, one_topic, own_topic };
constexpr Scenario scenarios[] = {Scenario::plain, Scenario::one_topic, Scenario::own_topic};

const char* name(Scenario scenario) {
  switch (scenario) {
    case Scenario::plain:
      return "plain";
    case Scenario::one_topic:
      return "one topic";
    case Scenario::own_topic:
      return "own topic";
  }
  return "";
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Redis's used_memory (INFO memory) in bytes, -1 when it cannot be read. A blocking socket: the
// measurement is between stages, nothing else runs on this thread then.
long long redis_used_memory(const std::string& url) {
  const std::optional<wsx::RedisEndpoint> endpoint = wsx::parse_redis_url(url);
  if (!endpoint) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const wsx::io::SocketAddress address =
      wsx::io::SocketAddress::parse(endpoint->host, endpoint->port)
          .value_or(wsx::io::SocketAddress{});
  std::string reply;
  if (!address.empty() && ::connect(fd, static_cast<const sockaddr*>(address.native()),
                                    static_cast<socklen_t>(address.native_size())) == 0) {
    std::string request;
    if (endpoint->has_password) request += "AUTH " + endpoint->password + "\r\n";
    request += "INFO memory\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buffer[8192];
    while (reply.find("\r\n\r\n") == std::string::npos ||
           reply.find("used_memory:") == std::string::npos) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      reply.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  const std::size_t at = reply.find("used_memory:");
  return at == std::string::npos ? -1 : std::atoll(reply.c_str() + at + 12);
}

struct NodeProcess {
  pid_t pid = -1;
  int port = 0;
};

NodeProcess spawn_node(const std::string& redis) {
  NodeProcess node;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return node;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::string self = "/proc/self/exe";
  std::string flag = memory_node_flag;
  std::string url = redis.empty() ? "-" : redis;
  char* argv[] = {self.data(), flag.data(), url.data(), nullptr};
  if (posix_spawn(&node.pid, self.c_str(), &actions, nullptr, argv, environ) != 0) node.pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  char buffer[32] = {};
  std::size_t got = 0;
  while (got < sizeof buffer - 1) {
    const ssize_t n = ::read(out[0], buffer + got, 1);
    if (n <= 0 || buffer[got] == '\n') break;
    ++got;
  }
  ::close(out[0]);
  node.port = std::atoi(buffer);
  return node;
}

void stop_node(NodeProcess& node) {
  if (node.pid <= 0) return;
  ::kill(node.pid, SIGKILL);
  ::waitpid(node.pid, nullptr, 0);
  node.pid = -1;
}

struct Sample {
  double node_bytes_per_connection = 0;
  double redis_bytes_per_connection = 0;  // 0 without Redis
};

// Connects `count` clients of `scenario` (numbered from `first`), proves they are in place,
// and returns false on a timeout. `subscribed_before`: connections of this scenario already
// subscribed to the shared topic (they receive the probe too).
bool connect_batch(wsx::io::EventLoop& loop, int port, Scenario scenario, int first, int count,
                   int subscribed_before, std::vector<std::unique_ptr<wsx::Client>>& clients) {
  int opened = 0;
  int received = 0;
  const int expected = scenario == Scenario::one_topic ? subscribed_before + count : count;
  bool done = false;
  std::vector<wsx::Client*> batch;
  for (int i = 0; i < count; ++i) {
    wsx::ClientOptions options;
    const std::string path = scenario == Scenario::plain       ? "/plain"
                             : scenario == Scenario::one_topic ? "/t/room"
                                                               : "/t/" + std::to_string(first + i);
    options.url = "ws://127.0.0.1:" + std::to_string(port) + path;
    wsx::ClientHandlers handlers;
    handlers.open = [&, scenario](wsx::WebSocket& ws) {
      ++opened;
      if (scenario != Scenario::one_topic) {
        ws.send("probe");
      } else if (opened == count) {
        ws.send("probe");  // the last one in: everyone before it is subscribed too
      }
    };
    handlers.message = [&](wsx::WebSocket&, wsx::Message) {
      if (++received == expected) {
        done = true;
        loop.stop();
      }
    };
    handlers.error = [](const wsx::ClientError& error) {
      std::fprintf(stderr, "client: %s\n", error.message.c_str());
    };
    clients.push_back(std::make_unique<wsx::Client>(loop, options, std::move(handlers)));
    clients.back()->connect();
  }
  const wsx::io::TimerId timer = loop.run_after(std::chrono::seconds(60), [&] { loop.stop(); });
  loop.run();
  loop.cancel(timer);
  if (!done) {
    std::fprintf(stderr, "%s: %d of %d opened, %d of %d probes back\n", name(scenario), opened,
                 count, received, expected);
  }
  return done;
}

std::optional<Sample> measure(int connections, const std::string& redis, Scenario scenario) {
  NodeProcess node = spawn_node(redis);
  if (node.pid <= 0 || node.port == 0) {
    std::fprintf(stderr, "cannot start a node\n");
    stop_node(node);
    return std::nullopt;
  }
  std::optional<Sample> sample;
  {
    wsx::io::EventLoop loop;
    std::vector<std::unique_ptr<wsx::Client>> clients;
    if (connect_batch(loop, node.port, scenario, 0, warmup_connections, 0, clients)) {
      const long before = rss_kib(node.pid);
      const long long redis_before = redis.empty() ? 0 : redis_used_memory(redis);
      if (connect_batch(loop, node.port, scenario, warmup_connections, connections,
                        warmup_connections, clients)) {
        const long after = rss_kib(node.pid);
        const long long redis_after = redis.empty() ? 0 : redis_used_memory(redis);
        sample = Sample{static_cast<double>(after - before) * 1024.0 / connections,
                        static_cast<double>(redis_after - redis_before) / connections};
      }
    }
    for (auto& client : clients) client->close();
  }
  stop_node(node);
  // Redis frees a killed node's subscriptions when it sees the connection close.
  if (!redis.empty()) ::usleep(200 * 1000);
  return sample;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

}  // namespace

int run_memory(int connections, const std::string& redis, int runs) {
  std::vector<std::string> backends = {""};
  if (!redis.empty()) backends.push_back(redis);
  // [backend][scenario] → samples
  std::vector<std::vector<std::vector<Sample>>> samples(
      backends.size(), std::vector<std::vector<Sample>>(std::size(scenarios)));
  for (int run = 0; run < runs; ++run) {
    for (std::size_t b = 0; b < backends.size(); ++b) {
      for (std::size_t s = 0; s < std::size(scenarios); ++s) {
        const std::optional<Sample> sample = measure(connections, backends[b], scenarios[s]);
        if (!sample) return 1;
        std::printf("run %d %-5s %-9s: node %7.0f B/connection, redis %6.0f B/connection\n",
                    run + 1, b == 0 ? "local" : "redis", name(scenarios[s]),
                    sample->node_bytes_per_connection, sample->redis_bytes_per_connection);
        std::fflush(stdout);
        samples[b][s].push_back(*sample);
      }
    }
  }
  std::printf("median of %d runs, %d connections each:\n", runs, connections);
  for (std::size_t b = 0; b < backends.size(); ++b) {
    double node[3], store[3];
    for (std::size_t s = 0; s < std::size(scenarios); ++s) {
      std::vector<double> n, r;
      for (const Sample& sample : samples[b][s]) {
        n.push_back(sample.node_bytes_per_connection);
        r.push_back(sample.redis_bytes_per_connection);
      }
      node[s] = median(n);
      store[s] = median(r);
      std::printf("%-5s %-9s: node %7.0f B/connection, redis %6.0f B/connection\n",
                  b == 0 ? "local" : "redis", name(scenarios[s]), node[s], store[s]);
    }
    std::printf(
        "%-5s a subscription (one topic - plain): node %.0f B; a topic (own topic - one topic): "
        "node %.0f B, redis %.0f B\n",
        b == 0 ? "local" : "redis", node[1] - node[0], node[2] - node[1], store[2] - store[1]);
  }
  return 0;
}

int run_memory_node(const std::string& redis) {
  wsx::ServerOptions options;
  options.threads = 1;
  std::shared_ptr<wsx::RedisBroker> broker;
  if (redis != "-") {
    broker = wsx::make_redis_broker({.url = redis});
    options.broker = broker;
  }
  wsx::Server server(options);
  server.route("/plain", {.message = [](wsx::WebSocket& ws, wsx::Message message) {
                 ws.send(message.data, message.kind);
               }});
  server.route("/t/*", {.upgrade =
                            [](const wsx::UpgradeRequest& request) {
                              return wsx::UpgradeDecision::accept({}, std::string(request.path));
                            },
                        .open = [](wsx::WebSocket& ws) { ws.subscribe(*ws.data<std::string>()); },
                        .message =
                            [&server](wsx::WebSocket& ws, wsx::Message message) {
                              server.publish(*ws.data<std::string>(), message.data, message.kind);
                            }});
  if (server.listen("127.0.0.1", 0)) return 1;
  std::thread serving([&server] { server.run(); });
  // The port tells the parent to start: only once publishes can flow.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (broker && broker->state() != wsx::BrokerState::connected &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("%u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  serving.join();
  return 0;
}

}  // namespace bench
