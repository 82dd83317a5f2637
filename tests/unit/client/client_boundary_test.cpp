// The client side of the callback rules: an exception from a handler fails only its connection
// (1011, seen by the server) or is only reported (error, done, handshake trace), the error hook
// gets the URL and the server's address, another client on the same loop goes on; nothing is
// delivered after close() or terminate() even when the same read held more; and streaming
// receive through `fragment`.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "loop_watchdog.hpp"
#include "test_ws_server.hpp"
#include "wsx/client.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;

struct Reported {
  std::string message;
  std::string callback;
  std::string route;
  std::string remote;
};

struct Reports {
  ErrorHook hook() {
    return [this](const ErrorReport& report) {
      EXPECT_EQ(report.source, ErrorSource::callback);
      list.push_back({std::string(report.message), std::string(report.callback),
                      std::string(report.route), std::string(report.remote_address)});
    };
  }
  std::vector<Reported> list;
};

ClientOptions options_for(const std::string& url, Reports& reports) {
  ClientOptions options;
  options.url = url;
  options.connect_timeout = 10s;  // what a loaded machine needs: no test here waits for them
  options.handshake_timeout = 10s;
  options.error_hook = reports.hook();
  return options;
}

std::string server_address(const test::TestServer& server) {
  return "127.0.0.1:" + std::to_string(server.port());
}

// Runs the loop until `done` holds (the watchdog bounds it).
void run_until(io::EventLoop& loop, const std::function<bool()>& done) {
  if (done()) return;
  const io::TimerId poll = loop.run_every(5ms, [&] {
    if (done()) loop.stop();
  });
  loop.run();
  loop.cancel(poll);
}

// Two clients on one loop: `failing` gets handlers that throw, `healthy` echoes "ping" and
// closes. Both must finish; the healthy one must have had its echo.
struct TwoClients {
  TwoClients(io::EventLoop& loop, test::TestServer& server, ClientHandlers failing_handlers,
             Reports& reports)
      : loop_(loop) {
    failing_handlers.done = [this, inner = failing_handlers.done] {
      if (inner) inner();
      finished();
    };
    failing = std::make_unique<Client>(loop, options_for(server.url("/boom"), reports),
                                       std::move(failing_handlers));
    ClientHandlers healthy_handlers;
    healthy_handlers.open = [](WebSocket& ws) { ws.send("ping"); };
    healthy_handlers.message = [this](WebSocket& ws, Message message) {
      healthy_echo = std::string(message.text());
      ws.close();
    };
    healthy_handlers.done = [this] { finished(); };
    healthy = std::make_unique<Client>(loop, options_for(server.url("/fine"), reports),
                                       std::move(healthy_handlers));
  }
  void run() {
    healthy->connect();
    failing->connect();
    loop_.run();
  }
  void finished() {
    if (++done == 2) loop_.stop();
  }

  io::EventLoop& loop_;
  std::unique_ptr<Client> failing;
  std::unique_ptr<Client> healthy;
  std::string healthy_echo;
  int done = 0;
};

TEST(ClientBoundary, MessageThatThrowsFailsItsConnectionWith1011) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Reports reports;
  std::vector<std::uint16_t> closes;
  ClientHandlers handlers;
  handlers.open = [](WebSocket& ws) { ws.send("hello"); };
  handlers.message = [](WebSocket&, Message) { throw std::runtime_error("client boom"); };
  handlers.close = [&](WebSocket&, const CloseInfo& info) { closes.push_back(info.code); };
  TwoClients clients(loop, server, std::move(handlers), reports);
  clients.run();
  run_until(loop, [&] { return server.closed == 2; });
  EXPECT_EQ(clients.healthy_echo, "ping");
  EXPECT_EQ(closes, std::vector<std::uint16_t>{1011});  // once, so the app can clean up
  ASSERT_EQ(reports.list.size(), 1u);
  EXPECT_EQ(reports.list[0].message, "client boom");
  EXPECT_EQ(reports.list[0].callback, "message");
  EXPECT_EQ(reports.list[0].route, server.url("/boom"));
  EXPECT_EQ(reports.list[0].remote, server_address(server));
  EXPECT_EQ(std::count(server.close_codes.begin(), server.close_codes.end(), 1011), 1);
}

TEST(ClientBoundary, OpenThatThrowsFailsItsConnectionWith1011) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Reports reports;
  std::vector<std::uint16_t> closes;
  ClientHandlers handlers;
  handlers.open = [](WebSocket&) { throw std::runtime_error("open boom"); };
  handlers.close = [&](WebSocket&, const CloseInfo& info) { closes.push_back(info.code); };
  TwoClients clients(loop, server, std::move(handlers), reports);
  clients.run();
  run_until(loop, [&] { return server.closed == 2; });  // the server reads the 1011 too
  EXPECT_EQ(clients.healthy_echo, "ping");
  EXPECT_EQ(closes, std::vector<std::uint16_t>{1011});
  ASSERT_EQ(reports.list.size(), 1u);
  EXPECT_EQ(reports.list[0].message, "open boom");
  EXPECT_EQ(reports.list[0].callback, "open");
  EXPECT_EQ(reports.list[0].remote, server_address(server));
  EXPECT_EQ(std::count(server.close_codes.begin(), server.close_codes.end(), 1011), 1);
}

