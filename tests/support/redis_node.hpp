// What the Redis broker tests share: a server node on a Redis broker whose "/room" connections
// subscribe to "room" and republish what they send there, and a thread-safe log sink.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/redis_broker.hpp"
#include "wsx/server.hpp"

namespace wsx::test {

// Log lines of a broker, readable from the test thread.
struct LogLines {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mutex);
      lines.emplace_back(line);
    };
  }
  bool contains(std::string_view text) {
    std::lock_guard lock(mutex);
    for (const std::string& line : lines) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
  std::string all() {
    std::lock_guard lock(mutex);
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    return text;
  }
};

// A running server on `broker` whose "/room" connections subscribe to "room" and publish what
// they send there (WebSocket::publish: everyone but the sender).
struct RedisNode {
  explicit RedisNode(std::shared_ptr<RedisBroker> b, int threads = 2)
      : broker(std::move(b)), server(options(threads)) {
    server.route("/room", {.open =
                               [this](WebSocket& ws) {
                                 ws.subscribe("room");
                                 const std::lock_guard lock(mutex);
                                 ++opened;
                                 changed.notify_all();
                               },
                           .message =
                               [](WebSocket& ws, Message message) {
                                 ws.publish("room", message.data, message.kind);
                               }});
    running.emplace(server);
  }
  ServerOptions options(int threads) {
    ServerOptions o;
    o.threads = threads;
    o.broker = broker;
    return o;
  }
  // A raw client that has joined "/room": returns once the server's open callback has
  // subscribed it (the 101 reaches the client before that callback runs).
  std::unique_ptr<RawWsClient> client() {
    std::size_t before = 0;
    {
      const std::lock_guard lock(mutex);
      before = opened;
    }
    auto c = std::make_unique<RawWsClient>(running->port());
    EXPECT_TRUE(c->handshake({}, "/room"));
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return opened > before; }));
    return c;
  }
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t opened = 0;  // open callbacks run (each has subscribed its client)
  std::shared_ptr<RedisBroker> broker;
  Server server;
  std::optional<RunningServer> running;
};

inline std::string text_of(const std::optional<RecordedEvent>& event) {
  if (!event) return "<nothing>";
  return std::string(event->data.begin(), event->data.end());
}

}  // namespace wsx::test
