// `wsx serve --exec` (serve_exec.cpp) when a process's pipes cannot be registered in the
// supervisor's event loop (a full epoll set: ENOSPC beyond fs.epoll.max_user_watches, which no
// test can cause without root and without hurting everyone's processes, hence the settings'
// test hook): the connection is closed with 1011 and the reason, and the process is ended and
// reaped, instead of a connection that waits forever for output nobody reads.
#include "serve_exec.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <system_error>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx::tool {
namespace {

using namespace std::chrono_literals;
using Ticket = std::shared_ptr<ExecTicket>;

Behavior exec_route(ExecSupervisor& exec) {
  Behavior behavior;
  behavior.upgrade = [&exec](const UpgradeRequest& request) {
    Ticket ticket = exec.admit(request);
    return ticket ? UpgradeDecision::accept({}, ticket) : exec.busy();
  };
  behavior.open = [&exec](WebSocket& ws) { exec.start(ws, *ws.data<Ticket>()); };
  behavior.close = [&exec](WebSocket& ws, const CloseInfo&) { exec.closed(**ws.data<Ticket>()); };
  return behavior;
}

TEST(ServeExec, PipesThatCannotBeWatchedCloseTheConnectionWith1011AndEndTheProcess) {
  ExecSettings settings;
  settings.argv = {"cat"};  // reads its stdin until EOF: it would live on if nobody ended it
  settings.quiet = true;
  settings.fail_watch_for_test = std::make_error_code(std::errc::no_space_on_device);
  ExecSupervisor exec(settings);  // outlives the server and its routes
  Server server({.threads = 1});
  server.route("/", exec_route(exec));
  test::RunningServer running(server);
  test::RawWsClient client(running.port());
  ASSERT_TRUE(client.handshake());
  const std::optional<test::RecordedEvent> event = client.next_event(20s);
  ASSERT_TRUE(event.has_value()) << "no close: the connection waits for a process nobody reads";
  EXPECT_EQ(event->kind, proto::EventKind::close);
  EXPECT_EQ(event->close_code, 1011);
  EXPECT_EQ(event->close_reason, "cannot watch the pipes of cat: " +
                                     std::make_error_code(std::errc::no_space_on_device).message());
  // The process is gone and reaped: this test process has no child left, not even a zombie.
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
}  // namespace wsx::tool
