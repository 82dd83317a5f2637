// End to end: the client against an in-process server (tests/support/test_ws_server.hpp) on the
// same event loop: echo, frames, accessors, IPv6 and names, subprotocols, headers, and the
// client's life cycle. Failures, TLS, deflate and reconnecting have files of their own.
#include "wsx/client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "blackhole_listener.hpp"
#include "client_recorder.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::ClientHarness;
using test::closed_port;
using test::echo_then_close;
using test::options_for;

TEST(Client, ConnectsEchoesAndClosesCleanly) {
  ClientHarness h;
  echo_then_close(h.recorder, {"hello", "", std::string(70'000, 'x')});
  Client& client = h.run(h.options("/chat?room=1"));
  EXPECT_EQ(h.recorder.opens, 1);
  EXPECT_EQ(h.recorder.messages, (std::vector<std::string>{"hello", "", std::string(70'000, 'x')}));
  EXPECT_EQ(h.recorder.closes, std::vector<std::uint16_t>{1000});
  EXPECT_TRUE(h.recorder.clean);
  EXPECT_TRUE(h.recorder.errors.empty());
  EXPECT_EQ(h.recorder.dones, 1);
  EXPECT_NE(h.server.last_request.find("GET /chat?room=1 HTTP/1.1\r\n"), std::string::npos);
  EXPECT_EQ(client.connections_opened(), 1u);
  EXPECT_FALSE(client.is_open());
  EXPECT_EQ(client.send("late"), SendStatus::closed);
}

// ClientHandlers::frame sees what goes over the wire both ways, control frames included.
TEST(Client, FrameHandlerSeesEveryFrameBothWays) {
  ClientHarness h;
  echo_then_close(h.recorder, {"hi"});
  ClientHandlers handlers = h.recorder.handlers();
  std::vector<std::string> frames;
  handlers.frame = [&](WebSocket&, bool outgoing, const proto::FrameHeader& header,
                       std::span<const std::uint8_t> payload) {
    frames.push_back(std::string(outgoing ? "> " : "< ") +
                     std::to_string(static_cast<int>(header.opcode)) + " " +
                     (header.masked ? "masked " : "") +
                     std::string(reinterpret_cast<const char*>(payload.data()),
                                 header.opcode == proto::Opcode::text ? payload.size() : 0));
  };
  Client client(h.loop, h.options(), handlers);
  client.connect();
  h.loop.run();
  EXPECT_EQ(h.recorder.messages, std::vector<std::string>{"hi"});
  EXPECT_EQ(frames, (std::vector<std::string>{"> 1 masked hi", "< 1 hi", "> 8 masked ", "< 8 "}));
}

// ClientHandlers is a plain aggregate: one designated initializer sets a connection callback
// and a client-only one (with a base class, gcc refuses {.open = ..., .error = ...}). The
// frame callback reaches the client's connection as it does a server's.
TEST(Client, DesignatedHandlersIncludingFrameAndError) {
  ClientHarness h;
  std::vector<std::string> frames;
  int errors = 0;
  ClientHandlers handlers{
      .open = [](WebSocket& ws) { ws.send("hi"); },
      .message = [](WebSocket& ws, Message) { ws.close(1000); },
      .frame =
          [&](WebSocket&, bool outgoing, const proto::FrameHeader& header,
              std::span<const std::uint8_t>) {
            frames.push_back(std::string(outgoing ? "out " : "in ") +
                             std::string(proto::opcode_name(header.opcode)));
          },
      .error = [&](const ClientError&) { ++errors; },
      .done = [&] { h.loop.stop(); },
  };
  Client client(h.loop, h.options(), std::move(handlers));
  client.connect();
  h.loop.run();
  EXPECT_EQ(errors, 0);
  ASSERT_GE(frames.size(), 3u);
  EXPECT_EQ(frames[0], "out text");
  EXPECT_EQ(frames[1], "in text");
  EXPECT_EQ(frames[2], "out close");
}

TEST(Client, BinaryPingAndAccessors) {
  ClientHarness h;
  h.recorder.on_open = [&](WebSocket& ws) {
    Client& client = *h.client;
    EXPECT_TRUE(client.is_open());
    EXPECT_EQ(client.socket(), &ws);
    EXPECT_EQ(client.address(), "127.0.0.1:" + std::to_string(h.server.port()));
    EXPECT_EQ(client.url().port, h.server.port());
    EXPECT_FALSE(client.response_headers().empty());
    ws.ping(bytes("are you there"));
    EXPECT_EQ(client.send(bytes(std::string_view("\x00\x01\x02", 3)), MessageKind::binary),
              SendStatus::success);
  };
  h.recorder.on_message = [&](WebSocket& ws, Message) { ws.close(); };
  h.run(h.options());
  EXPECT_EQ(h.recorder.kinds, std::vector<MessageKind>{MessageKind::binary});
  EXPECT_EQ(h.recorder.messages, std::vector<std::string>{std::string("\x00\x01\x02", 3)});
  EXPECT_EQ(h.recorder.pongs, std::vector<std::string>{"are you there"});
}

TEST(Client, Ipv6Literal) {
  test::TestServerOptions server_options;
  server_options.ipv6 = true;
  ClientHarness h(server_options);
  echo_then_close(h.recorder, {"over ipv6"});
  const std::string port = std::to_string(h.server.port());
  Client& client = h.run(options_for("ws://[::1]:" + port + "/"));
  EXPECT_EQ(h.recorder.messages, std::vector<std::string>{"over ipv6"});
  EXPECT_EQ(client.address(), "[::1]:" + port);
  EXPECT_NE(h.server.last_request.find("Host: [::1]:" + port), std::string::npos);
}

TEST(Client, HostNameIsResolvedAndEveryAddressTried) {
  // "localhost" is 127.0.0.1 and ::1 without a lookup (RFC 6761 §6.3); the server listens on one
  // of them only, so the client must reach it whichever comes first.
  ClientHarness h;
  echo_then_close(h.recorder, {"by name"});
  h.run(options_for("ws://localhost:" + std::to_string(h.server.port()) + "/"));
  EXPECT_EQ(h.recorder.messages, std::vector<std::string>{"by name"});
  EXPECT_TRUE(h.recorder.errors.empty());
}

TEST(Client, SubprotocolNegotiation) {
  test::TestServerOptions server_options;
  server_options.subprotocols = {"chat.v2", "chat.v1"};
  ClientHarness h(server_options);
  echo_then_close(h.recorder, {"hi"});
  ClientOptions options = h.options();
  options.subprotocols = {"unknown.proto", "chat.v1", "chat.v2"};
  h.run(options);
  EXPECT_EQ(h.recorder.subprotocol, "chat.v2");  // the server's preference among the offered
  EXPECT_EQ(h.server.last_subprotocol, "chat.v2");
  EXPECT_NE(h.server.last_request.find("Sec-WebSocket-Protocol: unknown.proto, chat.v1, chat.v2"),
            std::string::npos);
}

TEST(Client, NoSubprotocolWhenNoneMatches) {
  test::TestServerOptions server_options;
  server_options.subprotocols = {"chat.v2"};
  ClientHarness h(server_options);
  echo_then_close(h.recorder, {"hi"});
  ClientOptions options = h.options();
  options.subprotocols = {"other"};
  h.run(options);
  EXPECT_EQ(h.recorder.opens, 1);
  EXPECT_EQ(h.recorder.subprotocol, "");
}

TEST(Client, OriginAndExtraHeadersAreSent) {
  ClientHarness h;
  echo_then_close(h.recorder, {});
  ClientOptions options = h.options();
  options.origin = "https://app.example";
  options.extra_headers = {{"Authorization", "Bearer abc"}, {"X-Trace", "1"}};
  h.run(options);
  EXPECT_NE(h.server.last_request.find("Origin: https://app.example\r\n"), std::string::npos);
  EXPECT_NE(h.server.last_request.find("Authorization: Bearer abc\r\n"), std::string::npos);
  EXPECT_NE(h.server.last_request.find("X-Trace: 1\r\n"), std::string::npos);
}

TEST(Client, CloseDuringTheHandshakeAbandonsTheAttempt) {
  test::TestServerOptions silent;
  silent.silent = true;
  ClientHarness h(silent);
  Client& client = h.start(h.options());
  h.loop.run_after(50ms, [&] { client.close(); });
  h.loop.run();
  EXPECT_TRUE(h.recorder.errors.empty());
  EXPECT_EQ(h.recorder.dones, 1);
}

TEST(Client, DestroyingAConnectedClientIsQuiet) {
  ClientHarness h;
  h.recorder.on_open = [&](WebSocket&) { h.loop.post([&] { h.client.reset(); }); };
  h.server.on_message = nullptr;
  const int server_closes_before = h.server.closed;
  h.start(h.options());
  h.loop.run_after(300ms, [&] { h.loop.stop(); });
  h.loop.run();
  EXPECT_FALSE(h.client.has_value());
  EXPECT_EQ(h.recorder.dones, 0);
  EXPECT_TRUE(h.recorder.closes.empty());
  EXPECT_EQ(h.server.closed, server_closes_before + 1);  // the server saw the TCP connection end
}

// ------------------------------------------------------------------ blocking helper

TEST(RunClient, BlocksUntilDone) {
  io::EventLoop server_loop;
  std::unique_ptr<test::TestServer> server;
  std::atomic<std::uint16_t> port{0};
  std::thread thread([&] {
    server = std::make_unique<test::TestServer>(server_loop, test::TestServerOptions{});
    port = server->port();
    test::arm_watchdog(server_loop, 10s);
    server_loop.run();
    server.reset();
  });
  while (port.load() == 0) std::this_thread::sleep_for(1ms);

  ClientHandlers handlers;
  std::string reply;
  handlers.open = [](WebSocket& ws) { ws.send("blocking"); };
  handlers.message = [&](WebSocket& ws, Message message) {
    reply = std::string(message.text());
    ws.close(1000, "thanks");
  };
  const ClientResult result =
      run_client(options_for("ws://127.0.0.1:" + std::to_string(port) + "/"), handlers);
  EXPECT_TRUE(result.opened);
  EXPECT_FALSE(result.error.has_value());
  EXPECT_EQ(result.close_code, 1000);
  EXPECT_TRUE(result.clean);
  EXPECT_EQ(reply, "blocking");

  const ClientResult refused =
      run_client(options_for("ws://127.0.0.1:" + std::to_string(closed_port()) + "/"), {});
  EXPECT_FALSE(refused.opened);
  ASSERT_TRUE(refused.error.has_value());
  EXPECT_EQ(refused.error->kind, ClientErrorKind::connect_failed);

  server_loop.stop();
  thread.join();
}

// Whether ::1 can be bound here (IPv6 may be disabled in a container).
bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

// Happy Eyeballs end to end: "localhost" is 127.0.0.1 then ::1 (RFC 6761, no lookup); the
// first silently drops SYNs, the other one serves; the client opens after one attempt delay
// instead of the connect timeout.
TEST(Client, OutrunsABlackholedFirstAddressFamily) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  const bool blackhole_ipv6 = false;  // the first of localhost's addresses is 127.0.0.1
  test::TestServerOptions server_options;
  server_options.ipv6 = !blackhole_ipv6;
  // The server's port is free in its own family only: another process may hold the same number
  // on the other one (it failed once on a busy machine). Servers are made until both are ours.
  std::unique_ptr<ClientHarness> harness;
  std::unique_ptr<test::BlackholeListener> hole;
  std::uint16_t port = 0;
  for (int attempt = 0; attempt < 50 && !(hole && hole->ok()); ++attempt) {
    hole.reset();
    harness = std::make_unique<ClientHarness>(server_options, 20s);
    port = harness->server.port();
    hole = std::make_unique<test::BlackholeListener>(blackhole_ipv6
                                                         ? io::SocketAddress::ipv6_loopback(port)
                                                         : io::SocketAddress::ipv4_loopback(port));
  }
  ASSERT_TRUE(hole->ok());
  ClientHarness& h = *harness;
  h.recorder.on_open = [](WebSocket& ws) { ws.close(1000); };
  ClientOptions options = options_for("ws://localhost:" + std::to_string(port) + "/");
  options.connect_timeout = 60s;
  options.connection_attempt_delay = 100ms;
  const auto start = std::chrono::steady_clock::now();
  Client& client = h.run(options);
  EXPECT_EQ(h.recorder.opens, 1);
  EXPECT_TRUE(h.recorder.errors.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  EXPECT_EQ(client.address(), (blackhole_ipv6 ? "127.0.0.1:" : "[::1]:") + std::to_string(port));
}

}  // namespace
}  // namespace wsx
