// Connection life: connect() resolves the host (wsx's resolver), races TCP connects to its
// addresses for both connections, wraps each in a TLS relay for rediss://, and gives hiredis the
// socket; then it pipelines AUTH / SELECT and a probe (SCRIPT LOAD with history, PING
// otherwise); a connection is ready when its probe is answered. Both ready: connected. Any failure
// (refused, closed, AUTH refused, connect or command timeout) drops both — lose() — and retries
// after a backoff delay. hiredis frees a context itself after its disconnect callback, and must not
// have it freed from inside its own callbacks, so the teardown runs as a posted task.
#include "redis/redis_broker_impl.hpp"

namespace wsx::redis {

redisAsyncContext* RedisBrokerImpl::open_connection(int fd) {
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

void RedisBrokerImpl::connect() {
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
  resolving_ =
      resolver_->resolve(*loop_, endpoint_.host, endpoint_.port, [this](io::ResolveResult result) {
        if (!result.ok()) {
          lose("cannot resolve " + endpoint_.host + ": " + result.error);
          return;
        }
        connect_to(std::move(result.addresses));
      });
}

void RedisBrokerImpl::connect_to(std::vector<io::SocketAddress> addresses) {
  addresses = io::interleave_families(addresses);
  const io::RaceOptions race{.timeout = options_.connect_timeout};
  for (Link* link : {&cmd_link_, &sub_link_}) {
    link->race->connect(
        addresses, [this, link](io::RaceResult result) { on_tcp(*link, std::move(result)); }, race);
  }
}

void RedisBrokerImpl::on_tcp(Link& link, io::RaceResult result) {
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

void RedisBrokerImpl::on_connect(const redisAsyncContext* context, int status) {
  if (status == REDIS_OK) return;  // ready once the probe is answered
  RedisBrokerImpl* broker = self(context);
  // hiredis frees the context after this callback.
  broker->forget(context);
  broker->lose(context->errstr != nullptr ? context->errstr : "connect failed");
}

void RedisBrokerImpl::on_disconnect(const redisAsyncContext* context, int status) {
  RedisBrokerImpl* broker = self(context);
  if (!broker->forget(context)) return;  // our own teardown
  broker->lose(status == REDIS_OK
                   ? "connection closed"
                   : (context->errstr != nullptr ? context->errstr : "connection lost"));
}

bool RedisBrokerImpl::forget(const redisAsyncContext* context) {
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

void RedisBrokerImpl::on_setup_reply(redisAsyncContext* context, void* r, void* what) {
  auto* reply = static_cast<redisReply*>(r);
  if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
    self(context)->lose(std::string(static_cast<const char*>(what)) +
                        " refused: " + std::string(reply_text(reply)));
  }
}

void RedisBrokerImpl::on_script_loaded(redisAsyncContext* context, void* r, void*) {
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

void RedisBrokerImpl::on_probe(redisAsyncContext* context, void* r, void*) {
  auto* reply = static_cast<redisReply*>(r);
  RedisBrokerImpl* broker = self(context);
  if (reply == nullptr) return;
  if (reply->type == REDIS_REPLY_ERROR) {
    broker->lose(std::string(reply_text(reply)));
    return;
  }
  broker->ready(context);
}

void RedisBrokerImpl::ready(const redisAsyncContext* context) {
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

void RedisBrokerImpl::lose(const std::string& reason) {
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
    const std::chrono::milliseconds delay = backoff_.next().value_or(options_.reconnect.max_delay);
    retry_timer_ = loop_->run_after(delay, [this] { connect(); });
  });
}

void RedisBrokerImpl::teardown() {
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

void RedisBrokerImpl::housekeeping() {
  if (++ticks_ % 5 == 0) report_failures();
  if (!sent_at_.empty() && loop_->now() - sent_at_.front() > options_.command_timeout) {
    lose("no answer to a publish within " + std::to_string(options_.command_timeout.count()) +
         " ms");
  }
}

}  // namespace wsx::redis
