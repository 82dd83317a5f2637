// Publish-to-delivery across nodes: three servers in this process sharing topics through Redis
// (each its own broker and its own connections to Redis, as three processes would have), against
// one server with local topics, measured in the same invocation, runs alternating between the
// two so that the machine's load hits both alike. A publisher on the first node sends
// timestamped, numbered messages with a bounded number in flight; subscribers spread over the
// nodes record, for every delivery, the time from send to receipt, and for every message the
// time until its last subscriber had it ("to all"). Prints each run, then the medians.
//
//   redis-server --port 6390 --save '' &
//   build/bench/cluster_publish --redis redis://127.0.0.1:6390/ --runs 5
//   build/bench/cluster_publish --redis redis://127.0.0.1:6390/ --runs 5 --in-flight 1
//   build/bench/cluster_publish --redis redis://127.0.0.1:6390/ --subscribers 1000 \
//       --messages 300 --in-flight 1 --runs 5             # fan-out to 3,000: time to all
//   build/bench/cluster_publish --redis redis://127.0.0.1:6390/ --history 1000
//   build/bench/cluster_publish --redis rediss://127.0.0.1:6391/ --redis-ca ca.pem \
//       --redis-cert client.pem --redis-key client.key --runs 5   # TLS to Redis
//   build/bench/cluster_publish --local --messages 20000  # local topics only
//   build/bench/cluster_publish --memory 2000 --redis redis://127.0.0.1:6390/ --runs 5
//
// --memory: RSS of a node process per connection, see cluster_memory.cpp.
//
// Everything (Redis, three servers, every client) shares this machine: the numbers are for
// comparing the two modes here, not absolute capacities.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster_memory.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/redis_broker.hpp"
#include "wsx/server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  std::string redis;  // empty: local topics only
  bool local_only = false;
  int messages = 20000;
  int subscribers_per_node = 10;
  int in_flight = 32;
  int runs = 1;
  std::size_t size = 64;
  std::size_t history = 0;  // entries kept per topic in Redis (0: PUBLISH only)
  int memory_connections = 0;
  std::string tls_ca, tls_certificate, tls_key;  // rediss://
};

std::optional<Settings> parse(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--redis") {
      settings.redis = value();
    } else if (arg == "--local") {
      settings.local_only = true;
    } else if (arg == "--messages") {
      settings.messages = std::atoi(value());
    } else if (arg == "--subscribers") {
      settings.subscribers_per_node = std::atoi(value());
    } else if (arg == "--in-flight") {
      settings.in_flight = std::atoi(value());
    } else if (arg == "--runs") {
      settings.runs = std::atoi(value());
    } else if (arg == "--history") {
      settings.history = static_cast<std::size_t>(std::atoi(value()));
    } else if (arg == "--size") {
      settings.size = static_cast<std::size_t>(std::atoi(value()));
    } else if (arg == "--memory") {
      settings.memory_connections = std::atoi(value());
    } else if (arg == "--redis-ca") {
      settings.tls_ca = value();
    } else if (arg == "--redis-cert") {
      settings.tls_certificate = value();
    } else if (arg == "--redis-key") {
      settings.tls_key = value();
    } else {
      return std::nullopt;
    }
  }
  if (settings.local_only == !settings.redis.empty() || settings.messages <= 0 ||
      settings.in_flight <= 0 || settings.size < 12 || settings.subscribers_per_node <= 0 ||
      settings.runs <= 0 || settings.memory_connections < 0) {
    return std::nullopt;
  }
  return settings;
}

struct Node {
  std::unique_ptr<wsx::Server> server;
  std::shared_ptr<wsx::RedisBroker> broker;
  std::thread thread;
};

std::unique_ptr<Node> start_node(const Settings& settings, const std::string& redis) {
  auto node = std::make_unique<Node>();
  wsx::ServerOptions options;
  options.threads = 1;
  if (!redis.empty()) {
    node->broker = wsx::make_redis_broker({.url = redis,
                                           .history = settings.history,
                                           .max_pending = 100000,
                                           .tls_ca_file = settings.tls_ca,
                                           .tls_certificate_file = settings.tls_certificate,
                                           .tls_key_file = settings.tls_key});
    options.broker = node->broker;
  }
  node->server = std::make_unique<wsx::Server>(options);
  wsx::Server* server = node->server.get();
  server->route("/room", {.open = [](wsx::WebSocket& ws) { ws.subscribe("room"); },
                          .message =
                              [server](wsx::WebSocket&, wsx::Message message) {
                                server->publish("room", message.data, message.kind);
                              }});
  if (server->listen("127.0.0.1", 0)) return nullptr;
  node->thread = std::thread([server] { server->run(); });
  return node;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double percentile_us(std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const std::size_t index =
      std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[index]) / 1000.0;
}

