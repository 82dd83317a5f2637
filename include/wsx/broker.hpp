// A broker carries the server's publishes to the other nodes of a deployment. Without one
// (ServerOptions::broker empty) topics are local to the process, as they always were; with one,
// Server::publish and WebSocket::publish hand the message to the broker, and every node (this
// one included, exactly once) delivers what the broker brings back to its own subscribers,
// framed once per node. wsx ships a Redis broker (redis_broker.hpp); the server does not know
// which broker it has.
//
// Positions. A broker that keeps history gives each message a position ("1733380000000-0" for
// Redis: the Stream entry id), increasing along the topic. A subscriber that asked for positions
// (SubscribeOptions::positions) receives every message as "<position>\n<payload>", in the
// message's own kind, so that it can later say where it was (SubscribeOptions::since) and get
// what it missed before the live messages.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wsx/export.hpp"
#include "wsx/websocket.hpp"

namespace wsx {

namespace io {
class EventLoop;
}

enum class BrokerState : std::uint8_t {
  idle,          // not started
  connecting,    // first attempt, or after a loss (publishes are refused meanwhile)
  connected,     // publishes flow
  disconnected,  // lost; waiting for the next attempt (backoff)
  stopped,
};
WSX_API std::string_view describe(BrokerState state) noexcept;

WSX_API std::string_view describe(RecoveryStatus status) noexcept;

// What a broker counts since it started, read by the server's metrics at every scrape
// (wsx_broker_*). Any thread.
struct BrokerCounters {
  std::uint64_t publishes = 0;         // accepted by publish()
  std::uint64_t publish_failures = 0;  // refused, or lost after being accepted
  std::uint64_t reconnects = 0;        // connections re-established after a loss
  std::uint64_t received = 0;          // messages that came from the broker
};

struct BrokerMessage {
  std::string_view topic;
  std::string_view position;  // empty when the topic keeps no history
  MessageKind kind = MessageKind::binary;
  std::span<const std::uint8_t> payload;
  // The connection that published it (a WebSocket::publish skips its own connection), 0 for
  // Server::publish; meaningful only when `local` (the message came from this node).
  std::uintptr_t origin = 0;
  bool local = false;
};

struct RecoveredMessage {
  std::string position;
  MessageKind kind = MessageKind::binary;
  std::vector<std::uint8_t> payload;
};

struct RecoveryResult {
  RecoveryStatus status = RecoveryStatus::unavailable;
  std::vector<RecoveredMessage> messages;  // after `since`, in order
};

// Where a broker delivers: the server's topics. Called on the broker's loop thread.
class WSX_API BrokerSink {
 public:
  virtual void deliver(const BrokerMessage& message) = 0;

 protected:
  ~BrokerSink() = default;
};

class WSX_API Broker {
 public:
  virtual ~Broker() = default;

  // Server::run() calls start() on the thread of `loop` (the server's first thread) before it
  // serves, and stop() on the same thread once every loop has stopped. The broker does all its
  // I/O on `loop`.
  virtual void start(io::EventLoop& loop, BrokerSink& sink) = 0;
  virtual void stop() = 0;

  // Any thread. The node has local subscribers to `topic` (from the first one on) or no longer
  // has any (after the last one left). Calls alternate per topic, starting with subscribe.
  virtual void subscribe(std::string_view topic) = 0;
  virtual void unsubscribe(std::string_view topic) = 0;

  // Any thread. Accepted (true) or refused at once (false: the broker is not connected or its
  // queue of pending publishes is full), which the broker counts and logs. An accepted publish
  // that fails later (the connection drops before the broker confirmed it) is counted and
  // logged too.
  virtual bool publish(std::string_view topic, MessageKind kind,
                       std::span<const std::uint8_t> payload, std::uintptr_t origin) = 0;

  // Any thread; `done` runs on the broker's loop thread. The messages of `topic` after
  // `since`, once the node's subscription to the topic is in place, such that every message
  // after the last one returned reaches the sink after `done` returns (none before it): the
  // caller delivers these, then the live ones, with no gap and no duplicate. The node must be
  // subscribed to `topic` (subscribe() called) for the whole recovery.
  virtual void recover(std::string_view topic, std::string_view since,
                       std::function<void(RecoveryResult)> done) = 0;

  virtual BrokerState state() const noexcept = 0;
  // Any thread. A broker that counts nothing may keep the default.
  virtual BrokerCounters counters() const noexcept { return {}; }
};

}  // namespace wsx
