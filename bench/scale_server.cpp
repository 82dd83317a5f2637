// The server side of the scale benchmark (scripts/scale-bench.sh, bench/scale_clients.cpp):
// every connection subscribes to one topic, and a text message that starts with "publish" is
// published, as it came, to all of them through Server::publish (framed once for everyone).
// Idle connections are never pinged (the benchmark measures idle memory and one broadcast, and
// 100,000 pings would be a second load). Raises its descriptor limit to the hard limit first.
//
//   scale_server [--host 127.0.0.1] [--port 0] [--threads 1]
//
// Prints "scale_server listening on HOST:PORT nofile=N" once it accepts connections.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wsx/server.hpp"

namespace {

// The soft limit up to the hard one: that needs no privilege, raising the hard limit does
// (CAP_SYS_RESOURCE). Returns the limit now in force.
rlim_t raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned long port = 0, threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    const bool has_value = i + 1 < argc;
    if (has_value && flag == "--host") {
      host = argv[++i];
    } else if (has_value && flag == "--port") {
      port = std::strtoul(argv[++i], nullptr, 10);
    } else if (has_value && flag == "--threads") {
      threads = std::strtoul(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--host H] [--port N] [--threads N]\n", argv[0]);
      return 2;
    }
  }
  const rlim_t descriptors = raise_descriptor_limit();

  wsx::ServerOptions options{.threads = static_cast<unsigned>(threads),
                             .max_connections = 10'000'000,  // the descriptor limit decides
                             .handle_signals = true};
  wsx::Server server(options);
  wsx::Behavior behavior{
      .idle_timeout = std::chrono::milliseconds(0),
      .open = [](wsx::WebSocket& ws) { ws.subscribe("all"); },
      .message =
          [&server](wsx::WebSocket&, wsx::Message message) {
            if (message.text().starts_with("publish")) server.publish("all", message.text());
          },
  };
  server.route("/*", std::move(behavior));
  if (const std::error_code error = server.listen(host, static_cast<std::uint16_t>(port))) {
    std::fprintf(stderr, "cannot listen on %s:%lu: %s\n", host.c_str(), port,
                 error.message().c_str());
    return 1;
  }
  std::printf("scale_server listening on %s:%u nofile=%llu\n", host.c_str(), server.port(),
              static_cast<unsigned long long>(descriptors));
  std::fflush(stdout);
  server.run();
  return 0;
}