struct RunResult {
  bool ok = false;
  double published_per_second = 0;
  double deliveries_per_second = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;  // each delivery
  double all_p50_us = 0, all_p99_us = 0;      // each message until its last subscriber
};

// One run: nodes up, clients connected, `messages` published and delivered, everything down.
RunResult run_once(const Settings& settings, const std::string& redis) {
  RunResult result;
  const int node_count = redis.empty() ? 1 : 3;
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < node_count; ++i) {
    nodes.push_back(start_node(settings, redis));
    if (!nodes.back()) {
      std::fprintf(stderr, "cannot listen\n");
      return result;
    }
  }

  // Every client on one loop (this thread). Subscribers count deliveries and latencies; the
  // publisher (also a subscriber on node 0, since the room's publish reaches its sender) keeps
  // `in_flight` messages between its send and its own receipt. Payload: send time (8 bytes),
  // message number (4 bytes), filler.
  wsx::io::EventLoop loop;
  const int subscriber_count = settings.subscribers_per_node * 3;
  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(settings.messages) * subscriber_count);
  std::vector<int> reached(static_cast<std::size_t>(settings.messages), 0);
  std::vector<std::int64_t> to_all;
  to_all.reserve(static_cast<std::size_t>(settings.messages));
  long long delivered = 0;
  const long long expected = static_cast<long long>(settings.messages) * subscriber_count;
  int opened = 0;
  int sent = 0;
  int acknowledged = 0;
  Clock::time_point started;
  Clock::time_point finished;
  std::vector<std::unique_ptr<wsx::Client>> clients;
  std::unique_ptr<wsx::Client> publisher;
  std::string payload(settings.size, 'x');

  auto maybe_done = [&] {
    if (delivered == expected && acknowledged == settings.messages) {
      finished = Clock::now();
      loop.stop();
    }
  };
  auto pump = [&] {
    while (sent < settings.messages && sent - acknowledged < settings.in_flight) {
      const std::int64_t stamp = now_ns();
      const std::uint32_t number = static_cast<std::uint32_t>(sent);
      std::memcpy(payload.data(), &stamp, sizeof stamp);
      std::memcpy(payload.data() + 8, &number, sizeof number);
      publisher->send(payload, wsx::MessageKind::binary);
      ++sent;
    }
  };
  auto all_open = [&] {
    // The nodes subscribe on Redis asynchronously after their first subscriber: give them a
    // moment before timing.
    loop.run_after(std::chrono::milliseconds(500), [&] {
      started = Clock::now();
      pump();
    });
  };
  // The same subscribers in both modes: spread over three nodes, or all on the one node.
  const int total_clients = subscriber_count + 1;
  for (int i = 0; i < total_clients; ++i) {
    const bool is_publisher = i == subscriber_count;
    const int node = is_publisher ? 0 : i % node_count;
    wsx::ClientOptions options;
    options.url = "ws://127.0.0.1:" + std::to_string(nodes[node]->server->port()) + "/room";
    wsx::ClientHandlers handlers;
    handlers.open = [&](wsx::WebSocket&) {
      if (++opened == total_clients) all_open();
    };
    handlers.message = [&, is_publisher](wsx::WebSocket&, wsx::Message message) {
      if (message.data.size() < 12) return;
      if (is_publisher) {
        ++acknowledged;
        pump();
        maybe_done();
        return;
      }
      std::int64_t stamp = 0;
      std::uint32_t number = 0;
      std::memcpy(&stamp, message.data.data(), sizeof stamp);
      std::memcpy(&number, message.data.data() + 8, sizeof number);
      const std::int64_t latency = now_ns() - stamp;
      latencies.push_back(latency);
      if (number < reached.size() && ++reached[number] == subscriber_count) {
        to_all.push_back(latency);
      }
      ++delivered;
      maybe_done();
    };
    handlers.error = [](const wsx::ClientError& error) {
      std::fprintf(stderr, "client: %s\n", error.message.c_str());
    };
    auto client = std::make_unique<wsx::Client>(loop, options, std::move(handlers));
    client->connect();
    if (is_publisher) {
      publisher = std::move(client);
    } else {
      clients.push_back(std::move(client));
    }
  }
  loop.run_after(std::chrono::seconds(120), [&] {
    std::fprintf(stderr, "timed out: %lld of %lld deliveries\n", delivered, expected);
    loop.stop();
  });
  loop.run();

  const double seconds = std::chrono::duration<double>(finished - started).count();
  std::sort(latencies.begin(), latencies.end());
  std::sort(to_all.begin(), to_all.end());
  result.ok = delivered == expected;
  result.published_per_second = settings.messages / seconds;
  result.deliveries_per_second = static_cast<double>(delivered) / seconds;
  result.p50_us = percentile_us(latencies, 0.50);
  result.p99_us = percentile_us(latencies, 0.99);
  result.max_us = percentile_us(latencies, 1.0);
  result.all_p50_us = percentile_us(to_all, 0.50);
  result.all_p99_us = percentile_us(to_all, 0.99);

  for (auto& client : clients) client->close();
  publisher->close();
  // Let the closes go out before the servers stop (no 1006 noise on stderr).
  loop.run_after(std::chrono::milliseconds(100), [&] { loop.stop(); });
  loop.run();
  for (auto& node : nodes) node->server->stop();
  for (auto& node : nodes) node->thread.join();
  for (auto& node : nodes) {
    if (node->broker && node->broker->publish_failures() != 0) {
      std::fprintf(stderr, "publish failures: %llu\n",
                   static_cast<unsigned long long>(node->broker->publish_failures()));
      result.ok = false;
    }
  }
  return result;
}

