// What an UpgradeResponder shares with the connection waiting for its decision. The responder
// may live on any thread and outlive the connection, the server and its loop; the connection
// side is reached only on the loop thread, through a task posted there.
#pragma once

#include <atomic>

#include "wsx/io/event_loop.hpp"

namespace wsx::session {
class Session;
}
namespace wsx::server {
class UpgradeHandshake;
}

namespace wsx::detail {

struct PendingUpgrade {
  io::LoopHandle loop;
  // Any thread: cleared (on the loop thread) once the connection stops waiting.
  std::atomic<bool> waiting{true};
  // Loop thread only: the handshake waiting and its session, null once it stopped waiting.
  server::UpgradeHandshake* handshake = nullptr;
  session::Session* session = nullptr;
};

}  // namespace wsx::detail
