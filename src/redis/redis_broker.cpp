// The Redis broker (see redis_broker.hpp). Everything but publish(), subscribe(),
// unsubscribe(), recover() and the counters runs on the broker's loop thread; those post to it.
//
// Connection life: connect() resolves the host (wsx's resolver), races TCP connects to its
// addresses for both connections, wraps each in a TLS relay for rediss://, and gives hiredis the
// socket; then it pipelines AUTH / SELECT and a probe (SCRIPT LOAD with history, PING
// otherwise); a connection is ready when its probe is answered. Both ready: connected. Any failure
// (refused, closed, AUTH refused, connect or command timeout) drops both — lose() — and retries
// after a backoff delay. hiredis frees a context itself after its disconnect callback, and must not
// have it freed from inside its own callbacks, so the teardown runs as a posted task.
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>

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

namespace wsx {
namespace {

using namespace std::chrono_literals;
constexpr std::string_view channel_prefix = "wsx:";
constexpr std::string_view stream_prefix = "wsx:h:";
constexpr std::string_view fence_prefix = "wsx!fence:";  // not a topic channel

std::string_view reply_text(const redisReply* reply) {
  if (reply == nullptr || reply->str == nullptr) return {};
  return {reply->str, reply->len};
}

std::string random_instance_id() {
  static constexpr char digits[] = "0123456789abcdef";
  std::uint8_t bytes[8];
  proto::random_bytes(bytes, sizeof bytes);
  std::string id;
  for (std::uint8_t byte : bytes) {
    id += digits[byte >> 4];
    id += digits[byte & 15];
  }
  return id;
}

class RedisBrokerImpl final : public RedisBroker {
  struct Link;

 public:
  RedisBrokerImpl(RedisBrokerOptions options, RedisEndpoint endpoint, io::TlsContext tls)
      : options_(std::move(options)),
        endpoint_(std::move(endpoint)),
        tls_(std::move(tls)),
        instance_(random_instance_id()),
        fence_channel_(std::string(fence_prefix) + instance_),
        pending_(options_.max_pending),
        backoff_(options_.reconnect) {}

  // The server calls stop() on the loop's thread once its loops have stopped; a broker that
  // was started and never stopped still frees its connections here.
  ~RedisBrokerImpl() override {
    if (loop_ != nullptr) stop();
  }

  void start(io::EventLoop& loop, BrokerSink& sink) override {
    loop_ = &loop;
    handle_ = loop.handle();
    sink_ = &sink;
    housekeeping_ = loop.run_every(200ms, [this] { housekeeping(); });
    for (Link* link : {&cmd_link_, &sub_link_}) {
      link->race = std::make_unique<io::RacingConnector>(loop);
    }
    connect();
  }

  void stop() override {
    if (state_ == BrokerState::stopped) return;
    state_ = BrokerState::stopped;
    if (loop_ == nullptr) return;
    loop_->cancel(housekeeping_);
    loop_->cancel(retry_timer_);
    loop_->cancel(connect_timer_);
    teardown();
    for (Link* link : {&cmd_link_, &sub_link_}) link->race.reset();
    resolver_.reset();  // waits for a lookup in progress, if any
    report_failures();
    // The loop may be destroyed before this broker (the server's workers go first): what comes
    // later (sessions destroyed with their workers unsubscribe) only tries the handle, which
    // refuses once the loop is gone.
    loop_ = nullptr;
  }

  void subscribe(std::string_view topic) override {
    on_loop([this, topic = std::string(topic)] {
      if (topics_.want(topic) && sub_ready_) send_subscribe(topic);
    });
  }

  void unsubscribe(std::string_view topic) override {
    on_loop([this, topic = std::string(topic)] {
      std::vector<std::function<void(bool)>> orphans;
      if (topics_.unwant(topic, &orphans) && sub_ready_) {
        const std::string channel = std::string(channel_prefix) + topic;
        redisAsyncCommand(sub_, nullptr, nullptr, "UNSUBSCRIBE %b", channel.data(), channel.size());
      }
      for (auto& waiter : orphans) waiter(false);
    });
  }

