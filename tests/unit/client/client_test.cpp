// End to end: the client against an in-process server (tests/support/test_ws_server.hpp) on the
// same event loop, over TCP and TLS, every test bounded by a watchdog.
#include "wsx/client.hpp"

#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "blackhole_listener.hpp"
#include "loop_watchdog.hpp"
#include "test_certs.hpp"
#include "test_tls_options.hpp"
#include "test_ws_server.hpp"
#include "wsx/io/event_loop.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// Records everything a client reports, and stops the loop when the client is done.
struct Recorder {
  explicit Recorder(io::EventLoop& loop) : loop(loop) {}

  ClientHandlers handlers() {
    ClientHandlers h;
    h.open = [this](WebSocket& ws) {
      ++opens;
      subprotocol = std::string(ws.subprotocol());
      compressed = ws.compressed();
      if (on_open) on_open(ws);
    };
    h.message = [this](WebSocket& ws, Message message) {
      messages.emplace_back(message.text());
      kinds.push_back(message.kind);
      if (on_message) on_message(ws, message);
    };
    h.close = [this](WebSocket&, const CloseInfo& info) {
      closes.push_back(info.code);
      close_reason = std::string(info.reason);
      clean = info.clean;
      if (on_close) on_close();
    };
    h.pong = [this](WebSocket&, std::span<const std::uint8_t> payload) {
      pongs.emplace_back(reinterpret_cast<const char*>(payload.data()), payload.size());
    };
    h.error = [this](const ClientError& error) {
      errors.push_back(error);
      if (on_error) on_error(error);
    };
    h.done = [this] {
      ++dones;
      loop.stop();
    };
    return h;
  }

  io::EventLoop& loop;
  int opens = 0;
  int dones = 0;
  std::string subprotocol;
  bool compressed = false;
  std::vector<std::string> messages;
  std::vector<MessageKind> kinds;
  std::vector<std::uint16_t> closes;
  std::string close_reason;
  bool clean = false;
  std::vector<std::string> pongs;
  std::vector<ClientError> errors;
  std::function<void(WebSocket&)> on_open;
  std::function<void(WebSocket&, Message)> on_message;
  std::function<void()> on_close;
  std::function<void(const ClientError&)> on_error;
};

// Sends `outgoing` one at a time, waiting for each echo, then closes with 1000.
void echo_then_close(Recorder& recorder, std::vector<std::string> outgoing) {
  auto queue = std::make_shared<std::vector<std::string>>(std::move(outgoing));
  auto next = std::make_shared<std::size_t>(0);
  auto send_next = [queue, next](WebSocket& ws) {
    if (*next < queue->size()) {
      ws.send((*queue)[(*next)++]);
    } else {
      ws.close(1000, "done");
    }
  };
  recorder.on_open = send_next;
  recorder.on_message = [send_next](WebSocket& ws, Message) { send_next(ws); };
}

ClientOptions options_for(const std::string& url) {
  ClientOptions options;
  options.url = url;
  options.connect_timeout = 2s;
  options.handshake_timeout = 2s;
  return options;
}

