// The exception boundary around application code, end to end: for every callback a server calls,
// one that throws costs its own connection (1011) or request (500) and nothing else. Each test
// runs a one-thread server, so the connection that keeps working shares the thread with the one
// that failed; the error hook must see the exception's message, the callback, the route and the
// peer's address.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "raw_ws_client.hpp"
#include "running_server.hpp"
#include "wsx/server.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::RawWsClient;
using test::RecordedEvent;
using test::RunningServer;

struct Reported {
  std::string message;
  std::string callback;
  std::string route;
  std::string remote;
};

// What the error hook and the close callbacks saw, from the server thread.
struct Log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Reported> reports;
  std::vector<std::uint16_t> closes;

  ErrorHook hook() {
    return [this](const ErrorReport& report) {
      std::lock_guard lock(mutex);
      EXPECT_EQ(report.source, ErrorSource::callback);
      reports.push_back({std::string(report.message), std::string(report.callback),
                         std::string(report.route), std::string(report.remote_address)});
      changed.notify_all();
    };
  }
  void closed(std::uint16_t code) {
    std::lock_guard lock(mutex);
    closes.push_back(code);
    changed.notify_all();
  }
  bool wait_reports(std::size_t count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return reports.size() >= count; });
  }
  bool wait_closes(std::size_t count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return closes.size() >= count; });
  }
};

// "127.0.0.1:PORT" of the client's end: what the server reports as the peer.
std::string local_address(const RawWsClient& client) {
  sockaddr_in address{};
  socklen_t size = sizeof address;
  ::getsockname(client.fd(), reinterpret_cast<sockaddr*>(&address), &size);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

Behavior echo_behavior() {
  return {.message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); }};
}

// A connection on the same thread still echoes.
void expect_echo(RawWsClient& client, const std::string& text) {
  ASSERT_TRUE(client.send(text));
  std::optional<RecordedEvent> echo = client.next_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->text(), text);
}

// Reads until the close frame; true if it carried `code`.
void expect_close(RawWsClient& client, std::uint16_t code) {
  for (;;) {
    std::optional<RecordedEvent> event = client.next_event(10s);
    ASSERT_TRUE(event) << "no close " << code;
    if (event->kind != proto::EventKind::close) continue;  // data sent before the failure
    EXPECT_EQ(event->close_code, code);
    EXPECT_EQ(event->close_reason, code == 1011 ? "internal error" : "");
    return;
  }
}

class ExceptionBoundary : public ::testing::Test {
 protected:
  // One thread: the failing connection and the healthy one share it.
  void start(Behavior boom, ServerOptions options = {}) {
    options.threads = 1;
    if (!options.error_hook) options.error_hook = log_.hook();
    server_ = std::make_unique<Server>(std::move(options));
    if (!boom.close) {
      boom.close = [this](WebSocket&, const CloseInfo& info) { log_.closed(info.code); };
    }
    server_->route("/boom/*", std::move(boom));
    server_->route("/echo", echo_behavior());
    running_ = std::make_unique<RunningServer>(*server_);
    healthy_ = std::make_unique<RawWsClient>(running_->port());
    ASSERT_TRUE(healthy_->handshake({}, "/echo"));
    expect_echo(*healthy_, "before");
  }
  // The connection that throws, upgraded on the route "/boom/*".
  std::unique_ptr<RawWsClient> connect_boom() {
    auto client = std::make_unique<RawWsClient>(running_->port());
    EXPECT_TRUE(client->handshake({}, "/boom/x"));
    return client;
  }
  // The hook saw exactly one report, for `callback`, with the route and `client`'s address;
  // the other connection still works; with `closed_with`, the close callback fired once with it.
  void expect_reported(const char* callback, const RawWsClient& client,
                       std::optional<std::uint16_t> closed_with = 1011) {
    ASSERT_TRUE(log_.wait_reports(1));
    if (closed_with) {
      ASSERT_TRUE(log_.wait_closes(1));
    }
    {
      std::lock_guard lock(log_.mutex);
      ASSERT_EQ(log_.reports.size(), 1u);
      EXPECT_EQ(log_.reports[0].message, std::string("boom in ") + callback);
      EXPECT_EQ(log_.reports[0].callback, callback);
      EXPECT_EQ(log_.reports[0].route, "/boom/*");
      EXPECT_EQ(log_.reports[0].remote, local_address(client));
      if (closed_with) {
        EXPECT_EQ(log_.closes, std::vector<std::uint16_t>{*closed_with});
      }
    }
    expect_echo(*healthy_, "after");
  }

  Log log_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<RunningServer> running_;
  std::unique_ptr<RawWsClient> healthy_;
};