  bool publish(std::string_view topic, MessageKind kind, std::span<const std::uint8_t> payload,
               std::uintptr_t origin) override {
    if (state_ != BrokerState::connected) return refuse("redis is not connected");
    std::string body = options_.history > 0 ? std::string() : std::string("\n");
    body += redis::encode_envelope(kind, origin, instance_, payload);
    const auto pushed = pending_.push({std::string(topic), std::move(body)});
    if (pushed == redis::PendingPublishes::Push::full) {
      return refuse("too many publishes waiting for redis");
    }
    publishes_.fetch_add(1, std::memory_order_relaxed);
    if (pushed == redis::PendingPublishes::Push::queued_first &&
        !handle_.post([this] { send_pending(); })) {
      // The loop is gone (the server stopped): nothing will send it.
      pending_.drop_queued();
      return refuse("the server has stopped");
    }
    return true;
  }

  void recover(std::string_view topic, std::string_view since,
               std::function<void(RecoveryResult)> done) override {
    on_loop([this, topic = std::string(topic), since = std::string(since),
             done = std::move(done)]() mutable { start_recovery(topic, since, std::move(done)); });
  }

  BrokerState state() const noexcept override { return state_.load(); }
  std::uint64_t publishes() const noexcept override { return publishes_.load(); }
  std::uint64_t publish_failures() const noexcept override { return failures_.load(); }
  std::uint64_t reconnects() const noexcept override { return reconnects_.load(); }
  std::uint64_t received() const noexcept override { return received_.load(); }
  BrokerCounters counters() const noexcept override {
    return {publishes(), publish_failures(), reconnects(), received()};
  }

 private:
  void on_loop(std::function<void()> task) {
    if (loop_ != nullptr && loop_->in_loop_thread()) {
      task();
    } else {
      handle_.post(std::move(task));
    }
  }

  void log(const std::string& line) {
    if (options_.log) {
      options_.log(line);
    } else {
      std::fprintf(stderr, "wsx: redis: %s\n", line.c_str());
    }
  }

  // A publish that did not (or may not) reach Redis: counted now, logged by housekeeping() at
  // most once a second with the count.
  bool refuse(std::string_view reason) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(failure_mutex_);
    ++unreported_failures_;
    last_failure_reason_ = reason;
    return false;
  }

  void report_failures() {
    std::size_t count = 0;
    std::string reason;
    {
      std::lock_guard lock(failure_mutex_);
      count = unreported_failures_;
      reason = last_failure_reason_;
      unreported_failures_ = 0;
    }
    if (count > 0) {
      log(std::to_string(count) + (count == 1 ? " publish" : " publishes") + " not delivered (" +
          reason + ")");
    }
  }

  // ---- connections

  // hiredis on a connected socket (`fd`, which it owns from now on), with AUTH and SELECT sent.
  redisAsyncContext* open_connection(int fd) {
    redisAsyncContext* context = redis::async_context_on_socket(fd);
    if (context == nullptr) {
      last_error_ = "out of memory";
      return nullptr;
    }
    if (!redis::attach_to_loop(*loop_, context)) {
      last_error_ = "cannot watch the socket";
      redisAsyncFree(context);
      return nullptr;
    }
    context->data = this;
    redisAsyncSetConnectCallback(context, &RedisBrokerImpl::on_connect);
    redisAsyncSetDisconnectCallback(context, &RedisBrokerImpl::on_disconnect);
    if (endpoint_.has_password) {
      if (endpoint_.user.empty()) {
        redisAsyncCommand(context, &RedisBrokerImpl::on_setup_reply, const_cast<char*>("AUTH"),
                          "AUTH %b", endpoint_.password.data(), endpoint_.password.size());
      } else {
        redisAsyncCommand(context, &RedisBrokerImpl::on_setup_reply, const_cast<char*>("AUTH"),
                          "AUTH %b %b", endpoint_.user.data(), endpoint_.user.size(),
                          endpoint_.password.data(), endpoint_.password.size());
      }
    }
    if (endpoint_.database != 0) {
      redisAsyncCommand(context, &RedisBrokerImpl::on_setup_reply, const_cast<char*>("SELECT"),
                        "SELECT %d", endpoint_.database);
    }
    return context;
  }