TEST(Client, ConnectsEchoesAndClosesCleanly) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Recorder recorder(loop);
  echo_then_close(recorder, {"hello", "", std::string(70'000, 'x')});
  Client client(loop, options_for(server.url("/chat?room=1")), recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.opens, 1);
  ASSERT_EQ(recorder.messages.size(), 3u);
  EXPECT_EQ(recorder.messages[0], "hello");
  EXPECT_EQ(recorder.messages[1], "");
  EXPECT_EQ(recorder.messages[2], std::string(70'000, 'x'));
  EXPECT_EQ(recorder.closes, std::vector<std::uint16_t>{1000});
  EXPECT_TRUE(recorder.clean);
  EXPECT_TRUE(recorder.errors.empty());
  EXPECT_EQ(recorder.dones, 1);
  EXPECT_NE(server.last_request.find("GET /chat?room=1 HTTP/1.1\r\n"), std::string::npos);
  EXPECT_EQ(client.connections_opened(), 1u);
  EXPECT_FALSE(client.is_open());
  EXPECT_EQ(client.send("late"), SendStatus::closed);
}

// ClientHandlers::frame sees what goes over the wire both ways, control frames included.
TEST(Client, FrameHandlerSeesEveryFrameBothWays) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Recorder recorder(loop);
  echo_then_close(recorder, {"hi"});
  ClientHandlers handlers = recorder.handlers();
  std::vector<std::string> frames;
  handlers.frame = [&](WebSocket&, bool outgoing, const proto::FrameHeader& header,
                       std::span<const std::uint8_t> payload) {
    frames.push_back(std::string(outgoing ? "> " : "< ") +
                     std::to_string(static_cast<int>(header.opcode)) + " " +
                     (header.masked ? "masked " : "") +
                     std::string(reinterpret_cast<const char*>(payload.data()),
                                 header.opcode == proto::Opcode::text ? payload.size() : 0));
  };
  Client client(loop, options_for(server.url()), handlers);
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.messages, std::vector<std::string>{"hi"});
  EXPECT_EQ(frames, (std::vector<std::string>{"> 1 masked hi", "< 1 hi", "> 8 masked ", "< 8 "}));
}

// ClientHandlers is a plain aggregate: one designated initializer sets a connection callback
// and a client-only one (with a base class, gcc refuses {.open = ..., .error = ...}). The
// frame callback reaches the client's connection as it does a server's.
TEST(Client, DesignatedHandlersIncludingFrameAndError) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
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
      .done = [&] { loop.stop(); },
  };
  Client client(loop, options_for(server.url()), std::move(handlers));
  client.connect();
  loop.run();
  EXPECT_EQ(errors, 0);
  ASSERT_GE(frames.size(), 3u);
  EXPECT_EQ(frames[0], "out text");
  EXPECT_EQ(frames[1], "in text");
  EXPECT_EQ(frames[2], "out close");
}

TEST(Client, BinaryPingAndAccessors) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Recorder recorder(loop);
  Client client(loop, options_for(server.url()), recorder.handlers());
  recorder.on_open = [&](WebSocket& ws) {
    EXPECT_TRUE(client.is_open());
    EXPECT_EQ(client.socket(), &ws);
    EXPECT_EQ(client.address(), "127.0.0.1:" + std::to_string(server.port()));
    EXPECT_EQ(client.url().port, server.port());
    EXPECT_FALSE(client.response_headers().empty());
    ws.ping(bytes("are you there"));
    EXPECT_EQ(client.send(bytes(std::string_view("\x00\x01\x02", 3)), MessageKind::binary),
              SendStatus::success);
  };
  recorder.on_message = [&](WebSocket& ws, Message) { ws.close(); };
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.kinds.size(), 1u);
  EXPECT_EQ(recorder.kinds[0], MessageKind::binary);
  EXPECT_EQ(recorder.messages[0], std::string("\x00\x01\x02", 3));
  EXPECT_EQ(recorder.pongs, std::vector<std::string>{"are you there"});
}

TEST(Client, Ipv6Literal) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.ipv6 = true;
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  echo_then_close(recorder, {"over ipv6"});
  Client client(loop, options_for("ws://[::1]:" + std::to_string(server.port()) + "/"),
                recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.messages, std::vector<std::string>{"over ipv6"});
  EXPECT_EQ(client.address(), "[::1]:" + std::to_string(server.port()));
  EXPECT_NE(server.last_request.find("Host: [::1]:" + std::to_string(server.port())),
            std::string::npos);
}

TEST(Client, HostNameIsResolvedAndEveryAddressTried) {
  // "localhost" is 127.0.0.1 and ::1 without a lookup (RFC 6761 §6.3); the server listens on one
  // of them only, so the client must reach it whichever comes first.
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Recorder recorder(loop);
  echo_then_close(recorder, {"by name"});
  Client client(loop, options_for("ws://localhost:" + std::to_string(server.port()) + "/"),
                recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.messages, std::vector<std::string>{"by name"});
  EXPECT_TRUE(recorder.errors.empty());
}

