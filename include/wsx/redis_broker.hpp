// The Redis broker: topics shared by every server started with the same Redis.
//
//   auto broker = wsx::make_redis_broker({.url = "redis://127.0.0.1:6379/", .history = 100});
//   wsx::Server server({.threads = 2, .broker = broker});
//
// How it works. Two connections to Redis, driven by the server's first event loop (hiredis's
// asynchronous API through an adapter: no thread of its own): one SUBSCRIBEs the channel
// "wsx:<topic>" of every topic with local subscribers, the other sends publishes. A publish is
// one PUBLISH, or with history one script that appends the message to the Stream
// "wsx:h:<topic>" (XADD, trimmed to `history` entries and `history_age`) and publishes it with
// its entry id as the position — atomically, so the live order is the history's order. Every
// node, this one included, delivers what its subscription brings, exactly once. Payloads are
// binary-safe and keep their kind.
//
// Faults. Redis unreachable (at start or later), or a publish unanswered for
// `command_timeout`: the broker drops both connections, refuses publishes while disconnected
// (Server::publish returns false, publish_failures() counts them, one log line a second says how
// many), reconnects with backoff, and subscribes again to every topic that has local subscribers.
// Publishes sent and not yet confirmed when the connection is lost count as failed too (Redis
// may or may not have taken them). At most `max_pending` publishes wait at once (queued or
// unconfirmed); more are refused.
//
// Connections. wsx resolves the host name (its resolver's worker thread, never the loop),
// connects (Happy Eyeballs over the addresses, within `connect_timeout`) and hands hiredis the
// connected socket, so hiredis never blocks the loop on a lookup. rediss:// is TLS (TLS 1.2+,
// wsx's own TLS on the same loop: hiredis 0.14 has none) and verifies Redis's certificate and
// host name by default: against `tls_ca_file`, or the system's CAs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wsx/backoff.hpp"
#include "wsx/broker.hpp"
#include "wsx/export.hpp"

namespace wsx {

// redis://[[user]:password@]host[:port][/db]  (host: name, IPv4 or [IPv6]; port 6379), or
// rediss://... for TLS
struct RedisEndpoint {
  std::string host;
  std::uint16_t port = 6379;
  std::string user;  // empty: AUTH with the password only (or no AUTH)
  std::string password;
  bool has_password = false;
  int database = 0;
  bool tls = false;  // rediss://
};
// nullopt with `error` set when the URL is not one of those (other scheme, bad port, ...).
WSX_API std::optional<RedisEndpoint> parse_redis_url(std::string_view url,
                                                     std::string* error = nullptr);

struct RedisBrokerOptions {
  std::string url = "redis://127.0.0.1:6379/";
  // Entries kept per topic in its Stream (0: no history, no positions) and their age at most
  // (0: no age bound; trimmed when a message is added).
  std::size_t history = 0;
  std::chrono::milliseconds history_age{0};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};  // a slower Redis counts as lost
  std::size_t max_pending = 10000;
  // rediss:// only. Redis's certificate must chain to a CA of this PEM file (empty: the
  // system's CAs) and name the URL's host, unless `tls_insecure_skip_verify` — an explicit
  // opt-out that checks nothing, for tests. A client certificate and key (PEM) for a Redis
  // with tls-auth-clients (its default).
  std::string tls_ca_file;
  bool tls_insecure_skip_verify = false;
  std::string tls_certificate_file;
  std::string tls_key_file;
  ReconnectOptions reconnect = {.enabled = true,
                                .max_attempts = static_cast<std::size_t>(-1),
                                .initial_delay = std::chrono::milliseconds(100),
                                .max_delay = std::chrono::milliseconds(3000),
                                .multiplier = 2.0,
                                .jitter = 0.5};
  // Log lines (connection lost/back, publishes failed); empty: "wsx: redis: ..." on stderr.
  // Called on the broker's loop thread.
  std::function<void(std::string_view line)> log;
};

class WSX_API RedisBroker : public Broker {
 public:
  // Counters for metrics, any thread.
  virtual std::uint64_t publishes() const noexcept = 0;         // accepted by publish()
  virtual std::uint64_t publish_failures() const noexcept = 0;  // refused, or lost after
  virtual std::uint64_t reconnects() const noexcept = 0;        // connections re-established
  virtual std::uint64_t received() const noexcept = 0;          // messages from the subscription
};

// Throws std::invalid_argument when the URL does not parse, or with rediss:// when a TLS file
// cannot be loaded (or TLS options come with a redis:// URL).
WSX_API std::shared_ptr<RedisBroker> make_redis_broker(RedisBrokerOptions options);

}  // namespace wsx