  // One attempt: resolve, connect both, (TLS), probe both — all within the connect timeout.
  void connect() {
    if (state_ == BrokerState::stopped) return;
    retry_timer_ = 0;
    state_ = BrokerState::connecting;
    last_error_.clear();
    connect_timer_ = loop_->run_after(options_.connect_timeout, [this] {
      connect_timer_ = 0;
      if (!(cmd_ready_ && sub_ready_)) lose("no answer within the connect timeout");
    });
    // IP literals and localhost names need no lookup (and no resolver thread).
    if (auto literal = io::SocketAddress::parse(endpoint_.host, endpoint_.port)) {
      connect_to({*literal});
      return;
    }
    if (io::is_localhost_name(endpoint_.host)) {
      connect_to(io::localhost_addresses(endpoint_.port));
      return;
    }
    if (!resolver_) resolver_ = std::make_unique<io::Resolver>(io::ResolverOptions{.threads = 1});
    resolving_ = resolver_->resolve(
        *loop_, endpoint_.host, endpoint_.port, [this](io::ResolveResult result) {
          if (!result.ok()) {
            lose("cannot resolve " + endpoint_.host + ": " + result.error);
            return;
          }
          connect_to(std::move(result.addresses));
        });
  }

  void connect_to(std::vector<io::SocketAddress> addresses) {
    addresses = io::interleave_families(addresses);
    const io::RaceOptions race{.timeout = options_.connect_timeout};
    for (Link* link : {&cmd_link_, &sub_link_}) {
      link->race->connect(
          addresses, [this, link](io::RaceResult result) { on_tcp(*link, std::move(result)); },
          race);
    }
  }

  void on_tcp(Link& link, io::RaceResult result) {
    if (!result.ok()) {
      lose(result.error.message());
      return;
    }
    int fd = -1;
    if (endpoint_.tls) {
      link.relay = std::make_unique<redis::TlsRelay>(
          *loop_, std::move(result.socket), io::TlsSession(tls_, endpoint_.host),
          [this](const std::string& reason) { lose("TLS: " + reason); });
      fd = link.relay->hiredis_end();
      if (fd < 0) {
        lose("cannot make a socket pair for TLS");
        return;
      }
    } else {
      fd = result.socket.release();
    }
    redisAsyncContext* context = open_connection(fd);
    if (context == nullptr) {
      lose(last_error_);
      return;
    }
    if (&link == &cmd_link_) {
      cmd_ = context;
      if (options_.history > 0) {
        const std::string script = redis::publish_with_history_script;
        redisAsyncCommand(cmd_, &RedisBrokerImpl::on_script_loaded, nullptr, "SCRIPT LOAD %b",
                          script.data(), script.size());
      } else {
        redisAsyncCommand(cmd_, &RedisBrokerImpl::on_probe, nullptr, "PING");
      }
    } else {
      sub_ = context;
      redisAsyncCommand(sub_, &RedisBrokerImpl::on_probe, nullptr, "PING");
    }
  }

  static RedisBrokerImpl* self(const redisAsyncContext* context) {
    return static_cast<RedisBrokerImpl*>(context->data);
  }

  static void on_connect(const redisAsyncContext* context, int status) {
    if (status == REDIS_OK) return;  // ready once the probe is answered
    RedisBrokerImpl* broker = self(context);
    // hiredis frees the context after this callback.
    broker->forget(context);
    broker->lose(context->errstr != nullptr ? context->errstr : "connect failed");
  }