TEST(Client, SubprotocolNegotiation) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.subprotocols = {"chat.v2", "chat.v1"};
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  echo_then_close(recorder, {"hi"});
  ClientOptions options = options_for(server.url());
  options.subprotocols = {"unknown.proto", "chat.v1", "chat.v2"};
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.subprotocol, "chat.v2");  // the server's preference among the offered
  EXPECT_EQ(server.last_subprotocol, "chat.v2");
  EXPECT_NE(server.last_request.find("Sec-WebSocket-Protocol: unknown.proto, chat.v1, chat.v2"),
            std::string::npos);
}

TEST(Client, NoSubprotocolWhenNoneMatches) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.subprotocols = {"chat.v2"};
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  echo_then_close(recorder, {"hi"});
  ClientOptions options = options_for(server.url());
  options.subprotocols = {"other"};
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.opens, 1);
  EXPECT_EQ(recorder.subprotocol, "");
}

TEST(Client, OriginAndExtraHeadersAreSent) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Recorder recorder(loop);
  echo_then_close(recorder, {});
  ClientOptions options = options_for(server.url());
  options.origin = "https://app.example";
  options.extra_headers = {{"Authorization", "Bearer abc"}, {"X-Trace", "1"}};
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_NE(server.last_request.find("Origin: https://app.example\r\n"), std::string::npos);
  EXPECT_NE(server.last_request.find("Authorization: Bearer abc\r\n"), std::string::npos);
  EXPECT_NE(server.last_request.find("X-Trace: 1\r\n"), std::string::npos);
}

TEST(Client, RefusedHandshakeReportsStatusHeadersAndBody) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.refuse = proto::HttpResponse{403, "", {{"X-Why", "not on the list"}}, "go away"};
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  ClientOptions options = options_for(server.url());
  options.reconnect.enabled = true;  // a refusal is a decision: no retry
  options.reconnect.initial_delay = 10ms;
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  const ClientError& error = recorder.errors[0];
  EXPECT_EQ(error.kind, ClientErrorKind::handshake_refused);
  EXPECT_EQ(error.status, 403);
  EXPECT_EQ(error.reason, "Forbidden");
  EXPECT_EQ(error.body, "go away");
  EXPECT_FALSE(error.will_retry);
  EXPECT_NE(error.message.find("HTTP 403"), std::string::npos) << error.message;
  bool found = false;
  for (const auto& [name, value] : error.headers)
    found |= name == "X-Why" && value == "not on the list";
  EXPECT_TRUE(found);
  EXPECT_EQ(recorder.opens, 0);
  EXPECT_EQ(recorder.dones, 1);
  EXPECT_EQ(client.failed_attempts(), 1u);
}

TEST(Client, RefusalBodyIsCappedAtMaxErrorBody) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.refuse = proto::HttpResponse{500, "", {}, std::string(10'000, 'b')};
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  ClientOptions options = options_for(server.url());
  options.max_error_body = 100;
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].status, 500);
  EXPECT_EQ(recorder.errors[0].body, std::string(100, 'b'));
}

