// `wsx serve --broadcast-stdin`: each line read on stdin goes to every client connected to the
// --path (like `wscat -l`, `websocat -s`); what clients send is printed on stdout.
//
// - a line is sent without its "\n", as text when it is valid UTF-8, else as binary;
// - clients connected when a line is read get it (Server::publish queues it on each; a slow
//   client meets the route's backpressure policy like any other);
// - clients' messages: the payload then "\n" on stdout, one write each, not sent to the others;
// - EOF on stdin: the server keeps serving (clients stay, their messages are still printed);
//   SIGINT/SIGTERM stop it as usual.
#pragma once

#include <string>
#include <thread>

#include "wsx/server.hpp"

namespace wsx::tool {

// The route: subscribes each client to `topic`, prints what it sends.
Behavior broadcast_behavior(Behavior base, const std::string& topic);

// Reads stdin on a thread of its own (a blocking read would stall a server thread) and
// publishes each line; stop() ends it even while stdin stays open.
class StdinBroadcaster {
 public:
  StdinBroadcaster(Server& server, std::string topic);
  ~StdinBroadcaster();  // stop()
  StdinBroadcaster(const StdinBroadcaster&) = delete;
  StdinBroadcaster& operator=(const StdinBroadcaster&) = delete;
  void stop();

 private:
  void run();
  Server& server_;
  std::string topic_;
  int stop_pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace wsx::tool
