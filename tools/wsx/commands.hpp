// The subcommands of `wsx`. Each registers itself on the CLI11 app and returns the function
// that runs it once the arguments are parsed; that function's result is the exit code.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace wsx::tool {

using Command = std::function<int()>;

// Exit codes scripts can rely on (also listed in `wsx --help`).
enum ExitCode : int {
  exit_ok = 0,                 // normal close (1000) or a finished run
  exit_usage = 2,              // bad arguments
  exit_connect_failed = 3,     // name, TCP or TLS failure; serve: cannot listen (port in use)
  exit_handshake_refused = 4,  // the server answered the upgrade with another status
  exit_abnormal_close = 5,     // closed with a code other than 1000/1001, or without a close
  exit_runtime_error = 6,      // anything else (e.g. a certificate that does not load)
  exit_proxy_failed = 7,       // the proxy: unreachable, refused the tunnel, or broke protocol
};

Command add_connect_command(CLI::App& app);
Command add_serve_command(CLI::App& app);
Command add_bench_command(CLI::App& app);

}  // namespace wsx::tool