TEST(Client, RefusalWithABodyLargerThanOneReadKeepsItsHead) {
  // The body arrives over several reads (the read buffer is 64 KiB): the head must survive the
  // receive buffer growing under it.
  io::EventLoop loop;
  test::arm_watchdog(loop);
  std::string body;
  for (int i = 0; body.size() < 200'000; ++i) body += "line " + std::to_string(i) + "\n";
  test::TestServerOptions server_options;
  server_options.refuse = proto::HttpResponse{401, "", {{"WWW-Authenticate", "Bearer"}}, body};
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  ClientOptions options = options_for(server.url());
  options.max_error_body = 150'000;
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  const ClientError& error = recorder.errors[0];
  EXPECT_EQ(error.status, 401);
  EXPECT_EQ(error.reason, "Unauthorized");
  EXPECT_EQ(error.body, body.substr(0, 150'000));
  bool found = false;
  for (const auto& [name, value] : error.headers)
    found |= name == "WWW-Authenticate" && value == "Bearer";
  EXPECT_TRUE(found);
}

TEST(Client, TransientRefusalIsRetriedUntilAttemptsRunOut) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.refuse = proto::HttpResponse{503, "", {{"Retry-After", "1"}}, ""};
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  ClientOptions options = options_for(server.url());
  options.reconnect.enabled = true;
  options.reconnect.max_attempts = 2;
  options.reconnect.initial_delay = 10ms;
  options.reconnect.jitter = 0;
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 3u);
  EXPECT_TRUE(recorder.errors[0].will_retry);
  EXPECT_EQ(recorder.errors[0].retry_in, 10ms);
  EXPECT_TRUE(recorder.errors[1].will_retry);
  EXPECT_EQ(recorder.errors[1].retry_in, 20ms);
  EXPECT_FALSE(recorder.errors[2].will_retry);
  for (const ClientError& error : recorder.errors) EXPECT_EQ(error.status, 503);
  EXPECT_EQ(server.accepted, 3);
  EXPECT_EQ(recorder.dones, 1);
}

TEST(Client, InvalidAcceptKeyIsReported) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.raw_response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  Client client(loop, options_for(server.url()), recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::handshake_invalid);
  EXPECT_EQ(recorder.errors[0].status, 101);
  EXPECT_NE(recorder.errors[0].message.find("Accept"), std::string::npos)
      << recorder.errors[0].message;
  EXPECT_EQ(recorder.opens, 0);
}

TEST(Client, NonHttpAnswerIsReported) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.raw_response = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  Client client(loop, options_for(server.url()), recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::handshake_invalid);
  EXPECT_NE(recorder.errors[0].message.find("not a valid HTTP response"), std::string::npos);
}

TEST(Client, ServerClosingBeforeAnsweringIsConnectionLost) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.raw_response = "";
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  Client client(loop, options_for(server.url()), recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::connection_lost);
  EXPECT_NE(recorder.errors[0].message.find("before answering"), std::string::npos)
      << recorder.errors[0].message;
}

TEST(Client, HandshakeTimeout) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.silent = true;
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  ClientOptions options = options_for(server.url());
  options.handshake_timeout = 200ms;
  Client client(loop, options, recorder.handlers());
  const auto start = std::chrono::steady_clock::now();
  client.connect();
  loop.run();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::handshake_timeout);
  EXPECT_NE(recorder.errors[0].message.find("did not answer"), std::string::npos);
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 2s);
}

std::uint16_t closed_port() {
  io::EventLoop loop;
  io::Listener listener(loop, [](io::TcpSocket, const io::SocketAddress&) {});
  EXPECT_FALSE(listener.listen(io::SocketAddress::ipv4_loopback(0)));
  return listener.local_address().port();  // closed when the listener goes
}

TEST(Client, ConnectionRefused) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  Recorder recorder(loop);
  const std::uint16_t port = closed_port();
  Client client(loop, options_for("ws://127.0.0.1:" + std::to_string(port) + "/"),
                recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::connect_failed);
  EXPECT_EQ(recorder.errors[0].address, "127.0.0.1:" + std::to_string(port));
  EXPECT_NE(recorder.errors[0].message.find("refused"), std::string::npos)
      << recorder.errors[0].message;
  EXPECT_EQ(recorder.dones, 1);
}

TEST(Client, ConnectTimeoutWhenTheBacklogIsFull) {
  // A listener that never accepts, with its queue filled: the kernel drops further SYNs, so the
  // client's connect neither succeeds nor fails until its timeout.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int filler = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address);
    fillers.push_back(filler);
  }
  std::this_thread::sleep_for(50ms);

  io::EventLoop loop;
  test::arm_watchdog(loop);
  Recorder recorder(loop);
  ClientOptions options =
      options_for("ws://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/");
  options.connect_timeout = 300ms;
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  // Either the SYN was dropped (timeout) or the kernel let it through and nobody answered the
  // handshake; on Linux with a full queue it is the former.
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::connect_timeout)
      << recorder.errors[0].message;
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

