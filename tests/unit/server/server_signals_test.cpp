// Server::run() with ServerOptions::handle_signals, in real processes: one with a thread the
// application started before run() (tests/programs/server_with_early_thread.cpp), one started
// with SIGINT ignored, and one whose signal watcher cannot start. Apart from server_test because
// it runs a binary (not built for the ThreadSanitizer run) and forks.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "example_process.hpp"
#include "raw_ws_client.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RecordedEvent;

TEST(ServerSignals, SigtermStopsGracefullyWhenAnotherThreadWasStartedBeforeRun) {
  test::ExampleProcess process(WSX_SERVER_WITH_EARLY_THREAD, {});
  ASSERT_NE(process.port(), 0);
  RawWsClient client(process.port());
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.send("running"));
  std::optional<RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->text(), "running");
  int status = -2;
  std::thread stopper([&] { status = process.terminate(20s); });
  std::optional<RecordedEvent> close = client.next_event(20s);
  client.flush();  // our close reply: the server may finish at once
  stopper.join();  // before any ASSERT can leave with the thread running
  ASSERT_TRUE(close) << "no close frame: the process died";
  EXPECT_EQ(close->kind, proto::EventKind::close);
  EXPECT_EQ(close->close_code, 1001);
  EXPECT_EQ(status, 0) << "128 + 15: killed by SIGTERM";
}

// Whether `signal` waits in `pid`'s pending sets (/proc/PID/status: SigPnd for the thread,
// ShdPnd for the process), as hexadecimal masks of bit signal - 1.
bool signal_pending(pid_t pid, int signal) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("SigPnd:") && !line.starts_with("ShdPnd:")) continue;
    const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
    if ((mask >> (signal - 1)) & 1u) return true;
  }
  return false;
}

// A server started with SIGINT ignored (a background job of a shell script, `server &`) keeps
// ignoring it: SIGINT is the terminal's Ctrl-C, which the shell meant not for it. SIGTERM, how
// kill and service managers ask for a stop, still stops it gracefully.
TEST(ServerSignals, AnInheritedIgnoreOfSigintIsKeptAndSigtermStillStops) {
  int port_pipe[2];
  ASSERT_EQ(::pipe(port_pipe), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(port_pipe[0]);
    ::signal(SIGINT, SIG_IGN);  // what the shell did before exec
    Server server({.threads = 1, .handle_signals = true});
    server.route("/", {.message = [](WebSocket& ws, Message message) {
                   ws.send(message.data, message.kind);
                 }});
    if (server.listen("127.0.0.1", 0)) ::_exit(3);
    const std::uint16_t port = server.port();
    if (::write(port_pipe[1], &port, sizeof port) != sizeof port) ::_exit(4);
    ::close(port_pipe[1]);
    server.run();
    // Still ignored once the watcher is gone.
    struct sigaction action {};
    ::sigaction(SIGINT, nullptr, &action);
    ::_exit(action.sa_handler == SIG_IGN ? 0 : 5);
  }
  ::close(port_pipe[1]);
  std::uint16_t port = 0;
  const bool got_port = ::read(port_pipe[0], &port, sizeof port) == sizeof port;
  ::close(port_pipe[0]);
  int status = -1;
  auto reap = [&] {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (::waitpid(child, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
  };
  if (!got_port) {
    reap();
    FAIL() << "the child did not start its server, status " << status;
  }
  RawWsClient client(port);
  ASSERT_TRUE(client.handshake());
  ASSERT_EQ(::kill(child, SIGINT), 0);
  // Taken by the child (delivered to a handler or discarded) before the next echo: a handler
  // would have written to the watcher's pipe already, and the stop would follow at once.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (signal_pending(child, SIGINT) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(client.send("after SIGINT"));
  std::optional<RecordedEvent> echo = client.next_event();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->kind, proto::EventKind::message) << "close " << echo->close_code;
  EXPECT_EQ(echo->text(), "after SIGINT");
  // No close follows (a stop sends close 1001 within one loop iteration of the signal).
  std::optional<RecordedEvent> later = client.next_event(2s);
  EXPECT_FALSE(later) << "event kind " << static_cast<int>(later->kind) << ", close code "
                      << later->close_code;
  ASSERT_EQ(::kill(child, SIGTERM), 0);
  std::optional<RecordedEvent> close = client.next_event(20s);
  client.flush();  // our close reply: the server may finish at once
  reap();
  ASSERT_TRUE(close) << "no close frame after SIGTERM";
  EXPECT_EQ(close->kind, proto::EventKind::close);
  EXPECT_EQ(close->close_code, 1001);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "5: SIGINT was no longer ignored after run()";
}

TEST(ServerSignals, AWatcherThatCannotStartIsReported) {
  // In a child: no descriptor left for the watcher's pipe once the server exists.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    {  // The same path once with descriptors to spare: UBSan's type checks open a pipe the
       // first time they meet a type, which they could not do below.
      Server warm_up({.threads = 1, .handle_signals = true});
      if (warm_up.listen("127.0.0.1", 0)) ::_exit(3);  // run() needs something to serve
      warm_up.stop();
      warm_up.run();
      (void)std::error_code(EMFILE, std::system_category()).message();
    }
    std::vector<std::string> reports;
    Server server(
        {.threads = 1, .handle_signals = true, .error_hook = [&](const ErrorReport& report) {
           if (report.source == ErrorSource::signals) {
             reports.emplace_back(report.message);
           }
         }});
    if (server.listen("127.0.0.1", 0)) ::_exit(3);  // before the descriptors run out
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = 64;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(2);
    while (::dup(STDERR_FILENO) >= 0) {
    }
    server.stop();  // run() returns once it started
    server.run();
    const bool reported =
        reports.size() == 1 && reports[0].find("Too many open files") != std::string::npos;
    ::_exit(reported ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace wsx