TEST(ClientBoundary, CloseThatThrowsIsReportedAndTheClientStillFinishes) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Reports reports;
  int dones = 0;
  ClientHandlers handlers;
  handlers.open = [](WebSocket& ws) { ws.close(1000); };
  handlers.close = [](WebSocket&, const CloseInfo&) { throw std::runtime_error("close boom"); };
  handlers.done = [&] {
    ++dones;
    loop.stop();
  };
  Client client(loop, options_for(server.url(), reports), handlers);
  client.connect();
  loop.run();
  EXPECT_EQ(dones, 1);
  EXPECT_EQ(server.last_close_code, 1000);  // the closing handshake went on as asked
  ASSERT_EQ(reports.list.size(), 1u);
  EXPECT_EQ(reports.list[0].callback, "close");
}

TEST(ClientBoundary, ErrorAndDoneThatThrowAreReportedAndTheRunEnds) {
  Reports reports;
  ClientOptions options = options_for("ws://127.0.0.1:9/", reports);  // discard: refused
  ClientHandlers handlers;
  handlers.error = [](const ClientError&) { throw std::runtime_error("error boom"); };
  handlers.done = [] { throw std::runtime_error("done boom"); };
  const ClientResult result = run_client(options, handlers);  // returns: the loop stopped
  EXPECT_FALSE(result.opened);
  ASSERT_EQ(reports.list.size(), 2u);
  EXPECT_EQ(reports.list[0].callback, "error");
  EXPECT_EQ(reports.list[0].message, "error boom");
  EXPECT_EQ(reports.list[0].route, "ws://127.0.0.1:9/");
  EXPECT_EQ(reports.list[0].remote, "127.0.0.1:9");
  EXPECT_EQ(reports.list[1].callback, "done");
}

TEST(ClientBoundary, HandshakeTraceThatThrowsIsReportedAndChangesNothing) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Reports reports;
  ClientOptions options = options_for(server.url(), reports);
  options.handshake_trace.request = [](std::string_view) { throw std::runtime_error("trace"); };
  options.handshake_trace.response = [](std::string_view) { throw std::runtime_error("trace"); };
  std::string echo;
  ClientHandlers handlers;
  handlers.open = [](WebSocket& ws) { ws.send("hi"); };
  handlers.message = [&](WebSocket& ws, Message message) {
    echo = std::string(message.text());
    ws.close();
  };
  handlers.done = [&] { loop.stop(); };
  Client client(loop, options, handlers);
  client.connect();
  loop.run();
  EXPECT_EQ(echo, "hi");
  ASSERT_EQ(reports.list.size(), 2u);
  EXPECT_EQ(reports.list[0].callback, "handshake_trace");
  EXPECT_EQ(reports.list[1].callback, "handshake_trace");
}

// The server sends three messages in one loop iteration (one write, one read on the client).
class ClientAfterClose : public ::testing::TestWithParam<bool> {};

TEST_P(ClientAfterClose, NothingFollowsTheCloseCallbackFromTheSameRead) {
  const bool terminate = GetParam();
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  server.on_message = [](WebSocket& ws, Message) {
    for (const char* text : {"one", "two", "three"}) ws.send(text);
    ws.ping();
  };
  Reports reports;
  std::vector<std::string> calls;
  ClientHandlers handlers;
  handlers.open = [](WebSocket& ws) { ws.send("go"); };
  handlers.message = [&](WebSocket& ws, Message message) {
    calls.push_back("message " + std::string(message.text()));
    if (terminate) {
      ws.terminate();
    } else {
      ws.close(4000);
    }
  };
  handlers.ping = [&](WebSocket&, std::span<const std::uint8_t>) { calls.push_back("ping"); };
  handlers.close = [&](WebSocket&, const CloseInfo& info) {
    calls.push_back("close " + std::to_string(info.code));
  };
  handlers.done = [&] { loop.stop(); };
  Client client(loop, options_for(server.url(), reports), handlers);
  client.connect();
  loop.run();
  if (terminate) {
    EXPECT_EQ(calls, (std::vector<std::string>{"message one", "close 1006"}));
  } else {  // the server's data still arrives until its close frame; `close` comes last
    EXPECT_EQ(calls, (std::vector<std::string>{"message one", "message two", "message three",
                                               "ping", "close 4000"}));
  }
  EXPECT_TRUE(reports.list.empty());
}

INSTANTIATE_TEST_SUITE_P(TerminateOrClose, ClientAfterClose, ::testing::Bool());

TEST(ClientStreaming, FragmentReceivesPiecesAndMessageIsNotCalled) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  std::string big(3 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  server.on_message = [&](WebSocket& ws, Message) { ws.send(big); };
  Reports reports;
  std::string joined;
  int pieces = 0;
  int messages = 0;
  ClientHandlers handlers;
  handlers.open = [](WebSocket& ws) { ws.send("go"); };
  handlers.message = [&](WebSocket&, Message) { ++messages; };
  handlers.fragment = [&](WebSocket& ws, Fragment piece) {
    EXPECT_EQ(piece.kind, MessageKind::text);
    EXPECT_EQ(piece.first, pieces == 0);
    ++pieces;
    joined += piece.text();
    if (piece.fin) ws.close();
  };
  handlers.done = [&] { loop.stop(); };
  ClientOptions options = options_for(server.url(), reports);
  options.websocket.max_message_size = big.size();
  Client client(loop, options, handlers);
  client.connect();
  loop.run();
  EXPECT_EQ(messages, 0);
  EXPECT_GT(pieces, 1);  // 3 MiB in one frame arrives in more than one read
  EXPECT_TRUE(joined == big);
}

}  // namespace
}  // namespace wsx