TEST(Client, UnresolvableNameIsReported) {
  io::EventLoop loop;
  test::arm_watchdog(loop, 10s);
  Recorder recorder(loop);
  ClientOptions options = options_for("ws://no-such-host.invalid/");
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::resolve_failed);
  EXPECT_NE(recorder.errors[0].message.find("no-such-host.invalid"), std::string::npos);
}

TEST(Client, BadOptionsThrowWithAClearMessage) {
  io::EventLoop loop;
  auto message_of = [&](ClientOptions options) -> std::string {
    Client client(loop, std::move(options), {});
    try {
      client.connect();
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "(no exception)";
  };
  EXPECT_NE(message_of(options_for("http://x/")).find("unsupported scheme"), std::string::npos);
  EXPECT_NE(message_of(options_for("ws://x/#f")).find("fragment"), std::string::npos);
  ClientOptions header = options_for("ws://x/");
  header.extra_headers = {{"X-Bad", "a\r\nInjected: yes"}};
  EXPECT_NE(message_of(header), "(no exception)");
  ClientOptions own_header = options_for("ws://x/");
  own_header.extra_headers = {{"Sec-WebSocket-Key", "x"}};
  EXPECT_NE(message_of(own_header), "(no exception)");
  ClientOptions repeated = options_for("ws://x/");
  repeated.subprotocols = {"a", "a"};
  EXPECT_NE(message_of(repeated), "(no exception)");
  ClientOptions tls = options_for("wss://x/");
  tls.tls.ca_file = "/nonexistent/ca.pem";
  EXPECT_NE(message_of(tls).find("TLS configuration"), std::string::npos);
}

// ------------------------------------------------------------------ TLS

TEST(ClientTls, EchoOverTlsWithTheTestCa) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.tls = test::test_server_tls();
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  echo_then_close(recorder, {"secret", std::string(200'000, 's')});
  ClientOptions options = options_for(server.url());
  test::trust_test_ca_only(options.tls);
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_TRUE(recorder.errors.empty()) << recorder.errors[0].message;
  ASSERT_EQ(recorder.messages.size(), 2u);
  EXPECT_EQ(recorder.messages[1].size(), 200'000u);
  EXPECT_TRUE(recorder.clean);
}

TEST(ClientTls, ByNameOverTls) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.tls = test::test_server_tls();
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  echo_then_close(recorder, {"named"});
  ClientOptions options = options_for("wss://localhost:" + std::to_string(server.port()) + "/");
  options.tls.ca_file = test::test_pki().ca_certificate;
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.messages, std::vector<std::string>{"named"});
}

TEST(ClientTls, UntrustedCertificateFailsVerification) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.tls = test::test_server_tls(/*other_ca=*/true);
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  ClientOptions options = options_for(server.url());
  test::trust_test_ca_only(options.tls);
  options.reconnect.enabled = true;  // a verification failure is never retried
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::tls_failed);
  EXPECT_NE(recorder.errors[0].message.find("certificate verify failed"), std::string::npos)
      << recorder.errors[0].message;
  EXPECT_FALSE(recorder.errors[0].will_retry);
  EXPECT_EQ(recorder.opens, 0);
}

TEST(ClientTls, HostMismatchFailsVerification) {
  // The other server's certificate names localhost and 127.0.0.1 but not ::1.
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.tls = test::test_server_tls(/*other_ca=*/true);
  server_options.ipv6 = true;
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  ClientOptions options = options_for(server.url());
  options.tls.ca_file = test::test_pki().other_ca_certificate;
  options.tls.use_system_ca = false;
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.errors[0].kind, ClientErrorKind::tls_failed);
  EXPECT_NE(recorder.errors[0].message.find("mismatch"), std::string::npos)
      << recorder.errors[0].message;
}

TEST(ClientTls, InsecureSkipVerifyConnectsAnyway) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.tls = test::test_server_tls(/*other_ca=*/true);
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  echo_then_close(recorder, {"trust me"});
  ClientOptions options = options_for(server.url());
  options.tls.insecure_skip_verify = true;
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.messages, std::vector<std::string>{"trust me"});
}

