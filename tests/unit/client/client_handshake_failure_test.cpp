// The client's failures before a connection opens: refusals, answers that are not a valid 101,
// silence, refused or unanswered connects, names that do not resolve, and bad options. Each is
// reported once, with the kind, status and a message that says what happened.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "client_recorder.hpp"
#include "wsx/client.hpp"

namespace wsx {
namespace {

using namespace std::chrono_literals;
using test::ClientHarness;
using test::options_for;

bool has_header(const ClientError& error, std::string_view name, std::string_view value) {
  for (const auto& [n, v] : error.headers) {
    if (n == name && v == value) return true;
  }
  return false;
}

test::TestServerOptions refusing(proto::HttpResponse response) {
  test::TestServerOptions options;
  options.refuse = std::move(response);
  return options;
}

test::TestServerOptions answering(std::string raw_response) {
  test::TestServerOptions options;
  options.raw_response = std::move(raw_response);
  return options;
}

TEST(Client, RefusedHandshakeReportsStatusHeadersAndBody) {
  ClientHarness h(refusing({403, "", {{"X-Why", "not on the list"}}, "go away"}));
  ClientOptions options = h.options();
  options.reconnect.enabled = true;  // a refusal is a decision: no retry
  options.reconnect.initial_delay = 10ms;
  const Client& client = h.run(options);
  const ClientError& error = h.only_error();
  EXPECT_EQ(error.kind, ClientErrorKind::handshake_refused);
  EXPECT_EQ(error.status, 403);
  EXPECT_EQ(error.reason, "Forbidden");
  EXPECT_EQ(error.body, "go away");
  EXPECT_FALSE(error.will_retry);
  EXPECT_NE(error.message.find("HTTP 403"), std::string::npos) << error.message;
  EXPECT_TRUE(has_header(error, "X-Why", "not on the list"));
  EXPECT_EQ(h.recorder.opens, 0);
  EXPECT_EQ(h.recorder.dones, 1);
  EXPECT_EQ(client.failed_attempts(), 1u);
}

TEST(Client, RefusalBodyIsCappedAtMaxErrorBody) {
  ClientHarness h(refusing({500, "", {}, std::string(10'000, 'b')}));
  ClientOptions options = h.options();
  options.max_error_body = 100;
  h.run(options);
  EXPECT_EQ(h.only_error().status, 500);
  EXPECT_EQ(h.only_error().body, std::string(100, 'b'));
}

TEST(Client, RefusalWithABodyLargerThanOneReadKeepsItsHead) {
  // The body arrives over several reads (the read buffer is 64 KiB): the head must survive the
  // receive buffer growing under it.
  std::string body;
  for (int i = 0; body.size() < 200'000; ++i) body += "line " + std::to_string(i) + "\n";
  ClientHarness h(refusing({401, "", {{"WWW-Authenticate", "Bearer"}}, body}));
  ClientOptions options = h.options();
  options.max_error_body = 150'000;
  h.run(options);
  const ClientError& error = h.only_error();
  EXPECT_EQ(error.status, 401);
  EXPECT_EQ(error.reason, "Unauthorized");
  EXPECT_EQ(error.body, body.substr(0, 150'000));
  EXPECT_TRUE(has_header(error, "WWW-Authenticate", "Bearer"));
}

TEST(Client, TransientRefusalIsRetriedUntilAttemptsRunOut) {
  ClientHarness h(refusing({503, "", {{"Retry-After", "1"}}, ""}));
  ClientOptions options = h.options();
  options.reconnect.enabled = true;
  options.reconnect.max_attempts = 2;
  options.reconnect.initial_delay = 10ms;
  options.reconnect.jitter = 0;
  h.run(options);
  const std::vector<ClientError>& errors = h.recorder.errors;
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_TRUE(errors[0].will_retry);
  EXPECT_EQ(errors[0].retry_in, 10ms);
  EXPECT_TRUE(errors[1].will_retry);
  EXPECT_EQ(errors[1].retry_in, 20ms);
  EXPECT_FALSE(errors[2].will_retry);
  for (const ClientError& error : errors) EXPECT_EQ(error.status, 503);
  EXPECT_EQ(h.server.accepted, 3);
  EXPECT_EQ(h.recorder.dones, 1);
}

TEST(Client, InvalidAcceptKeyIsReported) {
  ClientHarness h(
      answering("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
  h.run(h.options());
  const ClientError& error = h.only_error();
  EXPECT_EQ(error.kind, ClientErrorKind::handshake_invalid);
  EXPECT_EQ(error.status, 101);
  EXPECT_NE(error.message.find("Accept"), std::string::npos) << error.message;
  EXPECT_EQ(h.recorder.opens, 0);
}

TEST(Client, NonHttpAnswerIsReported) {
  ClientHarness h(answering("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
  h.run(h.options());
  EXPECT_EQ(h.only_error().kind, ClientErrorKind::handshake_invalid);
  EXPECT_NE(h.only_error().message.find("not a valid HTTP response"), std::string::npos)
      << h.only_error().message;
}

TEST(Client, ServerClosingBeforeAnsweringIsConnectionLost) {
  ClientHarness h(answering(""));
  h.run(h.options());
  EXPECT_EQ(h.only_error().kind, ClientErrorKind::connection_lost);
  EXPECT_NE(h.only_error().message.find("before answering"), std::string::npos)
      << h.only_error().message;
}

TEST(Client, HandshakeTimeout) {
  test::TestServerOptions silent;
  silent.silent = true;
  ClientHarness h(silent);
  ClientOptions options = h.options();
  options.handshake_timeout = 200ms;
  // Before the loop runs: the timeout is armed later, once connected.
  const io::Clock::time_point start = h.loop.now();
  h.run(options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(h.only_error().kind, ClientErrorKind::handshake_timeout);
  EXPECT_NE(h.only_error().message.find("did not answer"), std::string::npos);
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 5s);  // the 200 ms timeout, not the default 10 s: room for load
}

// Runs a client with `options` (no server of ours behind its URL) until it is done.
std::vector<ClientError> errors_without_a_server(ClientOptions options,
                                                 std::chrono::seconds watchdog = 5s) {
  io::EventLoop loop;
  test::arm_watchdog(loop, watchdog);
  test::ClientRecorder recorder(loop);
  Client client(loop, std::move(options), recorder.handlers());
  client.connect();
  loop.run();
  EXPECT_EQ(recorder.dones, 1);
  return recorder.errors;
}

TEST(Client, ConnectionRefused) {
  const std::uint16_t port = test::closed_port();
  ASSERT_NE(port, 0);
  const std::vector<ClientError> errors =
      errors_without_a_server(options_for("ws://127.0.0.1:" + std::to_string(port) + "/"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].kind, ClientErrorKind::connect_failed);
  EXPECT_EQ(errors[0].address, "127.0.0.1:" + std::to_string(port));
  EXPECT_NE(errors[0].message.find("refused"), std::string::npos) << errors[0].message;
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

  ClientOptions options =
      options_for("ws://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/");
  options.connect_timeout = 300ms;
  const std::vector<ClientError> errors = errors_without_a_server(options);
  ASSERT_EQ(errors.size(), 1u);
  // Either the SYN was dropped (timeout) or the kernel let it through and nobody answered the
  // handshake; on Linux with a full queue it is the former.
  EXPECT_EQ(errors[0].kind, ClientErrorKind::connect_timeout) << errors[0].message;
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

TEST(Client, UnresolvableNameIsReported) {
  const std::vector<ClientError> errors =
      errors_without_a_server(options_for("ws://no-such-host.invalid/"), 10s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].kind, ClientErrorKind::resolve_failed);
  EXPECT_NE(errors[0].message.find("no-such-host.invalid"), std::string::npos);
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

}  // namespace
}  // namespace wsx
