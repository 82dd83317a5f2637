#include "wsx/server.hpp"

#include <csignal>
#include <stdexcept>
#include <thread>

#include "server/worker.hpp"
#include "session/connection_metrics.hpp"
#include "wsx/broker.hpp"
#include "wsx/io/port_owners.hpp"
#include "wsx/io/signal_watcher.hpp"
#include "wsx/io/socket_address.hpp"

namespace wsx {
namespace {

// The broker's state (one series per state, 1 for the current one) and counters, read at
// every scrape. The functions keep the broker alive: the registry may outlive the server.
void register_broker_metrics(MetricsRegistry& registry, const std::shared_ptr<Broker>& broker) {
  for (const BrokerState state :
       {BrokerState::idle, BrokerState::connecting, BrokerState::connected,
        BrokerState::disconnected, BrokerState::stopped}) {
    registry.gauge_callback("wsx_broker_state",
                            "The broker's connection state (1 for the current one).",
                            [broker, state] { return broker->state() == state ? 1.0 : 0.0; },
                            {{"state", std::string(describe(state))}});
  }
  const auto counter = [&](std::string_view name, std::string_view help,
                           std::uint64_t BrokerCounters::*field) {
    registry.counter_callback(
        name, help, [broker, field] { return static_cast<double>(broker->counters().*field); });
  };
  counter("wsx_broker_publishes_total", "Publishes the broker accepted.",
          &BrokerCounters::publishes);
  counter("wsx_broker_publish_failures_total",
          "Publishes the broker refused or lost (not delivered to other nodes).",
          &BrokerCounters::publish_failures);
  counter("wsx_broker_reconnects_total", "Connections to the broker re-established after a loss.",
          &BrokerCounters::reconnects);
  counter("wsx_broker_received_total", "Messages received from the broker.",
          &BrokerCounters::received);
}

}  // namespace

struct Server::Impl {
  server::ServerShared shared;
  std::vector<std::unique_ptr<server::Worker>> workers;
  std::string tls_error;
  std::atomic<bool> stop_requested{false};
  // Of the first listen(), kept here: port() may be called from any thread, while the loop
  // threads close their listeners at stop().
  std::uint16_t port = 0;
  bool listening = false;  // a listen() succeeded: run() has something to serve
  bool ran = false;        // run() was called: a server serves once
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.threads == 0) options.threads = std::max(1u, std::thread::hardware_concurrency());
  impl_->shared.options = std::move(options);
  if (!impl_->shared.options.metrics) {
    impl_->shared.options.metrics = std::make_shared<MetricsRegistry>();
  }
  const ServerOptions& opts = impl_->shared.options;
  impl_->shared.topics.set_publish_counter(session::register_builtin_metrics(*opts.metrics));
  impl_->shared.memory.configure(opts.max_buffered_bytes, opts.over_budget_timeout);
  impl_->shared.address_limits.configure(opts.address_limits);
  impl_->shared.handshake_config.options.close_timeout = std::chrono::seconds(2);
  impl_->shared.handshake_config.error_hook = &opts.error_hook;
  if (opts.tls) {
    io::TlsServerOptions tls;
    tls.certificate_chain_file = opts.tls->certificate_chain_file;
    tls.private_key_file = opts.tls->private_key_file;
    tls.client_ca_file = opts.tls->client_ca_file;
    tls.require_client_certificate = opts.tls->require_client_certificate;
    if (opts.http2) tls.alpn = {"h2", "http/1.1"};
    io::TlsContext context = io::TlsContext::server(tls);
    if (context.ok()) {
      impl_->shared.tls.emplace(std::move(context));
    } else {
      impl_->tls_error = context.error();
    }
  }
  impl_->shared.topics.set_broker(opts.broker.get());
  if (opts.broker) register_broker_metrics(*opts.metrics, opts.broker);
  // Long-polling session ids name their thread in 16 bits.
  if (opts.threads > 65536) throw std::invalid_argument("wsx::Server: at most 65536 threads");
  if (opts.coalesce_wait.count() < 0 || opts.coalesce_wait > io::max_coalesce_wait) {
    throw std::invalid_argument("wsx::Server: coalesce_wait is 0 to 10 ms");
  }
  for (unsigned i = 0; i < opts.threads; ++i) {
    impl_->workers.push_back(
        std::make_unique<server::Worker>(impl_->shared, static_cast<std::uint16_t>(i)));
    impl_->shared.poll_hubs.push_back(&impl_->workers.back()->poll_hub());
  }
}

Server::~Server() = default;

Server& Server::route(std::string pattern, Behavior behavior) {
  if (behavior.upgrade && behavior.upgrade_async) {
    throw std::invalid_argument("wsx::Server::route(\"" + pattern +
                                "\"): set upgrade or upgrade_async, not both");
  }
  impl_->shared.router.add(std::move(pattern), std::move(behavior),
                           &impl_->shared.options.error_hook);
  return *this;
}

