// wsx — connect to, serve and load-test WebSockets.
#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"wsx — a WebSocket toolkit: connect (interactive client), serve, bench"};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 normal close, 2 usage, 3 connection failed (serve: cannot listen, e.g.\n"
      "address in use), 4 handshake refused, 5 abnormal close, 6 other errors.");
  // Each add_*_command registers the subcommand of that name.
  const std::vector<std::pair<std::string, wsx::tool::Command>> commands = {
      {"connect", wsx::tool::add_connect_command(app)},
      {"serve", wsx::tool::add_serve_command(app)},
      {"bench", wsx::tool::add_bench_command(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? wsx::tool::exit_ok : wsx::tool::exit_usage;
  }
  const std::string chosen = app.get_subcommands().front()->get_name();
  for (const auto& [name, run] : commands) {
    if (name == chosen) return run();
  }
  return wsx::tool::exit_usage;
}
