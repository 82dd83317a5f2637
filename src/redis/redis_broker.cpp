// The Redis broker (see redis_broker.hpp), its interface side. Everything but publish(),
// subscribe(), unsubscribe(), recover() and the counters runs on the broker's loop thread; those
// post to it.
#include <cstdio>
#include <stdexcept>

#include "redis/redis_broker_impl.hpp"

namespace wsx::redis {

using namespace std::chrono_literals;

namespace {

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

}  // namespace

RedisBrokerImpl::RedisBrokerImpl(RedisBrokerOptions options, RedisEndpoint endpoint,
                                 io::TlsContext tls)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      tls_(std::move(tls)),
      instance_(random_instance_id()),
      fence_channel_(std::string(fence_prefix) + instance_),
      pending_(options_.max_pending),
      backoff_(options_.reconnect) {}

RedisBrokerImpl::~RedisBrokerImpl() {
  if (loop_ != nullptr) stop();
}

void RedisBrokerImpl::start(io::EventLoop& loop, BrokerSink& sink) {
  loop_ = &loop;
  handle_ = loop.handle();
  sink_ = &sink;
  housekeeping_ = loop.run_every(200ms, [this] { housekeeping(); });
  for (Link* link : {&cmd_link_, &sub_link_}) {
    link->race = std::make_unique<io::RacingConnector>(loop);
  }
  connect();
}

void RedisBrokerImpl::stop() {
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

void RedisBrokerImpl::subscribe(std::string_view topic) {
  on_loop([this, topic = std::string(topic)] {
    if (topics_.want(topic) && sub_ready_) send_subscribe(topic);
  });
}

void RedisBrokerImpl::unsubscribe(std::string_view topic) {
  on_loop([this, topic = std::string(topic)] {
    std::vector<std::function<void(bool)>> orphans;
    if (topics_.unwant(topic, &orphans) && sub_ready_) {
      const std::string channel = std::string(channel_prefix) + topic;
      redisAsyncCommand(sub_, nullptr, nullptr, "UNSUBSCRIBE %b", channel.data(), channel.size());
    }
    for (auto& waiter : orphans) waiter(false);
  });
}

bool RedisBrokerImpl::publish(std::string_view topic, MessageKind kind,
                              std::span<const std::uint8_t> payload, std::uintptr_t origin) {
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

void RedisBrokerImpl::recover(std::string_view topic, std::string_view since,
                              std::function<void(RecoveryResult)> done) {
  on_loop([this, topic = std::string(topic), since = std::string(since),
           done = std::move(done)]() mutable { start_recovery(topic, since, std::move(done)); });
}

void RedisBrokerImpl::on_loop(std::function<void()> task) {
  if (loop_ != nullptr && loop_->in_loop_thread()) {
    task();
  } else {
    handle_.post(std::move(task));
  }
}

void RedisBrokerImpl::log(const std::string& line) {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "wsx: redis: %s\n", line.c_str());
  }
}

bool RedisBrokerImpl::refuse(std::string_view reason) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(failure_mutex_);
  ++unreported_failures_;
  last_failure_reason_ = reason;
  return false;
}

void RedisBrokerImpl::report_failures() {
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

}  // namespace wsx::redis

namespace wsx {

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
  return std::make_shared<redis::RedisBrokerImpl>(std::move(options), std::move(*endpoint),
                                                  std::move(tls));
}

}  // namespace wsx
