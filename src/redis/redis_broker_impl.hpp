// The Redis broker's implementation class (see redis_broker.hpp for what it does and
// redis_broker.cpp for how a connection lives). Its work is split by subject:
//   redis_broker.cpp           the Broker interface, failure counting, make_redis_broker()
//   redis_broker_link.cpp      connecting, probing, losing and tearing down both connections
//   redis_broker_delivery.cpp  publishing, subscribing, and handing messages to the sink
//   redis_broker_recovery.cpp  reading a topic's history and the fence that orders it
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "redis/envelope.hpp"
#include "redis/hiredis_loop_adapter.hpp"
#include "redis/pending_publishes.hpp"
#include "redis/redis_scripts.hpp"
#include "redis/tls_relay.hpp"
#include "redis/topic_set.hpp"
#include "session/position.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/io/racing_connector.hpp"
#include "wsx/io/resolver.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/proto/random.hpp"
#include "wsx/redis_broker.hpp"

namespace wsx::redis {

inline constexpr std::string_view channel_prefix = "wsx:";
inline constexpr std::string_view stream_prefix = "wsx:h:";
inline constexpr std::string_view fence_prefix = "wsx!fence:";  // not a topic channel

inline std::string_view reply_text(const redisReply* reply) {
  if (reply == nullptr || reply->str == nullptr) return {};
  return {reply->str, reply->len};
}

class RedisBrokerImpl final : public RedisBroker {
  struct Link;

 public:
  RedisBrokerImpl(RedisBrokerOptions options, RedisEndpoint endpoint, io::TlsContext tls);

  // The server calls stop() on the loop's thread once its loops have stopped; a broker that
  // was started and never stopped still frees its connections here.
  ~RedisBrokerImpl() override;

  void start(io::EventLoop& loop, BrokerSink& sink) override;
  void stop() override;
  void subscribe(std::string_view topic) override;
  void unsubscribe(std::string_view topic) override;
  bool publish(std::string_view topic, MessageKind kind, std::span<const std::uint8_t> payload,
               std::uintptr_t origin) override;
  void recover(std::string_view topic, std::string_view since,
               std::function<void(RecoveryResult)> done) override;
  BrokerState state() const noexcept override { return state_.load(); }
  std::uint64_t publishes() const noexcept override { return publishes_.load(); }
  std::uint64_t publish_failures() const noexcept override { return failures_.load(); }
  std::uint64_t reconnects() const noexcept override { return reconnects_.load(); }
  std::uint64_t received() const noexcept override { return received_.load(); }
  BrokerCounters counters() const noexcept override {
    return {publishes(), publish_failures(), reconnects(), received()};
  }

 private:
  void on_loop(std::function<void()> task);
  void log(const std::string& line);

  // A publish that did not (or may not) reach Redis: counted now, logged by housekeeping() at
  // most once a second with the count.
  bool refuse(std::string_view reason);
  void report_failures();

  // ---- connections

  // hiredis on a connected socket (`fd`, which it owns from now on), with AUTH and SELECT sent.
  redisAsyncContext* open_connection(int fd);

  // One attempt: resolve, connect both, (TLS), probe both — all within the connect timeout.
  void connect();
  void connect_to(std::vector<io::SocketAddress> addresses);
  void on_tcp(Link& link, io::RaceResult result);

  static RedisBrokerImpl* self(const redisAsyncContext* context) {
    return static_cast<RedisBrokerImpl*>(context->data);
  }

  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);

  // The context is no longer ours to free; false when it was not one of ours any more.
  bool forget(const redisAsyncContext* context);
  static void on_setup_reply(redisAsyncContext* context, void* r, void* what);
  static void on_script_loaded(redisAsyncContext* context, void* r, void*);
  static void on_probe(redisAsyncContext* context, void* r, void*);
  void ready(const redisAsyncContext* context);

  // Drops both connections (later, outside hiredis's callbacks) and schedules the next attempt.
  void lose(const std::string& reason);
  void teardown();

  // Every 200 ms: the failure log line, and a Redis that stopped answering counts as lost.
  void housekeeping();

  // ---- publishing

  void send_pending();
  static void on_published(redisAsyncContext* context, void* r, void*);

  // ---- subscriptions and delivery

  void send_subscribe(const std::string& topic);
  void send_subscribe_raw(const std::string& channel);
  static void on_subscription(redisAsyncContext* context, void* r, void*);
  void on_subscribed(const std::string& topic);
  void on_message(std::string_view channel, std::string_view body);

  // ---- recovery (how it keeps order: redis_broker_recovery.cpp)

  void start_recovery(const std::string& topic, const std::string& since,
                      std::function<void(RecoveryResult)> done);
  struct HistoryRead {
    RedisBrokerImpl* broker;
    std::shared_ptr<std::function<void(RecoveryResult)>> done;
  };
  void read_history(const std::string& topic, const std::string& since,
                    std::shared_ptr<std::function<void(RecoveryResult)>> done);
  static void on_history(redisAsyncContext*, void* r, void* privdata);
  void send_fence(RecoveryResult result, std::shared_ptr<std::function<void(RecoveryResult)>> done);
  void on_fence(std::string_view body);

  // How each of the two connections reaches Redis: the TCP race, then for rediss:// the relay.
  struct Link {
    std::unique_ptr<io::RacingConnector> race;  // made in start(): it needs the loop
    std::unique_ptr<redis::TlsRelay> relay;
  };

  RedisBrokerOptions options_;
  RedisEndpoint endpoint_;
  io::TlsContext tls_;                      // rediss:// only
  std::unique_ptr<io::Resolver> resolver_;  // made at the first host name that needs a lookup
  io::ResolveRequest resolving_;
  Link cmd_link_;
  Link sub_link_;
  const std::string instance_;  // tells this node's messages from others' (origin)
  const std::string fence_channel_;
  redis::PendingPublishes pending_;
  Backoff backoff_;

  io::EventLoop* loop_ = nullptr;
  io::LoopHandle handle_;
  BrokerSink* sink_ = nullptr;
  std::atomic<BrokerState> state_{BrokerState::idle};
  redisAsyncContext* cmd_ = nullptr;
  redisAsyncContext* sub_ = nullptr;
  bool cmd_ready_ = false;
  bool sub_ready_ = false;
  bool was_connected_ = false;
  bool lost_logged_ = false;
  bool teardown_posted_ = false;
  std::string last_error_;
  std::string script_sha_;
  io::TimerId housekeeping_ = 0;
  io::TimerId retry_timer_ = 0;
  io::TimerId connect_timer_ = 0;
  std::uint64_t ticks_ = 0;
  std::deque<io::Clock::time_point> sent_at_;  // of the publishes in flight, oldest first
  redis::TopicSet topics_;
  std::unordered_map<std::string, int> subscribes_in_flight_;
  std::map<std::uint64_t, std::function<void(bool)>> fences_;
  std::uint64_t next_fence_ = 1;

  std::atomic<std::uint64_t> publishes_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> received_{0};
  std::mutex failure_mutex_;
  std::size_t unreported_failures_ = 0;
  std::string last_failure_reason_;
};

}  // namespace wsx::redis
