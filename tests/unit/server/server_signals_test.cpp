// Server::run() with ServerOptions::handle_signals, in real processes: one with a thread the
// application started before run() (tests/programs/server_with_early_thread.cpp), and one whose
// signal watcher cannot start. Apart from server_test because it runs a binary (not built for
// the ThreadSanitizer run) and forks.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
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

TEST(ServerSignals, AWatcherThatCannotStartIsReported) {
  // In a child: no descriptor left for the watcher's pipe once the server exists.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    {  // The same path once with descriptors to spare: UBSan's type checks open a pipe the
       // first time they meet a type, which they could not do below.
      Server warm_up({.threads = 1, .handle_signals = true});
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
