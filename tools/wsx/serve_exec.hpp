// `wsx serve --exec 'CMD ARGS' --path /p`: one process per WebSocket connection, its stdin and
// stdout being the connection (websocketd's model).
//
// All processes are driven by one thread running a wsx io::EventLoop (non-blocking pipes, a
// pidfd per process for its exit: no SIGCHLD handler, no race, no zombie); connections are
// reached from there through WebSocketHandle posts, and reach it through LoopHandle posts.
//
// - stdout: each line (without its "\n") is one message, text when it is valid UTF-8, binary
//   otherwise; a line longer than `max_line` goes out in pieces of that size. Binary mode: each
//   read (up to 64 KiB) is one binary message. At most 1 MiB is in flight to a connection;
//   beyond it stdout is not read, so a process that writes faster than its client reads blocks.
// - stdin: each message, then "\n" (binary mode: the bytes alone). More than `max_stdin` bytes
//   waiting for a process that does not read closes the connection with 1013.
// - stderr: each line to the server's stderr, prefixed "wsx serve: [PID REMOTE] ".
// - the process exits: its remaining stdout is sent, then the connection is closed with 1000
//   (exit status 0) or 1011 with a reason such as "exit status 3" or "killed by signal 9".
// - the connection closes: stdin and stdout are closed, the process group gets SIGTERM, then
//   SIGKILL after `kill_grace`.
// - the process cannot be started (no such command, ...): close 1011 with the reason, and a
//   line on stderr.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "serve_exec_env.hpp"
#include "wsx/server.hpp"

namespace wsx::tool {

struct ExecSettings {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH (posix_spawnp)
  std::size_t max_processes = 64;
  bool binary = false;
  bool quiet = false;  // no line per process start and exit
  std::chrono::milliseconds kill_grace = std::chrono::seconds(2);
  std::size_t max_line = 1024 * 1024;
  std::size_t max_stdin = 4 * 1024 * 1024;
  ExecSite site;
  // Tests only: the registration of each process's pipes in the supervisor's loop fails with
  // this error, as a full epoll set would (ENOSPC), which no test can cause for real.
  std::error_code fail_watch_for_test;
};

// One --exec connection's state, in its user data; touched on its server thread only (the
// supervisor thread holds a reference, and only posts to the connection).
struct ExecTicket {
  std::uint64_t id = 0;                  // set by start()
  std::vector<std::string> environment;  // moved to the process by start()
  std::shared_ptr<void> slot;            // one of --max-processes; moved to the process
  std::size_t owed_ack = 0;              // bytes sent under backpressure: acknowledged at drain
};

// The route's callbacks call these, on the server threads.
class ExecSupervisor {
 public:
  explicit ExecSupervisor(ExecSettings settings);
  ~ExecSupervisor();  // shutdown()
  ExecSupervisor(const ExecSupervisor&) = delete;
  ExecSupervisor& operator=(const ExecSupervisor&) = delete;

  ExecSettings& settings() { return settings_; }
  // upgrade: a ticket holding a process slot and the request's environment; nullptr when
  // max_processes run already (answer busy(): 503 with Retry-After).
  std::shared_ptr<ExecTicket> admit(const UpgradeRequest& request);
  UpgradeDecision busy() const;
  // open: starts the process (on the supervisor thread).
  void start(WebSocket& ws, const std::shared_ptr<ExecTicket>& ticket);
  void deliver(const ExecTicket& ticket, const Message& message);  // message: to its stdin
  void drained(ExecTicket& ticket);                                // drain
  void closed(const ExecTicket& ticket);                           // close: end the process
  // After Server::run() returned: kills what still runs, waits until every process is reaped
  // (kill_grace, then SIGKILL), ends the thread.
  void shutdown();

 private:
  struct Impl;
  ExecSettings settings_;
  std::shared_ptr<Impl> impl_;
};

// True when `command` names an executable file: one with a '/' as is, others in $PATH.
bool command_exists(const std::string& command);

}  // namespace wsx::tool