void print(const char* mode, const Settings& settings, int node_count, const RunResult& r) {
  std::printf(
      "%-6s %d nodes, %d subscribers, %d x %zu B, %d in flight: %7.0f msg/s (%8.0f "
      "deliveries/s), latency p50 %6.0f us p99 %6.0f us max %6.0f us, to all p50 %6.0f us p99 "
      "%6.0f us\n",
      mode, node_count, settings.subscribers_per_node * 3, settings.messages, settings.size,
      settings.in_flight, r.published_per_second, r.deliveries_per_second, r.p50_us, r.p99_us,
      r.max_us, r.all_p50_us, r.all_p99_us);
  std::fflush(stdout);
}

RunResult median(std::vector<RunResult> runs) {
  RunResult m;
  m.ok = true;
  auto mid = [&runs](double RunResult::*field) {
    std::vector<double> values;
    for (const RunResult& r : runs) values.push_back(r.*field);
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  };
  m.published_per_second = mid(&RunResult::published_per_second);
  m.deliveries_per_second = mid(&RunResult::deliveries_per_second);
  m.p50_us = mid(&RunResult::p50_us);
  m.p99_us = mid(&RunResult::p99_us);
  m.max_us = mid(&RunResult::max_us);
  m.all_p50_us = mid(&RunResult::all_p50_us);
  m.all_p99_us = mid(&RunResult::all_p99_us);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == bench::memory_node_flag) {
    return bench::run_memory_node(argv[2]);
  }
  const std::optional<Settings> parsed = parse(argc, argv);
  if (!parsed) {
    std::fprintf(
        stderr,
        "usage: cluster_publish (--redis URL | --local) [--messages N] [--subscribers "
        "PER_NODE] [--in-flight N] [--size BYTES] [--history N] [--runs N]\n"
        "         [--redis-ca FILE --redis-cert FILE --redis-key FILE]  (rediss://)\n"
        "       cluster_publish --memory CONNECTIONS (--redis URL | --local) [--runs N]\n");
    return 2;
  }
  const Settings& settings = *parsed;
  if (settings.memory_connections > 0) {
    return bench::run_memory(settings.memory_connections, settings.redis, settings.runs);
  }
  std::vector<RunResult> local_runs, redis_runs;
  for (int run = 0; run < settings.runs; ++run) {
    RunResult local = run_once(settings, "");
    if (!local.ok) return 1;
    print("local", settings, 1, local);
    local_runs.push_back(local);
    if (settings.redis.empty()) continue;
    RunResult redis = run_once(settings, settings.redis);
    if (!redis.ok) return 1;
    print("redis", settings, 3, redis);
    redis_runs.push_back(redis);
  }
  std::printf("median of %d runs:\n", settings.runs);
  print("local", settings, 1, median(local_runs));
  if (!redis_runs.empty()) print("redis", settings, 3, median(redis_runs));
  return 0;
}
