// A wsx::Client on the test's loop that sends one text message, expects it back and closes with
// 1000: whether the echo came, and the errors it reported. For tests about how the client gets
// to a server (proxies, redirects), which set their traces on the options first.
#pragma once

#include <string>
#include <vector>

#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx::test {

struct EchoOnce {
  bool echoed = false;
  std::vector<ClientError> errors;
};

// Runs the loop until the client is done.
inline EchoOnce echo_once(io::EventLoop& loop, const ClientOptions& options, std::string text) {
  EchoOnce outcome;
  ClientHandlers handlers;
  handlers.open = [&text](WebSocket& ws) { ws.send(text); };
  handlers.message = [&](WebSocket& ws, Message message) {
    outcome.echoed = message.text() == text;
    ws.close(1000);
  };
  handlers.error = [&](const ClientError& error) { outcome.errors.push_back(error); };
  handlers.done = [&] { loop.stop(); };
  Client client(loop, options, handlers);
  client.connect();
  loop.run();
  return outcome;
}

}  // namespace wsx::test