TEST(ClientTls, ClientCertificateWhenTheServerRequiresOne) {
  io::TlsServerOptions tls = test::test_server_tls();
  tls.client_ca_file = test::test_pki().ca_certificate;
  tls.require_client_certificate = true;
  for (const bool with_certificate : {true, false}) {
    SCOPED_TRACE(with_certificate ? "with a client certificate" : "without");
    io::EventLoop loop;
    test::arm_watchdog(loop);
    test::TestServerOptions server_options;
    server_options.tls = tls;
    test::TestServer server(loop, server_options);
    Recorder recorder(loop);
    echo_then_close(recorder, {"mutual"});
    ClientOptions options = options_for(server.url());
    options.tls.ca_file = test::test_pki().ca_certificate;
    if (with_certificate) {
      options.tls.certificate_chain_file = test::test_pki().client_chain;
      options.tls.private_key_file = test::test_pki().client_key;
    }
    Client client(loop, options, recorder.handlers());
    client.connect();
    loop.run();
    if (with_certificate) {
      EXPECT_EQ(recorder.messages, std::vector<std::string>{"mutual"});
    } else {
      ASSERT_EQ(recorder.errors.size(), 1u);
      EXPECT_EQ(recorder.opens, 0);
      // TLS 1.3: the client finishes its side before the server rejects the missing certificate,
      // so the alert may arrive as a TLS failure or end the connection during the handshake.
      EXPECT_TRUE(recorder.errors[0].kind == ClientErrorKind::tls_failed ||
                  recorder.errors[0].kind == ClientErrorKind::connection_lost)
          << recorder.errors[0].message;
      EXPECT_NE(recorder.errors[0].message.find("certificate"), std::string::npos)
          << recorder.errors[0].message;
    }
  }
}

// ------------------------------------------------------------------ permessage-deflate

TEST(ClientDeflate, NegotiatesAndEchoesCompressed) {
  struct Case {
    proto::DeflateClientOptions client;
    proto::DeflateServerOptions server;
    proto::DeflateParams expected;
  };
  std::vector<Case> cases(4);
  cases[1].client.client_no_context_takeover = true;
  cases[1].client.server_no_context_takeover = true;
  cases[1].expected.client_no_context_takeover = true;
  cases[1].expected.server_no_context_takeover = true;
  cases[2].client.server_max_window_bits = 10;
  cases[2].server.client_max_window_bits = 9;
  cases[2].expected.server_max_window_bits = 10;
  cases[2].expected.client_max_window_bits = 9;
  cases[3].server.server_no_context_takeover = true;
  cases[3].server.client_no_context_takeover = true;
  cases[3].expected.client_no_context_takeover = true;
  cases[3].expected.server_no_context_takeover = true;
  // Offered without a value, client_max_window_bits is answered with the server's choice.
  for (Case& c : cases) {
    if (c.client.client_max_window_bits == 16) {
      c.expected.client_max_window_bits = c.server.client_max_window_bits;
    }
  }
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    io::EventLoop loop;
    test::arm_watchdog(loop);
    test::TestServerOptions server_options;
    server_options.deflate = cases[i].server;
    test::TestServer server(loop, server_options);
    Recorder recorder(loop);
    std::string big;
    for (int n = 0; n < 5000; ++n) big += "compressible line " + std::to_string(n % 17) + "\n";
    echo_then_close(recorder, {big, big, "small", ""});
    ClientOptions options = options_for(server.url());
    options.deflate = cases[i].client;
    Client client(loop, options, recorder.handlers());
    std::optional<proto::DeflateParams> negotiated;
    recorder.on_close = [&] {};
    auto open = recorder.on_open;
    recorder.on_open = [&, open](WebSocket& ws) {
      negotiated = client.deflate();
      open(ws);
    };
    client.connect();
    loop.run();
    EXPECT_TRUE(recorder.compressed);
    EXPECT_TRUE(server.last_compressed);
    ASSERT_TRUE(negotiated.has_value());
    EXPECT_EQ(negotiated->client_no_context_takeover, cases[i].expected.client_no_context_takeover);
    EXPECT_EQ(negotiated->server_no_context_takeover, cases[i].expected.server_no_context_takeover);
    EXPECT_EQ(negotiated->client_max_window_bits, cases[i].expected.client_max_window_bits);
    EXPECT_EQ(negotiated->server_max_window_bits, cases[i].expected.server_max_window_bits);
    ASSERT_EQ(recorder.messages.size(), 4u);
    EXPECT_EQ(recorder.messages[0], big);
    EXPECT_EQ(recorder.messages[1], big);
    EXPECT_EQ(recorder.messages[2], "small");
    EXPECT_EQ(recorder.messages[3], "");
    EXPECT_NE(server.last_request.find("Sec-WebSocket-Extensions: permessage-deflate"),
              std::string::npos);
  }
}