std::error_code Server::listen(std::string_view host, std::uint16_t port) {
  if (!impl_->tls_error.empty()) return std::make_error_code(std::errc::invalid_argument);
  std::optional<io::SocketAddress> address = host == "localhost"
                                                 ? io::SocketAddress::ipv4_loopback(port)
                                                 : io::SocketAddress::parse(host, port);
  if (!address) return std::make_error_code(std::errc::invalid_argument);
  std::vector<int> group;  // this address's listeners, one per worker
  std::error_code error;
  for (auto& worker : impl_->workers) {
    if ((error = worker->listen(*address))) break;
    group.push_back(worker->last_listener_fd());
    // Port 0: the first worker picked one; the others join it (its port for this address, not
    // that of an earlier listen()).
    if (address->port() == 0) {
      address = io::SocketAddress::parse(address->ip(), worker->last_listener_port());
    }
  }
  // SO_REUSEPORT lets our threads share the port, and would let any other socket of this user
  // (another wsx serve) join them as silently and take a share of the connections. So, once the
  // whole group is bound, the kernel's table must show no listener but ours. Checked after
  // binding rather than by a probe bind without SO_REUSEPORT before: between a probe and the
  // real bind another server could slip in unseen. Checked after, of two servers racing for one
  // port the later one always sees the earlier (at worst both see each other and both fail);
  // none silently serves half the traffic.
  if (!error) error = io::check_no_other_listener(*address, group);
  if (error) {
    for (std::size_t i = 0; i < group.size(); ++i) impl_->workers[i]->close_last_listener();
    return error;
  }
  if (impl_->port == 0) impl_->port = address->port();
  impl_->listening = true;
  return {};
}

std::uint16_t Server::port() const noexcept {
  return impl_->port;
}

const std::string& Server::tls_error() const noexcept {
  return impl_->tls_error;
}

void Server::run() {
  if (impl_->ran) return;  // its loops no longer take work (see below): nothing to serve
  // Its loops would wait for connections that cannot come, silently and forever: the usual
  // cause is a listen() whose error was not checked, which its caller learns of here instead.
  if (!impl_->listening) {
    throw std::logic_error(
        "wsx::Server::run(): nothing to serve, no listen() succeeded (check the error it "
        "returns: port taken, bad address, TLS files)");
  }
  impl_->ran = true;
  std::optional<io::SignalWatcher> signals;
  server::Worker& first = *impl_->workers.front();
  if (impl_->shared.options.handle_signals) {
    // Before the other threads start, so that they inherit a mask with the signals unblocked.
    // A handler, not a per-thread mask: threads the application started before run() take
    // the signals the same way (see signal_watcher.hpp).
    const ErrorHook& hook = impl_->shared.options.error_hook;
    auto report = [&hook](std::error_code error) {
      const std::string message = "SIGINT/SIGTERM will not stop the server: " + error.message();
      report_error(hook, {.source = ErrorSource::signals, .message = message});
    };
    signals.emplace(
        first.loop(), std::initializer_list<int>{SIGINT, SIGTERM}, [this](int) { stop(); }, report);
    if (signals->error()) report(signals->error());
  }
  if (impl_->stop_requested.load()) {
    for (auto& worker : impl_->workers)
      worker->loop().post([w = worker.get()] { w->begin_shutdown(); });
  }
  // On the first loop's thread, before any connection can subscribe.
  Broker* broker = impl_->shared.options.broker.get();
  if (broker != nullptr) broker->start(first.loop(), impl_->shared.topics);
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl_->workers.size(); ++i) {
    threads.emplace_back([worker = impl_->workers[i].get()] { worker->loop().run(); });
  }
  first.loop().run();
  for (std::thread& thread : threads) thread.join();
  if (broker != nullptr) broker->stop();
  // No loop runs again: a publish or a handle's send from now on must not queue work that
  // would only be freed with the server (a publisher thread outliving run() would grow memory
  // without bound). They return false instead.
  for (auto& worker : impl_->workers) worker->loop().refuse_posts();
}

void Server::stop() {
  if (impl_->stop_requested.exchange(true)) return;
  for (auto& worker : impl_->workers) {
    worker->loop().post([w = worker.get()] { w->begin_shutdown(); });
  }
}

bool Server::publish(std::string_view topic, std::span<const std::uint8_t> data, MessageKind kind) {
  return impl_->shared.topics.publish(topic, kind, data);
}

bool Server::publish(std::string_view topic, std::string_view text, MessageKind kind) {
  return publish(topic, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, kind);
}

std::size_t Server::connections() const noexcept {
  return impl_->shared.connections.load();
}

AddressLimitStats Server::address_limit_stats() const noexcept {
  return impl_->shared.address_limits.stats();
}

std::uint64_t Server::coalescing_pauses() const noexcept {
  std::uint64_t pauses = 0;
  for (const auto& worker : impl_->workers) pauses += worker->loop().coalescing_pauses();
  return pauses;
}

std::uint64_t Server::batched_writes() const noexcept {
  std::uint64_t writes = 0;
  for (const auto& worker : impl_->workers) writes += worker->loop().batched_writes();
  return writes;
}

unsigned Server::threads() const noexcept {
  return static_cast<unsigned>(impl_->workers.size());
}

MetricsRegistry& Server::metrics() const noexcept {
  return *impl_->shared.options.metrics;
}

}  // namespace wsx
