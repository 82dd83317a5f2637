// A server process whose application starts a thread of its own before Server::run(), as a
// thread pool would. server_signals_test sends it SIGTERM: its client must see close 1001 and the
// process must exit 0 — the signal may be taken by that thread, which never blocked it.
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "wsx/server.hpp"

int main() {
  wsx::Server server({.threads = 2, .handle_signals = true});
  server.route("/*", {.message = [](wsx::WebSocket& ws, wsx::Message message) {
                 ws.send(message.data, message.kind);
               }});
  if (server.listen("127.0.0.1", 0)) return 1;
  std::mutex mutex;
  std::condition_variable changed;
  bool server_done = false;
  std::thread helper([&] {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return server_done; });
  });
  std::printf("server_with_early_thread listening on 127.0.0.1:%u\n", server.port());
  std::fflush(stdout);
  server.run();
  {
    std::lock_guard lock(mutex);
    server_done = true;
  }
  changed.notify_all();
  helper.join();
  return 0;
}
