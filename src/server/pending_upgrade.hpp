// What an UpgradeResponder shares with the connection waiting for its decision. The responder
// may live on any thread and outlive the connection, the server and its loop; the connection
// side is reached only on the loop thread, through a task posted there.
#pragma once

#include <atomic>

#include "wsx/io/event_loop.hpp"

namespace wsx::server {
class UpgradeWaiter;
}

namespace wsx::detail {

struct PendingUpgrade {
  io::LoopHandle loop;
  // Any thread: cleared (on the loop thread) once the connection stops waiting.
  std::atomic<bool> waiting{true};
  // Loop thread only: who waits (an HTTP/1.1 handshake, an HTTP/2 stream), null once it
  // stopped waiting.
  server::UpgradeWaiter* waiter = nullptr;
};

}  // namespace wsx::detail
