// A broadcast chat: ws://HOST:PORT/rooms/NAME joins room NAME; every text message is relayed
// to everyone in the room (the sender included). Stops gracefully on SIGINT / SIGTERM.
//   chat_server [--port 9002] [--threads N]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wsx/server.hpp"

int main(int argc, char** argv) {
  unsigned long port = 9002, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--port") port = std::strtoul(argv[i + 1], nullptr, 10);
    if (flag == "--threads") threads = std::strtoul(argv[i + 1], nullptr, 10);
  }

  wsx::Server server({.threads = static_cast<unsigned>(threads), .handle_signals = true});
  server.route("/rooms/*",
               {
                   .upgrade =
                       [](const wsx::UpgradeRequest& request) {
                         // "/rooms" itself reaches this route too: it has no room part.
                         constexpr std::string_view prefix = "/rooms/";
                         const std::string_view room = request.path.starts_with(prefix)
                                                           ? request.path.substr(prefix.size())
                                                           : std::string_view();
                         if (room.empty())
                           return wsx::UpgradeDecision::reject(400, "which room?\n");
                         return wsx::UpgradeDecision::accept(
                             {}, std::string(room));  // user data: the room
                       },
                   .max_message_size = 64 * 1024,
                   .open = [](wsx::WebSocket& ws) { ws.subscribe(*ws.data<std::string>()); },
                   .message =
                       [&server](wsx::WebSocket& ws, wsx::Message msg) {
                         if (msg.kind == wsx::MessageKind::text)
                           server.publish(*ws.data<std::string>(), msg.text());
                       },
               });
  if (const std::error_code error = server.listen("127.0.0.1", static_cast<std::uint16_t>(port))) {
    std::fprintf(stderr, "cannot listen: %s\n", error.message().c_str());
    return 1;
  }
  std::printf("chat_server listening on 127.0.0.1:%u\n", server.port());
  std::fflush(stdout);
  server.run();
  return 0;
}