  static void on_disconnect(const redisAsyncContext* context, int status) {
    RedisBrokerImpl* broker = self(context);
    if (!broker->forget(context)) return;  // our own teardown
    broker->lose(status == REDIS_OK
                     ? "connection closed"
                     : (context->errstr != nullptr ? context->errstr : "connection lost"));
  }

  // The context is no longer ours to free; false when it was not one of ours any more.
  bool forget(const redisAsyncContext* context) {
    if (context == cmd_) {
      cmd_ = nullptr;
      cmd_ready_ = false;
      return true;
    }
    if (context == sub_) {
      sub_ = nullptr;
      sub_ready_ = false;
      return true;
    }
    return false;
  }

  static void on_setup_reply(redisAsyncContext* context, void* r, void* what) {
    auto* reply = static_cast<redisReply*>(r);
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
      self(context)->lose(std::string(static_cast<const char*>(what)) +
                          " refused: " + std::string(reply_text(reply)));
    }
  }

  static void on_script_loaded(redisAsyncContext* context, void* r, void*) {
    auto* reply = static_cast<redisReply*>(r);
    RedisBrokerImpl* broker = self(context);
    if (reply == nullptr || context != broker->cmd_) return;
    if (reply->type != REDIS_REPLY_STRING) {
      broker->lose("SCRIPT LOAD failed: " + std::string(reply_text(reply)));
      return;
    }
    broker->script_sha_ = std::string(reply_text(reply));
    broker->ready(context);
  }

  static void on_probe(redisAsyncContext* context, void* r, void*) {
    auto* reply = static_cast<redisReply*>(r);
    RedisBrokerImpl* broker = self(context);
    if (reply == nullptr) return;
    if (reply->type == REDIS_REPLY_ERROR) {
      broker->lose(std::string(reply_text(reply)));
      return;
    }
    broker->ready(context);
  }

  void ready(const redisAsyncContext* context) {
    if (state_ == BrokerState::stopped || state_ == BrokerState::disconnected) return;
    if (context == sub_ && !sub_ready_) {
      sub_ready_ = true;
      send_subscribe_raw(fence_channel_);
      for (const std::string& topic : topics_.all_wanted()) send_subscribe(topic);
    }
    if (context == cmd_) cmd_ready_ = true;
    if (!(cmd_ready_ && sub_ready_)) return;
    loop_->cancel(connect_timer_);
    connect_timer_ = 0;
    state_ = BrokerState::connected;
    backoff_.reset();
    const std::string where = endpoint_.host + ":" + std::to_string(endpoint_.port);
    if (was_connected_) {
      reconnects_.fetch_add(1, std::memory_order_relaxed);
      log("connected again to " + where + ", " + std::to_string(topics_.size()) +
          " topics subscribed again");
    } else {
      log("connected to " + where);
    }
    was_connected_ = true;
    lost_logged_ = false;
  }

  // Drops both connections (later, outside hiredis's callbacks) and schedules the next attempt.
  void lose(const std::string& reason) {
    if (state_ == BrokerState::stopped) return;
    if (state_ != BrokerState::disconnected) {
      // One line per outage, not one per failed attempt.
      if (!lost_logged_) {
        log((was_connected_ ? "lost " : "cannot reach ") + endpoint_.host + ":" +
            std::to_string(endpoint_.port) + " (" + reason +
            "); publishes are refused until it is back, retrying");
        lost_logged_ = true;
      }
      state_ = BrokerState::disconnected;
    }
    if (teardown_posted_) return;
    teardown_posted_ = true;
    loop_->post([this] {
      teardown_posted_ = false;
      if (state_ == BrokerState::stopped) return;
      teardown();
      const std::chrono::milliseconds delay =
          backoff_.next().value_or(options_.reconnect.max_delay);
      retry_timer_ = loop_->run_after(delay, [this] { connect(); });
    });
  }

