#include <utility>

#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx {

ClientResult run_client(const ClientOptions& options, ClientHandlers handlers) {
  io::EventLoop loop;
  ClientResult result;
  ClientHandlers wrapped = handlers;
  wrapped.open = [&](WebSocket& ws) {
    result.opened = true;
    result.error.reset();
    if (handlers.open) handlers.open(ws);
  };
  wrapped.close = [&](WebSocket& ws, const CloseInfo& info) {
    result.close_code = info.code;
    result.close_reason = std::string(info.reason);
    result.clean = info.clean;
    if (handlers.close) handlers.close(ws, info);
  };
  wrapped.error = [&](const ClientError& error) {
    result.error = error;
    if (handlers.error) handlers.error(error);
  };
  wrapped.done = [&] {
    loop.stop();  // first: a `done` that throws must not leave the loop running
    if (handlers.done) handlers.done();
  };
  Client client(loop, options, std::move(wrapped));
  client.connect();
  loop.run();
  return result;
}

}  // namespace wsx