TEST_F(ExceptionBoundary, UpgradeAnswers500) {
  start({.upgrade = [](const UpgradeRequest&) -> UpgradeDecision {
    throw std::runtime_error("boom in upgrade");
  }});
  RawWsClient client(running_->port());
  EXPECT_FALSE(client.handshake({}, "/boom/x"));
  EXPECT_EQ(client.status(), 500);
  EXPECT_EQ(client.response_head().find("boom"), std::string::npos);  // what() stays inside
  expect_reported("upgrade", client, std::nullopt);
}

TEST_F(ExceptionBoundary, UpgradeAsyncAnswers500AndItsResponderAnswersNothing) {
  std::mutex kept_mutex;
  UpgradeResponder kept;
  start({.upgrade_async = [&](const UpgradeRequest&, UpgradeResponder responder) {
    std::lock_guard lock(kept_mutex);
    kept = std::move(responder);  // kept, then the callback throws anyway
    throw std::runtime_error("boom in upgrade_async");
  }});
  RawWsClient client(running_->port());
  EXPECT_FALSE(client.handshake({}, "/boom/x"));
  EXPECT_EQ(client.status(), 500);
  expect_reported("upgrade_async", client, std::nullopt);
  std::lock_guard lock(kept_mutex);
  EXPECT_FALSE(kept.accept());  // the connection no longer waits
}

TEST_F(ExceptionBoundary, HttpHandlerAnswers500) {
  ServerOptions options;
  options.http = [](const HttpRequest&) -> proto::HttpResponse {
    throw std::runtime_error("boom in http");
  };
  start({}, std::move(options));
  RawWsClient client(running_->port());
  EXPECT_EQ(client.http_exchange("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"), 500);
  ASSERT_TRUE(log_.wait_reports(1));
  {
    std::lock_guard lock(log_.mutex);
    EXPECT_EQ(log_.reports[0].message, "boom in http");
    EXPECT_EQ(log_.reports[0].callback, "http");
    EXPECT_EQ(log_.reports[0].route, "/page");  // no route: the request's path
    EXPECT_EQ(log_.reports[0].remote, local_address(client));
  }
  expect_echo(*healthy_, "after");
}

TEST_F(ExceptionBoundary, AccessLogIsOnlyReported) {
  ServerOptions options;
  std::atomic<bool> armed{false};
  options.access_log = [&](const AccessRecord&) {
    if (armed) throw std::runtime_error("boom in access_log");
  };
  start({.message = [](WebSocket& ws, Message msg) { ws.send(msg.data, msg.kind); }},
        std::move(options));
  armed = true;
  std::unique_ptr<RawWsClient> client = connect_boom();  // still upgraded: the 101 stands
  expect_echo(*client, "still served");
  ASSERT_TRUE(log_.wait_reports(1));
  {
    std::lock_guard lock(log_.mutex);
    EXPECT_EQ(log_.reports[0].callback, "access_log");
    EXPECT_EQ(log_.reports[0].route, "/boom/x");
    EXPECT_EQ(log_.reports[0].remote, local_address(*client));
  }
  expect_echo(*healthy_, "after");
}