TEST(ClientDeflate, ServerWithoutDeflateMeansUncompressed) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Recorder recorder(loop);
  echo_then_close(recorder, {"plain"});
  ClientOptions options = options_for(server.url());
  options.deflate = proto::DeflateClientOptions{};
  Client client(loop, options, recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_FALSE(recorder.compressed);
  EXPECT_EQ(recorder.messages, std::vector<std::string>{"plain"});
}

// ------------------------------------------------------------------ reconnect

ClientOptions reconnecting(const std::string& url, std::size_t attempts = 5) {
  ClientOptions options = options_for(url);
  options.reconnect.enabled = true;
  options.reconnect.max_attempts = attempts;
  options.reconnect.initial_delay = 20ms;
  options.reconnect.max_delay = 100ms;
  options.reconnect_seed = 1;
  return options;
}

TEST(ClientReconnect, ReconnectsAfterTheServerDropsTheConnection) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Recorder recorder(loop);
  Client client(loop, reconnecting(server.url()), recorder.handlers());
  recorder.on_open = [&](WebSocket& ws) {
    if (recorder.opens == 1) {
      ws.send("first");
    } else {
      ws.send("second");
    }
  };
  recorder.on_message = [&](WebSocket& ws, Message message) {
    if (message.text() == "first") {
      server.drop_all();  // no closing handshake: 1006, the client comes back
    } else {
      ws.close(1000);
    }
  };
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.opens, 2);
  EXPECT_EQ(client.connections_opened(), 2u);
  EXPECT_EQ(recorder.closes, (std::vector<std::uint16_t>{1006, 1000}));
  EXPECT_EQ(recorder.messages, (std::vector<std::string>{"first", "second"}));
  EXPECT_TRUE(recorder.errors.empty());
  EXPECT_EQ(recorder.dones, 1);
}

TEST(ClientReconnect, ReconnectsAfterServiceRestartButNotAfterAnApplicationClose) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  server.on_open = [&](WebSocket& ws) {
    if (server.opened == 1) {
      ws.close(1012, "restarting");
    } else {
      ws.close(4000, "go home");
    }
  };
  Recorder recorder(loop);
  Client client(loop, reconnecting(server.url()), recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.opens, 2);
  EXPECT_EQ(recorder.closes, (std::vector<std::uint16_t>{1012, 4000}));
  EXPECT_EQ(recorder.close_reason, "go home");
  EXPECT_TRUE(recorder.clean);
  EXPECT_EQ(recorder.dones, 1);
}

TEST(ClientReconnect, GivesUpAfterMaxAttempts) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  Recorder recorder(loop);
  const std::uint16_t port = closed_port();
  Client client(loop, reconnecting("ws://127.0.0.1:" + std::to_string(port) + "/", 3),
                recorder.handlers());
  client.connect();
  loop.run();
  ASSERT_EQ(recorder.errors.size(), 4u);  // the first attempt and three retries
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(recorder.errors[i].will_retry);
    EXPECT_GT(recorder.errors[i].retry_in.count(), 0);
    EXPECT_LE(recorder.errors[i].retry_in, 100ms);
  }
  EXPECT_FALSE(recorder.errors[3].will_retry);
  EXPECT_EQ(client.failed_attempts(), 4u);
  EXPECT_EQ(recorder.dones, 1);
}

