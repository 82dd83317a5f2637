// What the workers of one server share: its options, routes, TLS context, topics and limits.
#pragma once

#include <atomic>
#include <optional>
#include <vector>

#include "server/address_limiter.hpp"
#include "server/router.hpp"
#include "session/memory_budget.hpp"
#include "session/session.hpp"
#include "session/topics.hpp"
#include "wsx/io/tls_context.hpp"
#include "wsx/server.hpp"

namespace wsx::server {

class PollHub;

// What the workers of one server share (read-only once run() started, but the counter).
struct ServerShared {
  ServerOptions options;
  Router router;
  session::SessionConfig handshake_config;  // before a route is chosen (rejections)
  std::optional<io::TlsContext> tls;
  session::TopicHub topics;
  std::atomic<std::size_t> connections{0};
  session::MemoryBudget memory;     // configured from options before run()
  AddressLimiter address_limits;    // likewise
  std::vector<PollHub*> poll_hubs;  // by worker index, set before run()
};

}  // namespace wsx::server