  void teardown() {
    loop_->cancel(connect_timer_);
    connect_timer_ = 0;
    resolving_.cancel();
    for (Link* link : {&cmd_link_, &sub_link_}) {
      if (link->race) link->race->cancel();
    }
    for (redisAsyncContext** context : {&cmd_, &sub_}) {
      redisAsyncContext* doomed = *context;
      *context = nullptr;
      // Unanswered callbacks run now with no reply: in-flight publishes count as failed.
      if (doomed != nullptr) redisAsyncFree(doomed);
    }
    // After the contexts: hiredis has closed its ends of the relays' socket pairs.
    for (Link* link : {&cmd_link_, &sub_link_}) link->relay.reset();
    cmd_ready_ = sub_ready_ = false;
    sent_at_.clear();
    subscribes_in_flight_.clear();
    for (std::size_t n = pending_.drop_queued(); n > 0; --n) refuse("redis connection lost");
    for (auto& waiter : topics_.connection_lost()) waiter(false);
    auto fences = std::move(fences_);
    fences_.clear();
    for (auto& [id, done] : fences) done(false);
  }

  // Every 200 ms: the failure log line, and a Redis that stopped answering counts as lost.
  void housekeeping() {
    if (++ticks_ % 5 == 0) report_failures();
    if (!sent_at_.empty() && loop_->now() - sent_at_.front() > options_.command_timeout) {
      lose("no answer to a publish within " + std::to_string(options_.command_timeout.count()) +
           " ms");
    }
  }

  // ---- publishing

  void send_pending() {
    std::deque<redis::PendingPublish> batch = pending_.take();
    for (redis::PendingPublish& publish : batch) {
      if (!cmd_ready_) {
        pending_.settled();
        refuse("redis connection lost");
        continue;
      }
      const std::string channel = std::string(channel_prefix) + publish.topic;
      int status = REDIS_ERR;
      if (options_.history > 0) {
        const std::string stream = std::string(stream_prefix) + publish.topic;
        const std::string max_entries = std::to_string(options_.history);
        const std::string max_age = std::to_string(options_.history_age.count());
        status = redisAsyncCommand(
            cmd_, &RedisBrokerImpl::on_published, nullptr, "EVALSHA %b 2 %b %b %b %b %b",
            script_sha_.data(), script_sha_.size(), stream.data(), stream.size(), channel.data(),
            channel.size(), publish.envelope.data(), publish.envelope.size(), max_entries.data(),
            max_entries.size(), max_age.data(), max_age.size());
      } else {
        status = redisAsyncCommand(cmd_, &RedisBrokerImpl::on_published, nullptr, "PUBLISH %b %b",
                                   channel.data(), channel.size(), publish.envelope.data(),
                                   publish.envelope.size());
      }
      if (status != REDIS_OK) {
        pending_.settled();
        refuse("redis connection lost");
        continue;
      }
      sent_at_.push_back(loop_->now());
    }
  }

  static void on_published(redisAsyncContext* context, void* r, void*) {
    auto* reply = static_cast<redisReply*>(r);
    RedisBrokerImpl* broker = self(context);
    broker->pending_.settled();
    if (!broker->sent_at_.empty()) broker->sent_at_.pop_front();
    if (reply == nullptr) {
      broker->refuse("redis connection lost before it confirmed");
    } else if (reply->type == REDIS_REPLY_ERROR) {
      broker->refuse("redis: " + std::string(reply_text(reply)));
    }
  }

  // ---- subscriptions and delivery

  void send_subscribe(const std::string& topic) {
    send_subscribe_raw(std::string(channel_prefix) + topic);
    ++subscribes_in_flight_[topic];
  }

  void send_subscribe_raw(const std::string& channel) {
    // One callback for every channel: hiredis 0.14 keeps one per channel name, and which entry
    // answers does not matter when they are all the same.
    redisAsyncCommand(sub_, &RedisBrokerImpl::on_subscription, nullptr, "SUBSCRIBE %b",
                      channel.data(), channel.size());
  }