TEST(ClientReconnect, ServerComingBackIsReached) {
  // The first attempts are refused; then a server starts listening on that port.
  io::EventLoop loop;
  test::arm_watchdog(loop);
  const std::uint16_t port = closed_port();
  Recorder recorder(loop);
  std::unique_ptr<io::Listener> late;
  std::unique_ptr<test::TestServer> server;
  recorder.on_error = [&](const ClientError& error) {
    EXPECT_EQ(error.kind, ClientErrorKind::connect_failed);
    if (recorder.errors.size() == 2) {
      // A TestServer listens on port 0; here we need the fixed port: echo by hand.
      late = std::make_unique<io::Listener>(loop, [&](io::TcpSocket, const io::SocketAddress&) {
        late->close();
        loop.stop();
      });
      EXPECT_FALSE(late->listen(io::SocketAddress::ipv4_loopback(port)));
    }
  };
  Client client(loop, reconnecting("ws://127.0.0.1:" + std::to_string(port) + "/", 10),
                recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.errors.size(), 2u);  // the third attempt reached the listener
}

TEST(ClientReconnect, CloseWhileWaitingStopsReconnecting) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  Recorder recorder(loop);
  const std::uint16_t port = closed_port();
  ClientOptions options = reconnecting("ws://127.0.0.1:" + std::to_string(port) + "/", 10);
  options.reconnect.initial_delay = options.reconnect.max_delay = 10s;
  Client client(loop, options, recorder.handlers());
  recorder.on_error = [&](const ClientError& error) {
    EXPECT_TRUE(error.will_retry);
    client.close();
  };
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.errors.size(), 1u);
  EXPECT_EQ(recorder.dones, 1);
}

TEST(Client, CloseDuringTheHandshakeAbandonsTheAttempt) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServerOptions server_options;
  server_options.silent = true;
  test::TestServer server(loop, server_options);
  Recorder recorder(loop);
  Client client(loop, options_for(server.url()), recorder.handlers());
  client.connect();
  loop.run_after(50ms, [&] { client.close(); });
  loop.run();
  EXPECT_TRUE(recorder.errors.empty());
  EXPECT_EQ(recorder.dones, 1);
}

TEST(Client, DestroyingAConnectedClientIsQuiet) {
  io::EventLoop loop;
  test::arm_watchdog(loop);
  test::TestServer server(loop, {});
  Recorder recorder(loop);
  auto client = std::make_unique<Client>(loop, options_for(server.url()), recorder.handlers());
  recorder.on_open = [&](WebSocket&) { loop.post([&] { client.reset(); }); };
  server.on_message = nullptr;
  int server_closes_before = server.closed;
  client->connect();
  loop.run_after(300ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(client, nullptr);
  EXPECT_EQ(recorder.dones, 0);
  EXPECT_TRUE(recorder.closes.empty());
  EXPECT_EQ(server.closed, server_closes_before + 1);  // the server saw the TCP connection end
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
  io::EventLoop loop;
  test::arm_watchdog(loop, 20s);
  test::TestServerOptions server_options;
  server_options.ipv6 = !blackhole_ipv6;
  test::TestServer server(loop, server_options);
  test::BlackholeListener hole(blackhole_ipv6 ? io::SocketAddress::ipv6_loopback(server.port())
                                              : io::SocketAddress::ipv4_loopback(server.port()));
  ASSERT_TRUE(hole.ok());
  Recorder recorder(loop);
  recorder.on_open = [](WebSocket& ws) { ws.close(1000); };
  ClientOptions options = options_for("ws://localhost:" + std::to_string(server.port()) + "/");
  options.connect_timeout = 60s;
  options.connection_attempt_delay = 100ms;
  Client client(loop, options, recorder.handlers());
  const auto start = std::chrono::steady_clock::now();
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.opens, 1);
  EXPECT_TRUE(recorder.errors.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  EXPECT_EQ(client.address(),
            (blackhole_ipv6 ? "127.0.0.1:" : "[::1]:") + std::to_string(server.port()));
}

}  // namespace
}  // namespace wsx