TEST_F(ExceptionBoundary, OpenFailsTheConnectionWith1011) {
  start({.open = [](WebSocket&) { throw std::runtime_error("boom in open"); }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  expect_close(*client, 1011);
  EXPECT_TRUE(client->wait_eof());  // the server closes the transport after its close frame
  expect_reported("open", *client);
}

TEST_F(ExceptionBoundary, MessageFailsTheConnectionWith1011) {
  start({.message = [](WebSocket&, Message) { throw std::runtime_error("boom in message"); }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_TRUE(client->send("hello"));
  expect_close(*client, 1011);
  EXPECT_TRUE(client->wait_eof());
  expect_reported("message", *client);
}

// A failure of ours still closes with the lingering close: our close frame, then our FIN, and
// what the peer sends afterwards is drained, not answered with a reset that could destroy the
// close frame before the peer reads it.
TEST_F(ExceptionBoundary, FailedConnectionLingersInsteadOfResetting) {
  start({.message = [](WebSocket&, Message) { throw std::runtime_error("boom in message"); }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_TRUE(client->send("hello"));
  expect_close(*client, 1011);
  EXPECT_TRUE(client->wait_eof());  // the server's FIN, while our end is still open
  ASSERT_TRUE(client->write_all("late"));
  pollfd errors_only{client->fd(), 0, 0};
  EXPECT_EQ(::poll(&errors_only, 1, 300), 0) << "the server reset the connection";
  expect_reported("message", *client);
  client->close_socket();
}

TEST_F(ExceptionBoundary, ExceptionNotDerivedFromStdExceptionIsCaughtToo) {
  start({.message = [](WebSocket&, Message) { throw 42; }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_TRUE(client->send("hello"));
  expect_close(*client, 1011);
  ASSERT_TRUE(log_.wait_reports(1));
  std::lock_guard lock(log_.mutex);
  EXPECT_EQ(log_.reports[0].message, "unknown exception");
}

TEST_F(ExceptionBoundary, FragmentFailsTheConnectionWith1011) {
  start({.fragment = [](WebSocket&, Fragment) { throw std::runtime_error("boom in fragment"); }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_TRUE(client->send("hello"));
  expect_close(*client, 1011);
  expect_reported("fragment", *client);
}

TEST_F(ExceptionBoundary, PingFailsTheConnectionWith1011) {
  start({.ping = [](WebSocket&, std::span<const std::uint8_t>) {
    throw std::runtime_error("boom in ping");
  }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_TRUE(client->ping("are you there"));
  expect_close(*client, 1011);  // after the automatic pong
  expect_reported("ping", *client);
}

TEST_F(ExceptionBoundary, PongFailsTheConnectionWith1011) {
  start({.pong = [](WebSocket&, std::span<const std::uint8_t>) {
    throw std::runtime_error("boom in pong");
  }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_EQ(client->connection().pong(), proto::SendResult::ok);
  ASSERT_TRUE(client->flush());
  expect_close(*client, 1011);
  expect_reported("pong", *client);
}

TEST_F(ExceptionBoundary, FrameFailsTheConnectionWith1011) {
  start({.frame = [](WebSocket&, bool outgoing, const proto::FrameHeader&,
                     std::span<const std::uint8_t>) {
    if (!outgoing) throw std::runtime_error("boom in frame");
  }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_TRUE(client->send("hello"));
  expect_close(*client, 1011);
  expect_reported("frame", *client);
}

TEST_F(ExceptionBoundary, DrainFailsTheConnectionWith1011) {
  // open() fills the socket until a send meets backpressure; drain fires once the client has
  // read everything.
  start({.open =
             [](WebSocket& ws) {
               const std::vector<std::uint8_t> big(1024 * 1024, 7);
               for (int i = 0; i < 64 && ws.send(big) == SendStatus::success; ++i) {
               }
             },
         .drain = [](WebSocket&) { throw std::runtime_error("boom in drain"); }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  expect_close(*client, 1011);  // the data comes first
  expect_reported("drain", *client);
}

TEST_F(ExceptionBoundary, PostedTaskFailsTheConnectionWith1011) {
  start({.message = [](WebSocket& ws, Message) {
    ws.handle().post([](WebSocket&) { throw std::runtime_error("boom in task"); });
  }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_TRUE(client->send("post it"));
  expect_close(*client, 1011);
  expect_reported("task", *client);
}

TEST_F(ExceptionBoundary, CloseCallbackThatThrowsIsReportedAndNotCalledAgain) {
  std::atomic<int> close_calls{0};
  start({.close = [&](WebSocket&, const CloseInfo&) {
    ++close_calls;
    throw std::runtime_error("boom in close");
  }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  ASSERT_TRUE(client->close(1000));
  expect_close(*client, 1000);  // the closing handshake ends normally: no 1011 after it
  EXPECT_TRUE(client->wait_eof());
  expect_reported("close", *client, std::nullopt);
  EXPECT_EQ(close_calls, 1);
}

// The close callback sees 1011 once; nothing follows it, not even for the rest of the read.
TEST_F(ExceptionBoundary, NoCallbackFollowsTheFailure) {
  std::atomic<int> messages{0};
  start({.message = [&](WebSocket&, Message) {
    ++messages;
    throw std::runtime_error("boom in message");
  }});
  std::unique_ptr<RawWsClient> client = connect_boom();
  proto::Connection& connection = client->connection();
  for (const char* text : {"one", "two", "three"}) connection.send_text(text);
  connection.ping();
  ASSERT_TRUE(client->flush());  // one write: the server reads all four frames at once
  expect_close(*client, 1011);
  expect_reported("message", *client);
  EXPECT_EQ(messages, 1);
}

// Without a hook, one line on stderr says what happened where.
TEST(ExceptionBoundaryWithoutHook, WritesOneLineToStderr) {
  std::FILE* captured = std::tmpfile();
  ASSERT_NE(captured, nullptr);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(captured), STDERR_FILENO);
  std::string remote;
  {
    Server server({.threads = 1});
    server.route("/boom", {.message = [](WebSocket&, Message) {
                   throw std::runtime_error("nobody listens");
                 }});
    server.route("/echo", echo_behavior());
    RunningServer running(server);
    RawWsClient healthy(running.port());
    ASSERT_TRUE(healthy.handshake({}, "/echo"));
    RawWsClient client(running.port());
    ASSERT_TRUE(client.handshake({}, "/boom"));
    remote = local_address(client);
    ASSERT_TRUE(client.send("hello"));
    expect_close(client, 1011);
    expect_echo(healthy, "after");
  }
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string text;
  std::rewind(captured);
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, captured) != nullptr) text += buffer;
  std::fclose(captured);
  EXPECT_EQ(text, "wsx: exception in 'message' callback (route /boom, peer " + remote +
                      "): nobody listens\n");
}

}  // namespace
}  // namespace wsx