  static void on_subscription(redisAsyncContext* context, void* r, void*) {
    auto* reply = static_cast<redisReply*>(r);
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    RedisBrokerImpl* broker = self(context);
    if (context != broker->sub_) return;
    const std::string_view kind = reply_text(reply->element[0]);
    const std::string_view channel = reply_text(reply->element[1]);
    if (kind == "message") {
      broker->on_message(channel, reply_text(reply->element[2]));
    } else if (kind == "subscribe" && channel.substr(0, channel_prefix.size()) == channel_prefix) {
      broker->on_subscribed(std::string(channel.substr(channel_prefix.size())));
    }
  }

  void on_subscribed(const std::string& topic) {
    const auto found = subscribes_in_flight_.find(topic);
    if (found == subscribes_in_flight_.end()) return;
    if (--found->second > 0) return;  // a later SUBSCRIBE of the same topic is still on its way
    subscribes_in_flight_.erase(found);
    for (auto& waiter : topics_.confirm(topic)) waiter(true);
  }

  void on_message(std::string_view channel, std::string_view body) {
    if (channel == fence_channel_) {
      on_fence(body);
      return;
    }
    if (channel.substr(0, channel_prefix.size()) != channel_prefix) return;
    const std::optional<redis::ChannelMessage> message = redis::decode_channel_message(body);
    if (!message) return;  // not ours: someone else publishing on the channel
    received_.fetch_add(1, std::memory_order_relaxed);
    BrokerMessage delivered;
    delivered.topic = channel.substr(channel_prefix.size());
    delivered.position = message->position;
    delivered.kind = message->envelope.kind;
    delivered.payload = message->envelope.payload;
    delivered.origin = message->envelope.origin;
    delivered.local = message->envelope.node == instance_;
    sink_->deliver(delivered);
  }

  // ---- recovery: wait for the topic's subscription, read the Stream after `since`, then a
  // fence: a PUBLISH on our own channel sent after the read. Redis handles commands in one
  // order, and one connection's messages arrive in order, so when the fence comes back every
  // message published before the read (thus in its result or older) has reached the sink.

  void start_recovery(const std::string& topic, const std::string& since,
                      std::function<void(RecoveryResult)> done) {
    auto fail = [&done] { done(RecoveryResult{}); };
    if (options_.history == 0 || !session::parse_position(since) || !topics_.wanted(topic)) {
      fail();
      return;
    }
    auto shared_done = std::make_shared<std::function<void(RecoveryResult)>>(std::move(done));
    auto query = [this, topic, since, shared_done](bool confirmed) {
      if (!confirmed || !cmd_ready_) {
        (*shared_done)(RecoveryResult{});
        return;
      }
      read_history(topic, since, shared_done);
    };
    if (!topics_.wait_for_confirmation(topic, query)) {
      query(topics_.confirmed(topic) && sub_ready_);
    }
  }

  struct HistoryRead {
    RedisBrokerImpl* broker;
    std::shared_ptr<std::function<void(RecoveryResult)>> done;
  };

  void read_history(const std::string& topic, const std::string& since,
                    std::shared_ptr<std::function<void(RecoveryResult)>> done) {
    const std::string stream = std::string(stream_prefix) + topic;
    const std::string script = redis::recover_script;
    auto* read = new HistoryRead{this, std::move(done)};
    const int status = redisAsyncCommand(cmd_, &RedisBrokerImpl::on_history, read,
                                         "EVAL %b 1 %b %b", script.data(), script.size(),
                                         stream.data(), stream.size(), since.data(), since.size());
    if (status != REDIS_OK) {
      auto callback = std::move(read->done);
      delete read;
      (*callback)(RecoveryResult{});
    }
  }

