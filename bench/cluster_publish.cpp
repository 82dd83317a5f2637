// Publish-to-delivery across nodes: three servers in this process sharing topics through Redis
// (each its own broker and its own connections to Redis, as three processes would have), against
// one server with local topics. A publisher on the first node sends timestamped messages with
// a bounded number in flight; subscribers spread over the nodes record, for every delivery, the
// time from send to receipt. Prints throughput (messages published and fully delivered per
// second) and the latency percentiles of all deliveries.
//
//   redis-server --port 6390 --save '' &
//   build/bench/cluster_publish --redis redis://127.0.0.1:6390/ --messages 20000
//   build/bench/cluster_publish --redis redis://127.0.0.1:6390/ --history 1000
//   build/bench/cluster_publish --local --messages 20000
//
// Everything (Redis, three servers, every client) shares this machine: the numbers are for
// comparing the two modes here, not absolute capacities.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/redis_broker.hpp"
#include "wsx/server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  std::string redis;  // empty: local topics, one node
  int messages = 20000;
  int subscribers_per_node = 10;
  int in_flight = 32;
  std::size_t size = 64;
  std::size_t history = 0;  // entries kept per topic in Redis (0: PUBLISH only)
};

std::optional<Settings> parse(int argc, char** argv) {
  Settings settings;
  bool local = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--redis") {
      settings.redis = value();
    } else if (arg == "--local") {
      local = true;
    } else if (arg == "--messages") {
      settings.messages = std::atoi(value());
    } else if (arg == "--subscribers") {
      settings.subscribers_per_node = std::atoi(value());
    } else if (arg == "--in-flight") {
      settings.in_flight = std::atoi(value());
    } else if (arg == "--history") {
      settings.history = static_cast<std::size_t>(std::atoi(value()));
    } else if (arg == "--size") {
      settings.size = static_cast<std::size_t>(std::atoi(value()));
    } else {
      return std::nullopt;
    }
  }
  if (local == !settings.redis.empty() || settings.messages <= 0 || settings.in_flight <= 0 ||
      settings.size < 8 || settings.subscribers_per_node <= 0) {
    return std::nullopt;
  }
  return settings;
}

struct Node {
  std::unique_ptr<wsx::Server> server;
  std::shared_ptr<wsx::RedisBroker> broker;
  std::thread thread;
};

std::unique_ptr<Node> start_node(const std::string& redis, std::size_t history) {
  auto node = std::make_unique<Node>();
  wsx::ServerOptions options;
  options.threads = 1;
  if (!redis.empty()) {
    node->broker =
        wsx::make_redis_broker({.url = redis, .history = history, .max_pending = 100000});
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

double percentile(std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const std::size_t index =
      std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[index]) / 1000.0;  // µs
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Settings> parsed = parse(argc, argv);
  if (!parsed) {
    std::fprintf(stderr,
                 "usage: cluster_publish (--redis URL | --local) [--messages N] [--subscribers "
                 "PER_NODE] [--in-flight N] [--size BYTES] [--history N]\n");
    return 2;
  }
  const Settings& settings = *parsed;
  const int node_count = settings.redis.empty() ? 1 : 3;
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < node_count; ++i) {
    nodes.push_back(start_node(settings.redis, settings.history));
    if (!nodes.back()) {
      std::fprintf(stderr, "cannot listen\n");
      return 1;
    }
  }

  // Every client on one loop (this thread). Subscribers count deliveries and latencies; the
  // publisher (also a subscriber on node 0, since the room's publish reaches its sender) keeps
  // `in_flight` messages between its send and its own receipt.
  wsx::io::EventLoop loop;
  const int subscriber_count = settings.subscribers_per_node * node_count;
  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(settings.messages) * subscriber_count);
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
      std::memcpy(payload.data(), &stamp, sizeof stamp);
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
      if (message.data.size() < 8) return;
      if (is_publisher) {
        ++acknowledged;
        pump();
        maybe_done();
        return;
      }
      std::int64_t stamp = 0;
      std::memcpy(&stamp, message.data.data(), sizeof stamp);
      latencies.push_back(now_ns() - stamp);
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
  if (delivered == expected) {
    std::printf(
        "%s%s: %d nodes, %d subscribers, %d messages of %zu B, %d in flight: %.0f msg/s published "
        "(%.0f deliveries/s), latency p50 %.0f us, p99 %.0f us, max %.0f us\n",
        settings.redis.empty() ? "local" : "redis",
        settings.history > 0 ? (" history " + std::to_string(settings.history)).c_str() : "",
        node_count, subscriber_count, settings.messages, settings.size, settings.in_flight,
        settings.messages / seconds, static_cast<double>(delivered) / seconds,
        percentile(latencies, 0.50), percentile(latencies, 0.99), percentile(latencies, 1.0));
  }
  for (auto& client : clients) client->close();
  publisher->close();
  for (auto& node : nodes) node->server->stop();
  for (auto& node : nodes) node->thread.join();
  if (delivered != expected) return 1;
  for (auto& node : nodes) {
    if (node->broker && node->broker->publish_failures() != 0) {
      std::fprintf(stderr, "publish failures: %llu\n",
                   static_cast<unsigned long long>(node->broker->publish_failures()));
      return 1;
    }
  }
  return 0;
}