  static void on_history(redisAsyncContext*, void* r, void* privdata) {
    std::unique_ptr<HistoryRead> read(static_cast<HistoryRead*>(privdata));
    auto* reply = static_cast<redisReply*>(r);
    RedisBrokerImpl* broker = read->broker;
    RecoveryResult result;
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        broker->log("history read failed: " + std::string(reply_text(reply)));
      }
      (*read->done)(std::move(result));
      return;
    }
    result.status =
        reply->element[0]->integer != 0 ? RecoveryStatus::truncated : RecoveryStatus::complete;
    const redisReply* entries = reply->element[1];
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply* entry = entries->element[i];
      if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) continue;
      const redisReply* fields = entry->element[1];
      if (fields->type != REDIS_REPLY_ARRAY || fields->elements < 2) continue;
      const std::optional<redis::Envelope> envelope =
          redis::decode_envelope(reply_text(fields->element[1]));
      if (!envelope) continue;
      RecoveredMessage message;
      message.position = std::string(reply_text(entry->element[0]));
      message.kind = envelope->kind;
      message.payload.assign(envelope->payload.begin(), envelope->payload.end());
      result.messages.push_back(std::move(message));
    }
    broker->send_fence(std::move(result), std::move(read->done));
  }

  void send_fence(RecoveryResult result,
                  std::shared_ptr<std::function<void(RecoveryResult)>> done) {
    if (!cmd_ready_) {
      (*done)(RecoveryResult{});
      return;
    }
    const std::uint64_t id = next_fence_++;
    auto shared_result = std::make_shared<RecoveryResult>(std::move(result));
    fences_[id] = [shared_result, done](bool arrived) {
      (*done)(arrived ? std::move(*shared_result) : RecoveryResult{});
    };
    const std::string body = std::to_string(id);
    if (redisAsyncCommand(cmd_, nullptr, nullptr, "PUBLISH %b %b", fence_channel_.data(),
                          fence_channel_.size(), body.data(), body.size()) != REDIS_OK) {
      auto done_now = std::move(fences_[id]);
      fences_.erase(id);
      done_now(false);
    }
  }

  void on_fence(std::string_view body) {
    const auto found = fences_.find(std::strtoull(std::string(body).c_str(), nullptr, 10));
    if (found == fences_.end()) return;
    auto done = std::move(found->second);
    fences_.erase(found);
    done(true);
  }

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

}  // namespace

std::shared_ptr<RedisBroker> make_redis_broker(RedisBrokerOptions options) {
  std::string error;
  std::optional<RedisEndpoint> endpoint = parse_redis_url(options.url, &error);
  if (!endpoint) throw std::invalid_argument("redis URL '" + options.url + "': " + error);
  const bool tls_options = !options.tls_ca_file.empty() || options.tls_insecure_skip_verify ||
                           !options.tls_certificate_file.empty() || !options.tls_key_file.empty();
  io::TlsContext tls;
  if (endpoint->tls) {
    if (options.tls_certificate_file.empty() != options.tls_key_file.empty()) {
      throw std::invalid_argument("redis TLS: a client certificate needs its key and the reverse");
    }
    io::TlsClientOptions client;
    client.ca_file = options.tls_ca_file;
    // A CA file names whom to trust: the system's CAs are not trusted besides it.
    client.use_system_ca = options.tls_ca_file.empty();
    client.insecure_skip_verify = options.tls_insecure_skip_verify;
    client.alpn = {};  // Redis speaks no ALPN
    client.certificate_chain_file = options.tls_certificate_file;
    client.private_key_file = options.tls_key_file;
    tls = io::TlsContext::client(client);
    if (!tls.ok()) throw std::invalid_argument("redis TLS: " + tls.error());
  } else if (tls_options) {
    throw std::invalid_argument("redis TLS options need a rediss:// URL, not '" + options.url +
                                "'");
  }
  return std::make_shared<RedisBrokerImpl>(std::move(options), std::move(*endpoint),
                                           std::move(tls));
}

}  // namespace wsx
